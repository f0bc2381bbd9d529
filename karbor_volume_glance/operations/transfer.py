"""Moving backup data between a stream and a bank section, chunk by chunk.

The glue between the data path (:mod:`karbor_volume_glance.datapath`), the
chunk encoding (:mod:`karbor_volume_glance.format.chunks`) and the bank.
:func:`save_stream` cuts a stream into chunks and, ``parallelism`` at a time,
hashes, compresses and stores them; :func:`read_verified` fetches,
decompresses and checks chunks ``parallelism`` ahead and yields their plain
bytes in order. Memory stays about ``parallelism`` chunks either way (three
chunks per worker for an incremental: the new chunk, its base and the delta).

Given the parent backup's chunk records, :func:`save_stream` stores only what
changed: a chunk equal to the parent's is referenced where it lives, a chunk
that changed a little is stored as a delta against its base (read back from
the bank and verified first), anything else in full. Records naming a
``source`` are read from that backup's section (``sources``).

The section is the one the operation was given, wrapped once by
:mod:`karbor_volume_glance.bank.retrying`: the bank retries by itself, so no
call here does.
"""

import concurrent.futures
import functools

from oslo_log import log as logging

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import chunks, manifest, sealing

LOG = logging.getLogger(__name__)


class Transfer:
    """Chunk transfers between one bank section and streams, for one volume."""

    def __init__(self, section, volume_id, parallelism=1,
                 progress=None, sources=None, sealer=None):
        self.section = section
        self.volume_id = volume_id
        self.parallelism = parallelism
        self.progress = progress
        self.sources = dict(sources or {})
        #: The backup's :class:`~karbor_volume_glance.format.sealing.ChunkSealer`
        #: when it is encrypted: chunks are sealed as they are stored, opened
        #: (authenticated) as they are read, and compared by keyed hash.
        self.sealer = sealer

    def _section_of(self, source):
        return self.section if source is None else self.sources[source]

    def _report(self, done, total):
        if self.progress is not None:
            self.progress(self.volume_id, done, total)

    def save_stream(self, stream, chunk_size, algorithm, total=None,
                    previous=None, whole_hash="md5", whole_chunks=False):
        """Store ``stream`` as chunks; return (records, digest of the stream).

        ``previous`` is the parent backup's records, each with the ``source``
        it lives in, for an incremental; the chunks equal to them are only
        referenced. The digest holds the whole stream's sha256 and its
        ``whole_hash`` (Glance's algorithm), computed in the same pass.
        ``whole_chunks``: the stream's bytearray pieces of ``chunk_size``
        bytes may be stored as they are, uncopied (:func:`datapath.rechunk`'s
        ``whole``: the stream writes to a buffer again only once nothing
        else refers to it, as the parallel download does).
        """
        digest = datapath.StreamDigest(algorithm=whole_hash)
        # an encrypted backup's chunks come with the room of a seal around
        # them, to be sealed where they are (no second chunk-sized buffer)
        room = sealing.ROOM if self.sealer is not None else None
        # chunks are assembled in buffers handed back once stored (a fresh
        # 32 MiB allocation per chunk costs its page faults, and memory
        # freed and taken again), for a bank that writes a bytearray as it
        # is (Karbor's own would be given a bytes copy of each:
        # compat.write_buffer)
        buffers = (datapath.BufferPool(self.parallelism + 2)
                   if getattr(self.section, "buffer_writes", False) else None)

        def numbered():
            # the whole stream's hashes must see chunks in order: each is
            # computed by a thread of its own (sha256 and Glance's at once),
            # one chunk behind the download; a chunk is sealed over itself
            # only once they are done with it (its ``settled``)
            offset, hashing = 0, []
            updaters = digest.updaters()
            with concurrent.futures.ThreadPoolExecutor(
                    len(updaters), thread_name_prefix="kvg-digest") as hasher:
                for index, data in enumerate(
                        datapath.rechunk(stream, chunk_size, room, buffers,
                                         whole=whole_chunks)):
                    for pending in hashing:
                        pending.result()
                    hashing = [hasher.submit(update, data) for update in updaters]
                    yield index, offset, data, functools.partial(
                        _wait_all, tuple(hashing))
                    offset += len(data)
                for pending in hashing:
                    pending.result()

        store = functools.partial(self._store, algorithm, previous or ())
        records = []
        for record, data in datapath.ordered_map(store, numbered(),
                                                 self.parallelism):
            records.append(record)
            self._report(record.offset + record.length, total)
            if buffers is not None:  # taken back only if nothing holds it
                data = datapath.buffer_of(data, room)
                buffers.give_back(data)
            del data
        return records, digest

    def _store(self, algorithm, previous, item):
        index, offset, data, settled = item
        record, stored = self._encode(algorithm, previous, index, offset, data,
                                      settled)
        if stored is not None:  # written before the thread's next chunk
            compat.write_buffer(self.section, record.object, stored)
        return record, data

    def _encode(self, algorithm, previous, index, offset, data, settled=None):
        """The chunk's record and the bytes to store (None: nothing to store).
        ``settled`` returns once the whole stream's hashes are done with
        ``data`` (before :func:`chunks.encode` seals it over itself)."""
        parent = previous[index] if index < len(previous) else None
        sealer = self.sealer
        if parent is None or chunks.is_zero(data):
            return chunks.encode(index, offset, data, algorithm, sealer=sealer,
                                 settled=settled)
        sha256 = chunks.digest_of(data, sealer)
        if parent.length == len(data) and parent.sha256 == sha256:
            return parent, None  # unchanged: the parent's record, where it lives
        if parent.zero or parent.length != len(data):
            return chunks.encode(index, offset, data, algorithm, sha256, sealer,
                                 settled)
        base = parent.base_record() if parent.is_delta else parent
        delta = chunks.encode_delta(index, offset, data, sha256, base.as_base(),
                                    self._fetch(base), algorithm, sealer)
        return delta or chunks.encode(index, offset, data, algorithm, sha256,
                                      sealer, settled)

    def check_present(self, backup):
        """Raise ChunkIntegrityError for the first object the backup needs
        that is not in the bank (its own, or in a backup it references)."""
        missing = self.missing(backup)
        if missing:
            raise exceptions.ChunkIntegrityError(missing[0],
                                                 "is missing from the bank")

    def missing(self, backup):
        """The labels of every object the backup needs that is not in the
        bank, in the backup's order."""
        if backup.legacy:
            needed = [(None, name) for name in backup.stored_objects()]
        else:
            needed = [(source, record.object)
                      for source, record in backup.locations()]
        listed, found = {}, []
        for source, name in needed:
            if source not in listed:
                listed[source] = set(compat.list_all(
                    self._section_of(source), prefix=chunks.CHUNK_PREFIX))
            if name not in listed[source]:
                found.append(_label(name, source))
        return found

    def _get(self, name, source=None, max_size=None):
        """The object ``name`` (of backup ``source``), read no further than
        ``max_size`` bytes; any failure is ChunkIntegrityError naming it."""
        section = self._section_of(source)
        if max_size is None:
            return self._read(name, source, section.get_object, name)
        return self._read(name, source, compat.read_bounded, section, name,
                          max_size)

    @staticmethod
    def _read(name, source, read, *args):
        """``read(*args)``, reading the object ``name`` of backup ``source``;
        any failure is ChunkIntegrityError naming it."""
        try:
            return read(*args)
        except exceptions.ChunkIntegrityError:
            raise
        except Exception as exc:
            raise exceptions.ChunkIntegrityError(
                _label(name, source),
                f"cannot be read: {type(exc).__name__}: {exc}") from exc

    def _get_bytes(self, name):
        data = self._get(name, max_size=manifest.LEGACY_OBJECT_LIMIT)
        if not isinstance(data, bytes | bytearray):
            raise exceptions.ChunkIntegrityError(
                name, f"holds a {type(data).__name__}, not bytes")
        return data

    def _decode(self, record, base_data=None, buffers=None):
        """``record``'s verified plain bytes; errors name where it lives.
        The stored bytes are held by no name here: once opened, they go.
        An encrypted chunk in a bank that reads into buffers is read into
        the buffer it is opened in (:meth:`_read_sealed`)."""
        try:
            sealed = self._read_sealed(record, buffers)
            if sealed is not None:
                return chunks.decode_in_place(record, *sealed, base_data,
                                              self.sealer)
            return chunks.decode(
                record, self._get(record.object, record.source,
                                  record.stored_size),
                base_data, self.sealer, buffers)
        except exceptions.ChunkIntegrityError as exc:
            if record.source is None:
                raise
            raise exceptions.ChunkIntegrityError(
                _label(record.object, record.source), exc.reason) from exc

    def _read_sealed(self, record, buffers):
        """``(nonce, buffer)``: encrypted ``record``'s stored bytes read
        into a small buffer and the one they are opened in
        (:func:`chunks.open_buffer`), no further than its stored size; None
        when the backup is not encrypted or its bank cannot read into
        buffers (S3, Swift, Karbor's: then :meth:`_get` reads bytes)."""
        section = self._section_of(record.source)
        if (self.sealer is None or record.stored_size < sealing.OVERHEAD
                or not compat.reads_into(section)):
            return None
        nonce = bytearray(sealing.NONCE_BYTES)
        buffer = chunks.open_buffer(record, self.sealer, buffers)
        got = self._read(record.object, record.source, compat.read_into,
                         section, record.object, (nonce, buffer))
        chunks.check_stored_size(record, got)  # more: BankObjectTooLarge
        return nonce, buffer

    def _fetch(self, record, buffers=None):
        if record.zero:
            return chunks.decode(record, None)
        if record.is_delta:
            return self._decode(record, self._decode(record.base_record()))
        return self._decode(record, buffers=buffers)

    def read_verified(self, records):
        """Yield each chunk's plain bytes, checked, in order.

        An encrypted backup's uncompressed chunks are opened into buffers
        reused from chunk to chunk (:class:`~karbor_volume_glance.datapath.
        BufferPool`): a chunk's buffer is taken back when the consumer asks
        for the next chunk, if it kept no reference to it."""
        buffers = (datapath.BufferPool(self.parallelism + 2)
                   if self.sealer is not None else None)
        fetch = functools.partial(self._fetch, buffers=buffers)
        total = sum(record.length for record in records)
        done = 0
        for data in datapath.ordered_map(fetch, records, self.parallelism):
            done += len(data)
            self._report(done, total)
            yield data
            if buffers is not None:
                buffers.give_back(data)

    def check_each(self, records):
        """Yield ``(record, plain bytes, None)`` or ``(record, None, error)``
        for each record, in order, ``parallelism`` ahead: unlike
        :meth:`read_verified`, a damaged chunk does not stop the others."""
        def attempt(record):
            try:
                return record, self._fetch(record), None
            except Exception as exc:  # noqa: BLE001 -- each is reported
                return record, None, exc

        done = 0
        total = sum(record.length for record in records)
        for found in datapath.ordered_map(attempt, records, self.parallelism):
            done += found[0].length
            self._report(done, total)
            yield found

    def read_legacy(self, backup):
        """Yield a Karbor-layout backup's objects in order (no hashes to check)."""
        done = 0
        for data in datapath.ordered_map(self._get_bytes, backup.stored_objects(),
                                         self.parallelism):
            done += len(data)
            self._report(done, None)
            yield data

    def check_stored_sizes(self, backup):
        """Shallow verify: every object the backup needs has its recorded
        stored size; the bytes read."""
        def size_of(location):
            source, record = location
            stored = self._get(record.object, source, record.stored_size)
            try:
                return len(chunks.check_stored(record, stored))
            except exceptions.ChunkIntegrityError as exc:
                raise exceptions.ChunkIntegrityError(
                    _label(record.object, source), exc.reason) from exc

        return sum(datapath.ordered_map(size_of, backup.locations(),
                                        self.parallelism))


def _wait_all(futures):
    for future in futures:
        future.result()


def _label(name, source):
    """How errors name an object: ``data_3``, or ``data_3 of checkpoint X``."""
    return name if source is None else f"{name} of checkpoint {source}"
