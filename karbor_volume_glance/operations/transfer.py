"""Moving backup data between a stream and a bank section, chunk by chunk.

The glue between the data path (:mod:`karbor_volume_glance.datapath`) and the
bank: :func:`save_stream` stores a stream as chunk objects and returns their
records; :func:`read_verified` yields the chunks back, each checked against
its record before it is handed on. One chunk is in memory at a time.
"""

from oslo_log import log as logging

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.operations import sectionio

LOG = logging.getLogger(__name__)


def save_stream(section, stream, chunk_size, volume_id, progress=None,
                total=None):
    """Store ``stream`` in ``section`` as chunks; return (records, digest).

    ``progress(volume_id, done, total)`` is called after each chunk.
    """
    digest = datapath.StreamDigest()
    records = []
    for index, chunk in enumerate(datapath.rechunk(stream, chunk_size)):
        digest.update(chunk)
        record = datapath.record_chunk(index, chunk)
        section.update_object(record.name, chunk)
        records.append(record)
        LOG.debug("Volume %s: stored %s (%d bytes)", volume_id, record.name,
                  record.length)
        if progress is not None:
            progress(volume_id, digest.size, total)
    return records, digest


def check_present(section, records):
    """Raise ChunkIntegrityError for the first chunk missing from the section."""
    stored = set(sectionio.list_all(section, prefix="data_"))
    for record in records:
        if record.name not in stored:
            raise exceptions.ChunkIntegrityError(record.name,
                                                 "is missing from the bank")


def read_verified(section, records, progress=None, volume_id=None):
    """Yield each chunk's bytes after checking its length and sha256.

    ``progress(volume_id, done, total)`` is called as each chunk is handed on.
    """
    total = sum(record.length for record in records)
    done = 0
    for record in records:
        try:
            data = section.get_object(record.name)
        except Exception as exc:
            raise exceptions.ChunkIntegrityError(
                record.name, f"cannot be read: {type(exc).__name__}: {exc}"
            ) from exc
        yield datapath.check_chunk(record, data)
        done += record.length
        if progress is not None:
            progress(volume_id, done, total)
