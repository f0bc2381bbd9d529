"""Moving backup data between a stream and a bank section, chunk by chunk.

The glue between the data path (:mod:`karbor_volume_glance.datapath`) and the
bank. :func:`save_stream` cuts a stream into chunks and, ``parallelism`` at a
time, hashes, compresses and stores them; :func:`read_verified` fetches,
decompresses and checks chunks ``parallelism`` ahead and yields their plain
bytes in order. Memory stays about ``parallelism`` chunks either way.

Every bank call goes through ``bank_call(func, *args, what=…)``, which the
operations give a retry policy; the default calls straight through.
"""

import concurrent.futures
import functools

from oslo_log import log as logging

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.operations import sectionio

LOG = logging.getLogger(__name__)


def direct_call(func, *args, what=None):
    """A bank call without retries."""
    return func(*args)


class Transfer:
    """Chunk transfers between one bank section and streams, for one volume."""

    def __init__(self, section, volume_id, parallelism=1, bank_call=direct_call,
                 progress=None):
        self.section = section
        self.volume_id = volume_id
        self.parallelism = parallelism
        self.bank_call = bank_call
        self.progress = progress

    def _report(self, done, total):
        if self.progress is not None:
            self.progress(self.volume_id, done, total)

    def save_stream(self, stream, chunk_size, algorithm, total=None):
        """Store ``stream`` as chunks; return (records, digest of the stream)."""
        digest = datapath.StreamDigest()

        def chunks():
            # the whole stream's hashes must see chunks in order, so one
            # thread computes them, one chunk behind the download
            offset, hashing = 0, None
            with concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="kvg-digest") as hasher:
                for index, data in enumerate(datapath.rechunk(stream, chunk_size)):
                    if hashing is not None:
                        hashing.result()
                    hashing = hasher.submit(digest.update, data)
                    yield index, offset, data
                    offset += len(data)
                if hashing is not None:
                    hashing.result()

        store = functools.partial(self._store, algorithm)
        records = []
        for record in datapath.ordered_map(store, chunks(), self.parallelism):
            records.append(record)
            self._report(record.offset + record.length, total)
        return records, digest

    def _store(self, algorithm, item):
        index, offset, data = item
        record, stored = datapath.encode(index, offset, data, algorithm)
        if stored is not None:
            self.bank_call(self.section.update_object, record.object, stored,
                           what=f"writing {record.object} of volume {self.volume_id}")
        return record

    def check_present(self, backup):
        """Raise ChunkIntegrityError for the first stored object not in the bank."""
        listed = set(sectionio.list_all(self.section, prefix="data_"))
        for name in backup.stored_objects():
            if name not in listed:
                raise exceptions.ChunkIntegrityError(name, "is missing from the bank")

    def _get(self, name):
        try:
            return self.bank_call(self.section.get_object, name,
                                  what=f"reading {name} of volume {self.volume_id}")
        except exceptions.ChunkIntegrityError:
            raise
        except Exception as exc:
            raise exceptions.ChunkIntegrityError(
                name, f"cannot be read: {type(exc).__name__}: {exc}") from exc

    def _get_bytes(self, name):
        data = self._get(name)
        if not isinstance(data, bytes | bytearray):
            raise exceptions.ChunkIntegrityError(
                name, f"holds a {type(data).__name__}, not bytes")
        return data

    def _fetch(self, record):
        stored = None if record.zero else self._get(record.object)
        return datapath.decode(record, stored)

    def read_verified(self, records):
        """Yield each chunk's plain bytes, checked, in order."""
        total = sum(record.length for record in records)
        done = 0
        for data in datapath.ordered_map(self._fetch, records, self.parallelism):
            done += len(data)
            self._report(done, total)
            yield data

    def read_legacy(self, backup):
        """Yield a Karbor-layout backup's objects in order (no hashes to check)."""
        done = 0
        for data in datapath.ordered_map(self._get_bytes, backup.stored_objects(),
                                         self.parallelism):
            done += len(data)
            self._report(done, None)
            yield data

    def check_stored_sizes(self, backup):
        """Shallow verify: every stored object has its recorded stored size."""
        def size_of(record):
            return len(datapath.check_stored(record, self._get(record.object)))

        stored = [record for record in backup.chunks if not record.zero]
        return sum(datapath.ordered_map(size_of, stored, self.parallelism))
