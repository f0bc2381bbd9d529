"""Chunk encoding: one chunk's record in the manifest, and its stored bytes.

:func:`encode` turns a chunk's plain bytes into a :class:`ChunkRecord` and
the bytes to store (``None`` for an all-zero chunk, which is recorded and not
stored); :func:`decode` turns stored bytes back into the plain ones and
checks them against the record (length, then sha256) before anything uses
them. Every error names the chunk.

An incremental backup's chunk may live elsewhere: ``source`` names the backup
whose object holds it (an opaque label here; the operations map it to a bank
section), and a *delta* chunk stores only the 4 KiB blocks that differ from
a *base*, a full chunk at the same position in another backup
(:func:`encode_delta`, :mod:`.delta`). A base is always a full chunk, so a
chunk is rebuilt from at most two objects however long the chain. How the
stored bytes are compressed is :mod:`.compression`.
"""

import dataclasses
import functools
import hashlib

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.format import compression, delta, sealing

#: A delta is stored only when it is at most this fraction of its chunk;
#: beyond it the chunk is stored full and becomes the base of later deltas.
DELTA_LIMIT = 0.5
#: Every chunk object's key starts with it, and no other key of a section does.
CHUNK_PREFIX = "data_"


def chunk_name(index):
    """The bank key of chunk ``index`` (0-based): Karbor's ``data_1`` … ``data_N``."""
    return f"{CHUNK_PREFIX}{index + 1}"


@dataclasses.dataclass(frozen=True)
class BaseRef:
    """The full chunk a delta chunk applies to: same index, in ``source``."""

    source: str
    sha256: str
    stored_size: int
    compression: str

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ChunkRecord:
    """What the manifest says of one chunk.

    A zero chunk has ``zero=True`` and no stored object; any other chunk is
    in ``object`` (``stored_size`` bytes, compressed with ``compression``),
    in this backup's section or, with ``source``, in that backup's. With
    ``base`` the object is a delta of ``delta_size`` plain bytes against the
    base chunk. ``sha256`` is always of the chunk's plain bytes.
    """

    index: int
    offset: int
    length: int
    sha256: str
    zero: bool = False
    object: str | None = None
    stored_size: int = 0
    compression: str = compression.NONE
    source: str | None = None
    base: BaseRef | None = None
    delta_size: int = 0

    @property
    def name(self):
        return chunk_name(self.index)

    @property
    def is_delta(self):
        return self.base is not None

    def to_dict(self):
        common = {"index": self.index, "offset": self.offset,
                  "length": self.length, "sha256": self.sha256}
        if self.zero:
            return {**common, "zero": True}
        stored = {**common, "object": self.object, "stored_size": self.stored_size,
                  "compression": self.compression}
        if self.source is not None:
            stored["source"] = self.source
        if self.base is not None:
            stored.update(delta_size=self.delta_size, base=self.base.to_dict())
        return stored

    def referenced_from(self, source):
        """This record as another backup refers to it: where it really lives.

        ``source`` is the label of the backup this record came from; a
        record already pointing elsewhere keeps its source.
        """
        if self.zero or self.source is not None:
            return self
        return dataclasses.replace(self, source=source)

    def base_record(self):
        """The full chunk this delta applies to, as a record of its own."""
        return ChunkRecord(self.index, self.offset, self.length,
                           self.base.sha256, object=self.object,
                           stored_size=self.base.stored_size,
                           compression=self.base.compression,
                           source=self.base.source)

    def as_base(self):
        """The BaseRef of this full, stored, referenced record."""
        return BaseRef(self.source, self.sha256, self.stored_size,
                       self.compression)


@functools.lru_cache(maxsize=8)
def _zero_sha256(length):
    return hashlib.sha256(bytes(length)).hexdigest()


@functools.lru_cache(maxsize=2)
def _zeros(length):
    """``length`` zero bytes, made once per length (a chunk's, the last
    chunk's): a fresh 32 MiB of zeros per chunk costs more (the allocation
    and its page faults) than the comparison. Never written, so its pages
    stay the kernel's shared zero page: no resident memory."""
    return bytes(length)


def is_zero(data):
    """Whether ``data`` is all zeros: a memcmp, several times cheaper than sha256
    and over at the first non-zero byte (a memoryview's ``==`` compares item
    by item: ``startswith`` of as many zeros is one memcmp too)."""
    if isinstance(data, memoryview):
        return _zeros(data.nbytes).startswith(data)
    return data == _zeros(len(data))


def zero_record(index, offset, length):
    return ChunkRecord(index, offset, length, _zero_sha256(length), zero=True)


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def encode(index, offset, data, algorithm, sha256=None, sealer=None,
           settled=None):
    """``(record, stored bytes or None)`` of chunk ``index`` holding ``data``.

    ``sha256`` is the data's identity hash, when the caller has already
    computed it. With a ``sealer`` (:class:`.sealing.ChunkSealer`, an
    encrypted backup) the identity is its keyed hash and the stored bytes
    are sealed: where ``data`` is stored uncompressed and has the room of
    a seal around it (:data:`.sealing.ROOM`), it is sealed in place,
    over itself, once ``settled`` (a callable, when others read ``data``
    too) has returned: every other reader is done with it then.
    """
    if is_zero(data):
        return zero_record(index, offset, len(data)), None
    sha256 = sha256 or digest_of(data, sealer)
    used, stored = compression.compress(data, algorithm)
    record = ChunkRecord(index, offset, len(data), sha256, object=chunk_name(index),
                         stored_size=len(stored) + _overhead(sealer),
                         compression=used)
    if sealer is not None and stored is data and datapath.room_of(
            data, *sealing.ROOM):
        if settled is not None:
            settled()
        return record, sealer.seal_in_place(record, data)
    return record, _sealed(sealer, record, stored)


def encode_delta(index, offset, data, sha256, base, base_data, algorithm,
                 sealer=None):
    """``(record, stored bytes)`` of ``data`` as a delta against ``base``.

    ``base`` is a BaseRef and ``base_data`` its verified plain bytes, of the
    same length as ``data``. Returns None when the changed blocks exceed
    DELTA_LIMIT of the chunk: then the chunk is better stored full.
    """
    blocks = delta.changed_blocks(base_data, data)
    size = delta.size_of(len(data), blocks)
    if size > len(data) * DELTA_LIMIT:
        return None
    used, stored = compression.compress(delta.encode(data, blocks), algorithm)
    record = ChunkRecord(index, offset, len(data), sha256, object=chunk_name(index),
                         stored_size=len(stored) + _overhead(sealer),
                         compression=used, base=base, delta_size=size)
    return record, _sealed(sealer, record, stored)


def _overhead(sealer):
    return 0 if sealer is None else sealer.overhead


def _sealed(sealer, record, stored):
    return stored if sealer is None else sealer.seal(record, stored)


def digest_of(data, sealer=None):
    """A chunk's identity hash: sha256, or the sealer's keyed hash."""
    return sha256_of(data) if sealer is None else sealer.digest(data)


def decode(record, stored, base_data=None, sealer=None, buffers=None):
    """The verified plain bytes of ``record`` from its stored bytes.

    ``stored`` is ignored for a zero chunk (it has none). A delta record
    needs ``base_data``, its base chunk's verified plain bytes. With a
    ``sealer`` the stored bytes are opened (authenticated) after their size
    is checked and before they are decompressed: a payload still to
    decompress or apply is opened into the sealer's per-thread scratch
    buffer, an uncompressed full chunk into a buffer of ``buffers`` (a
    :class:`~karbor_volume_glance.datapath.BufferPool`), which is what this
    returns then, else into new bytes.
    """
    if record.zero:
        return bytes(record.length)
    payload = check_stored(record, stored)
    if sealer is not None:
        if record.is_delta or record.compression != compression.NONE:
            into = sealing.SCRATCH
        elif buffers is not None:
            into = buffers.take(len(payload) - sealer.overhead)
        else:
            into = None
        del stored  # the caller's reference is all that keeps it
        payload = sealer.open(record, payload, into)
    return _plain(record, payload, base_data, sealer)


def open_buffer(record, sealer, buffers=None):
    """The bytearray a bank reads ``record``'s sealed bytes after the nonce
    into (``stored_size - NONCE_BYTES``), for :func:`decode_in_place`: the
    sealer's per-thread scratch buffer for a payload still to decompress or
    apply, else (an uncompressed full chunk, which it will be) a buffer of
    ``buffers`` (a :class:`~karbor_volume_glance.datapath.BufferPool`), or
    a new one."""
    size = record.stored_size - sealing.NONCE_BYTES
    if record.is_delta or record.compression != compression.NONE:
        return sealer.scratch(size)
    return bytearray(size) if buffers is None else buffers.take(size)


def decode_in_place(record, nonce, buffer, base_data=None, sealer=None):
    """The verified plain bytes of encrypted ``record`` whose stored bytes a
    bank read into ``nonce`` and ``buffer`` (:func:`open_buffer`), opened
    over themselves (:meth:`.sealing.ChunkSealer.open_in_place`), then
    decompressed or applied and checked as :func:`decode` does. An
    uncompressed full chunk is ``buffer`` itself."""
    check_stored_size(record, len(nonce) + len(buffer))
    payload = sealer.open_in_place(record, nonce, buffer)
    return _plain(record, payload, base_data, sealer)


def _plain(record, payload, base_data, sealer):
    """The checked plain bytes of ``record`` from its opened ``payload``."""
    if record.is_delta:
        patch = compression.decompress(record.name, record.compression,
                                       payload, record.delta_size)
        data = delta.apply(record.name, base_data, patch, record.length)
    else:
        data = compression.decompress(record.name, record.compression,
                                      payload, record.length)
    return check(record, data, sealer)


def check_stored(record, stored):
    """Raise ChunkIntegrityError unless ``stored`` is bytes of the stored size."""
    if not isinstance(stored, bytes | bytearray | memoryview):
        raise exceptions.ChunkIntegrityError(
            record.name, f"holds a {type(stored).__name__}, not bytes")
    check_stored_size(record, len(stored))
    return stored


def check_stored_size(record, size):
    """Raise ChunkIntegrityError unless ``size`` (bytes read from the bank)
    is ``record``'s stored size."""
    if size != record.stored_size:
        raise exceptions.ChunkIntegrityError(
            record.name,
            f"is {size} bytes in the bank, the manifest says "
            f"{record.stored_size}")


def check(record, data, sealer=None):
    """Raise ChunkIntegrityError unless ``data`` is what ``record`` describes
    (its identity hash: sha256, or the ``sealer``'s keyed hash)."""
    if len(data) != record.length:
        raise exceptions.ChunkIntegrityError(
            record.name, f"is {len(data)} bytes, the manifest says {record.length}")
    digest = digest_of(data, sealer)
    if digest != record.sha256:
        what = "sha256" if sealer is None else "keyed hash"
        raise exceptions.ChunkIntegrityError(
            record.name,
            f"{what} {digest} does not match the recorded {record.sha256}")
    return data
