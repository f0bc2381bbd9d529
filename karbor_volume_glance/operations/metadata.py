"""The backup's ``metadata`` object: what protect writes and restore trusts.

It keeps the keys of Karbor's own volume-glance layout (``volume_id``,
``volume_size``, ``chunks_num``, ``image_metadata``) so Karbor-aware tools
recognise the backup, and adds what integrity needs: the image's size and
sha256, and per chunk its name, length and sha256. :func:`parse` checks all of
it before a restore creates anything, so a damaged or contradictory record
fails with a message naming the field or the chunk.
"""

import dataclasses
import re

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.operations import bookkeeping, sectionio

FORMAT_VERSION = 1
METADATA_KEY = "metadata"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class BackupMetadata:
    volume_id: str
    volume_size: int
    image_size: int
    chunk_size: int
    sha256: str
    image_metadata: dict
    chunks: tuple
    backup_name: str = ""
    description: str = ""

    @property
    def disk_format(self):
        return self.image_metadata.get("disk_format") or "raw"

    @property
    def container_format(self):
        return self.image_metadata.get("container_format") or "bare"

    @property
    def md5(self):
        return self.image_metadata.get("checksum")


def build(volume, params, chunk_size, records, digest, image_info, extra=None):
    """The metadata dict of a finished protect."""
    image_metadata = {
        "checksum": digest.md5,
        "disk_format": image_info.get("disk_format") or "raw",
        "container_format": image_info.get("container_format") or "bare",
        "size": digest.size,
    }
    metadata = {
        "format_version": FORMAT_VERSION,
        "volume_id": volume.id,
        "volume_size": volume.size,
        "chunks_num": len(records),
        "image_metadata": image_metadata,
        "image_size": digest.size,
        "chunk_size": chunk_size,
        "sha256": digest.sha256,
        "chunks": [record.to_dict() for record in records],
        "backup_name": params.get("backup_name", ""),
        "description": params.get("description", ""),
    }
    metadata.update(extra or {})
    return metadata


def _require(condition, volume_id, reason):
    if not condition:
        raise exceptions.InvalidBackupMetadata(volume_id, reason)


def _integer(raw, field, volume_id, minimum=0):
    value = raw.get(field)
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        volume_id,
        f"{field} must be an integer >= {minimum}, got {value!r}",
    )
    return value


def _parse_chunk(raw, index, chunk_size, volume_id):
    """One chunk record, checked against its position in the list."""
    label = f"data_{index + 1}"
    if not isinstance(raw, dict):
        raise exceptions.ChunkIntegrityError(label, "its record is not an object")
    name = raw.get("name")
    if name != datapath.chunk_name(index) or raw.get("index") != index:
        raise exceptions.ChunkIntegrityError(
            label,
            f"record out of place: index {raw.get('index')!r}, name {name!r} "
            f"at position {index}",
        )
    length = raw.get("length")
    if not (isinstance(length, int) and not isinstance(length, bool)
            and 0 < length <= chunk_size):
        raise exceptions.ChunkIntegrityError(
            name, f"length {length!r} is not in 1..{chunk_size}"
        )
    sha256 = raw.get("sha256")
    if not (isinstance(sha256, str) and _SHA256.match(sha256)):
        raise exceptions.ChunkIntegrityError(name, f"sha256 {sha256!r} is malformed")
    return datapath.ChunkRecord(index=index, name=name, length=length, sha256=sha256)


def parse(raw, volume_id):
    """Check a metadata dict read from the bank; return BackupMetadata."""
    _require(raw is not None, volume_id, "there is no metadata object")
    _require(isinstance(raw, dict), volume_id,
             f"expected an object, got {type(raw).__name__}")
    if "chunks" not in raw:
        raise exceptions.InvalidBackupMetadata(
            volume_id,
            "no per-chunk records (a backup written by Karbor's own "
            "volume-glance plugin?); this version cannot verify it",
        )
    version = raw.get("format_version")
    _require(version == FORMAT_VERSION, volume_id,
             f"format_version {version!r} is not supported (expected "
             f"{FORMAT_VERSION})")
    volume_size = _integer(raw, "volume_size", volume_id, minimum=1)
    image_size = _integer(raw, "image_size", volume_id)
    chunk_size = _integer(raw, "chunk_size", volume_id, minimum=1)
    chunks_num = _integer(raw, "chunks_num", volume_id)
    image_metadata = raw.get("image_metadata")
    _require(isinstance(image_metadata, dict), volume_id,
             "image_metadata must be an object")
    sha256 = raw.get("sha256")
    _require(isinstance(sha256, str) and bool(_SHA256.match(sha256)), volume_id,
             f"sha256 {sha256!r} is malformed")
    raw_chunks = raw.get("chunks")
    _require(isinstance(raw_chunks, list), volume_id, "chunks must be a list")
    _require(len(raw_chunks) == chunks_num, volume_id,
             f"chunks_num is {chunks_num} but {len(raw_chunks)} chunks are listed")
    expected_chunks = -(-image_size // chunk_size)
    _require(chunks_num == expected_chunks, volume_id,
             f"{chunks_num} chunks cannot hold {image_size} bytes in chunks of "
             f"{chunk_size} (expected {expected_chunks})")
    chunks = tuple(
        _parse_chunk(item, index, chunk_size, volume_id)
        for index, item in enumerate(raw_chunks)
    )
    for record in chunks[:-1]:
        if record.length != chunk_size:
            raise exceptions.ChunkIntegrityError(
                record.name,
                f"is {record.length} bytes but only the last chunk may be "
                f"shorter than {chunk_size}",
            )
    _require(sum(c.length for c in chunks) == image_size, volume_id,
             f"chunk lengths add up to {sum(c.length for c in chunks)}, "
             f"not image_size {image_size}")
    return BackupMetadata(
        volume_id=raw.get("volume_id", volume_id),
        volume_size=volume_size,
        image_size=image_size,
        chunk_size=chunk_size,
        sha256=sha256,
        image_metadata=image_metadata,
        chunks=chunks,
        backup_name=raw.get("backup_name", ""),
        description=raw.get("description", ""),
    )


def load_available(section, volume_id):
    """The checked metadata of an ``available`` backup, or an error saying why."""
    status = bookkeeping.SectionStatus(section, volume_id).get()
    if status != bookkeeping.AVAILABLE:
        raise exceptions.BackupNotAvailable(volume_id, status)
    return parse(sectionio.read_optional(section, METADATA_KEY), volume_id)
