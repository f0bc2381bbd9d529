"""One chunk of an image: its record in the manifest, and how it is stored.

:func:`encode` turns a chunk's plain bytes into a :class:`ChunkRecord` and
the bytes to store (``None`` for an all-zero chunk, which is recorded and not
stored); :func:`decode` turns stored bytes back into the plain ones and
checks them against the record (length, then sha256) before anything uses
them. Every error names the chunk.
"""

import dataclasses
import functools
import hashlib

from karbor_volume_glance import exceptions
from karbor_volume_glance.datapath import compression


def chunk_name(index):
    """The bank key of chunk ``index`` (0-based): Karbor's ``data_1`` … ``data_N``."""
    return f"data_{index + 1}"


@dataclasses.dataclass(frozen=True)
class ChunkRecord:
    """What the manifest says of one chunk.

    A zero chunk has ``zero=True`` and no stored object; any other chunk is
    in ``object`` (``stored_size`` bytes, compressed with ``compression``).
    ``sha256`` is always of the plain bytes.
    """

    index: int
    offset: int
    length: int
    sha256: str
    zero: bool = False
    object: str | None = None
    stored_size: int = 0
    compression: str = compression.NONE

    @property
    def name(self):
        return chunk_name(self.index)

    def to_dict(self):
        common = {"index": self.index, "offset": self.offset,
                  "length": self.length, "sha256": self.sha256}
        if self.zero:
            return {**common, "zero": True}
        return {**common, "object": self.object, "stored_size": self.stored_size,
                "compression": self.compression}


@functools.lru_cache(maxsize=8)
def _zero_sha256(length):
    return hashlib.sha256(bytes(length)).hexdigest()


def is_zero(data):
    """Whether ``data`` is all zeros: a memcmp, several times cheaper than sha256
    and over at the first non-zero byte."""
    return data == bytes(len(data))


def encode(index, offset, data, algorithm):
    """``(record, stored bytes or None)`` of chunk ``index`` holding ``data``."""
    if is_zero(data):
        record = ChunkRecord(index, offset, len(data), _zero_sha256(len(data)),
                             zero=True)
        return record, None
    sha256 = hashlib.sha256(data).hexdigest()
    used, stored = compression.compress(data, algorithm)
    record = ChunkRecord(index, offset, len(data), sha256, object=chunk_name(index),
                         stored_size=len(stored), compression=used)
    return record, stored


def decode(record, stored):
    """The verified plain bytes of ``record`` from its stored bytes.

    ``stored`` is ignored for a zero chunk (it has none).
    """
    if record.zero:
        return bytes(record.length)
    data = compression.decompress(record.name, record.compression,
                                  check_stored(record, stored), record.length)
    return check(record, data)


def check_stored(record, stored):
    """Raise ChunkIntegrityError unless ``stored`` is bytes of the stored size."""
    if not isinstance(stored, bytes | bytearray | memoryview):
        raise exceptions.ChunkIntegrityError(
            record.name, f"holds a {type(stored).__name__}, not bytes")
    if len(stored) != record.stored_size:
        raise exceptions.ChunkIntegrityError(
            record.name,
            f"is {len(stored)} bytes in the bank, the manifest says "
            f"{record.stored_size}")
    return stored


def check(record, data):
    """Raise ChunkIntegrityError unless ``data`` is what ``record`` describes."""
    if len(data) != record.length:
        raise exceptions.ChunkIntegrityError(
            record.name, f"is {len(data)} bytes, the manifest says {record.length}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.sha256:
        raise exceptions.ChunkIntegrityError(
            record.name,
            f"sha256 {digest} does not match the recorded {record.sha256}")
    return data
