"""The backup's manifest (the ``metadata`` object): what protect writes
(:func:`build`), and the only way a reader gets at it (:func:`parse`, which
checks all of it; restore and verify trust nothing it has not checked).

Format 3 is documented in ``doc/backup-format.rst``. It keeps the keys of
Karbor's own volume-glance layout (``volume_id``, ``volume_size``,
``chunks_num``, ``image_metadata``) so Karbor-aware tools recognise the
backup. :func:`parse` also reads format 2 (no incrementals), format 1 (this
project's first, every chunk stored plain) and Karbor's layout (no per-chunk
records: format 0). Anything that contradicts itself fails before a restore
creates a resource, with a message naming the field or the chunk. A chunk
stored in another backup names it in ``source``; ``sources`` maps each such
backup (its checkpoint id) to its section, and nothing else can be
referenced. ``volume_attributes`` (optional: older manifests lack it) holds
what a restore needs to make the volume again besides its bytes (its type,
zone, bootable flag, image metadata, metadata ...): :data:`ATTRIBUTE_TYPES`.

Whatever the bank holds, :func:`parse` fails only with InvalidBackupMetadata
(naming the field) or ChunkIntegrityError (naming the chunk), and what it
returns bounds every reader: ``chunk_size`` is at most
:data:`MAX_CHUNK_SIZE`, each chunk's ``length`` at most ``chunk_size`` and
a delta's ``delta_size`` at most what a delta of that chunk can be, so the
decompression bounds (:mod:`.compression`) hold the memory a reader takes.
"""

import dataclasses
import re

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import compression, delta, sealing
from karbor_volume_glance.format.chunks import BaseRef, ChunkRecord, chunk_name
from karbor_volume_glance.format.index import SECTION_PATTERN

FORMAT_VERSION = 3
#: An encrypted backup's format: format 3's manifest sealed whole
#: (:mod:`.sealing`), chunk identities keyed, every stored object sealed.
ENCRYPTED_VERSION = 4
#: The versions of plain backups (every object and the manifest in the clear).
PLAIN_VERSIONS = (1, 2, FORMAT_VERSION)
READABLE_VERSIONS = (*PLAIN_VERSIONS, ENCRYPTED_VERSION)
GiB = 1024 ** 3
METADATA_KEY = "metadata"
HASH_ALGORITHM = "sha256"
#: The largest chunk_size a manifest may hold: a reader holds up to
#: ``parallelism`` chunks at once, so a bank cannot make it take more.
MAX_CHUNK_SIZE = 1024 ** 3
#: The largest object of Karbor's own layout (``data_1`` … ``data_N``, one
#: per piece glanceclient yielded: 64 KiB in Karbor's time, 1 MiB with
#: glanceclient 4) that a restore reads; a larger one is damaged, not read.
LEGACY_OBJECT_LIMIT = 16 * 1024 ** 2

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STORED_KEYS = {"index", "offset", "length", "sha256", "object", "stored_size",
                "compression"}
_REFERENCE_KEYS = {"source", "base", "delta_size"}
_BASE_KEYS = {"source", "sha256", "stored_size", "compression"}
_ZERO_KEYS = {"index", "offset", "length", "sha256", "zero"}
#: The fields of ``volume_attributes`` and their JSON types (each optional;
#: null where the cloud did not say).
ATTRIBUTE_TYPES = {
    "size": int, "volume_type": str, "bootable": bool,
    "volume_image_metadata": dict, "metadata": dict, "description": str,
    "availability_zone": str, "multiattach": bool, "encrypted": bool,
}


@dataclasses.dataclass(frozen=True)
class BackupMetadata:
    """A checked manifest. ``chunks`` is None for a Karbor-layout backup."""

    volume_id: str
    volume_size: int
    image_metadata: dict
    chunks_num: int
    chunks: tuple | None
    image_size: int | None = None
    chunk_size: int | None = None
    sha256: str | None = None
    format_version: int = FORMAT_VERSION
    backup_name: str = ""
    description: str = ""
    sources: dict = dataclasses.field(default_factory=dict)
    data_timestamp: str | None = None
    snapshot_id: str | None = None
    parent_checkpoint_id: str | None = None
    #: The volume's attributes (:data:`ATTRIBUTE_TYPES`); None when the
    #: manifest predates them (a restore then makes the volume as before).
    volume_attributes: dict | None = None
    #: An encrypted backup's manifest as opened from its seal (a dict, for
    #: what the notifications and ``show`` say of the backup); None else.
    opened: dict | None = dataclasses.field(default=None, compare=False,
                                            repr=False)

    @property
    def disk_format(self):
        return self.image_metadata.get("disk_format") or "raw"

    @property
    def container_format(self):
        return self.image_metadata.get("container_format") or "bare"

    @property
    def md5(self):
        return self.image_metadata.get("checksum")

    @property
    def encrypted(self):
        """Written with the bank's master key (format 4)."""
        return self.format_version == ENCRYPTED_VERSION

    @property
    def legacy(self):
        """Written by Karbor's own plugin: raw objects, no per-chunk hashes."""
        return self.chunks is None

    def stored_objects(self):
        """The keys, in this backup's own section, of the objects it stored."""
        if self.legacy:
            return [chunk_name(i) for i in range(self.chunks_num)]
        return [record.object for record in self.chunks
                if not record.zero and record.source is None]

    def locations(self):
        """Every object the backup's data needs: see :func:`locations`."""
        return [] if self.legacy else locations(self.chunks)

    def references(self):
        """What the backup uses in other backups: see :func:`references`."""
        return {} if self.legacy else references(self.chunks)

    def referenced_from(self, checkpoint_id):
        """The records as a backup built on this one (in checkpoint
        ``checkpoint_id``) copies them: each pointing where it lives."""
        return tuple(record.referenced_from(checkpoint_id)
                     for record in self.chunks)

    def data_uses(self, checkpoint_id):
        """``{checkpoint id: sorted chunk indices}`` of every object this
        backup's data lives in, its own (under ``checkpoint_id``) included."""
        uses = {source: set(indices)
                for source, indices in self.references().items()}
        uses.setdefault(checkpoint_id, set()).update(
            record.index for record in self.chunks
            if not record.zero and record.source is None)
        return {source: sorted(indices) for source, indices in uses.items()}


def locations(records):
    """Every object ``records`` need, their own and others' (deltas' bases
    too): ``(source or None, record)`` pairs, each object once."""
    found = {}
    for record in records:
        if record.zero:
            continue
        found.setdefault((record.source, record.object), record)
        if record.is_delta:
            base = record.base_record()
            found.setdefault((base.source, base.object), base)
    return [(source, record) for (source, _), record in found.items()]


def references(records):
    """``{checkpoint id: sorted chunk indices}`` of the objects ``records`` use
    in other backups' sections (an index entry's ``uses``)."""
    used = {}
    for source, record in locations(records):
        if source is not None:
            used.setdefault(source, set()).add(record.index)
    return {source: sorted(indices) for source, indices in used.items()}


def build(volume, params, chunk_size, algorithm, records, digest, image_info,
          extra=None, sources=None, encrypted=False):
    """The manifest of a finished protect.

    ``sources`` maps the checkpoint ids that records name in ``source`` (or
    in a delta's base) to those backups' sections. An ``encrypted`` backup's
    manifest is format 4 (its chunk records hold keyed hashes), to be stored
    sealed (:func:`seal`).
    """
    metadata = {
        "format_version": ENCRYPTED_VERSION if encrypted else FORMAT_VERSION,
        "volume_id": volume.id,
        "volume_size": volume.size,
        "chunks_num": len(records),
        "image_metadata": {
            # md5: ours, or Glance's where its os_hash checked the bytes
            "checksum": digest.md5 or image_info.get("checksum"),
            "disk_format": image_info.get("disk_format") or "raw",
            "container_format": image_info.get("container_format") or "bare",
            "size": digest.size,
            **_os_hash(digest),
        },
        "image_size": digest.size,
        "chunk_size": chunk_size,
        "compression": algorithm,
        "hash_algorithm": (sealing.HASH_ALGORITHM if encrypted
                           else HASH_ALGORITHM),
        "sha256": digest.sha256,
        "chunks": [record.to_dict() for record in records],
        "sources": dict(sources or {}),
        "backup_name": params.get("backup_name", ""),
        "description": params.get("description", ""),
    }
    metadata.update(extra or {})
    return metadata


def seal(metadata, keys, checkpoint_id):
    """What the bank stores of a manifest: ``metadata`` itself for a plain
    backup (``keys`` None), else its sealed form (:mod:`.sealing`)."""
    if keys is None:
        return metadata
    return keys.seal_manifest(checkpoint_id, metadata, ENCRYPTED_VERSION)


def _os_hash(digest):
    """Glance's os_hash of the data, as we computed it (none if we used md5)."""
    if digest.algorithm in (None, "md5"):
        return {}
    return {"os_hash_algo": digest.algorithm, "os_hash_value": digest.value}


def _require(condition, volume_id, reason):
    if not condition:
        raise exceptions.InvalidBackupMetadata(volume_id, reason)


def _is_int(value, minimum=0, maximum=None):
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= minimum and (maximum is None or value <= maximum))


def _integer(raw, field, volume_id, minimum=0):
    value = raw.get(field)
    _require(_is_int(value, minimum), volume_id,
             f"{field} must be an integer >= {minimum}, got {value!r}")
    return value


def _chunk_fault(name, condition, reason):
    if not condition:
        raise exceptions.ChunkIntegrityError(name, reason)


def _overhead(version):
    """What sealing adds to each stored object of a backup of ``version``."""
    return sealing.OVERHEAD if version == ENCRYPTED_VERSION else 0


def _parse_base(name, raw, length, sources, version=FORMAT_VERSION):
    """The base of a delta chunk: a full chunk in one of ``sources``."""
    _chunk_fault(name, isinstance(raw, dict), "its base is not an object")
    unknown = sorted(set(raw) - _BASE_KEYS)
    _chunk_fault(name, not unknown, f"base has unknown fields {unknown}")
    _chunk_fault(name, isinstance(raw.get("source"), str)
                 and raw["source"] in sources,
                 f"base source {raw.get('source')!r} is not in sources")
    sha256, algorithm, stored = (raw.get("sha256"), raw.get("compression"),
                                 raw.get("stored_size"))
    _chunk_fault(name, isinstance(sha256, str) and bool(_SHA256.match(sha256)),
                 f"base sha256 {sha256!r} is malformed")
    _chunk_fault(name, algorithm in compression.ALGORITHMS,
                 f"base compression {algorithm!r} is not one of "
                 f"{', '.join(compression.ALGORITHMS)}")
    extra = _overhead(version)
    _chunk_fault(name, _is_int(stored, 1 + extra)
                 and (algorithm != compression.NONE or stored == length + extra),
                 f"base stored_size {stored!r} does not fit length {length} "
                 f"({algorithm})")
    return BaseRef(raw["source"], sha256, stored, algorithm)


def _parse_chunk(raw, index, chunk_size, version, sources=None):
    """One chunk record, checked against its position in the list."""
    name = chunk_name(index)
    _chunk_fault(name, isinstance(raw, dict), "its record is not an object")
    if version == 1:  # every chunk stored plain, under 'name'
        raw = {"index": raw.get("index"), "offset": index * chunk_size,
               "length": raw.get("length"), "sha256": raw.get("sha256"),
               "object": raw.get("name"), "stored_size": raw.get("length"),
               "compression": compression.NONE}
    zero = raw.get("zero", False)
    allowed = (_ZERO_KEYS if zero is True else
               _STORED_KEYS | _REFERENCE_KEYS if version >= 3 else _STORED_KEYS)
    unknown = sorted(set(raw) - allowed)
    _chunk_fault(name, not unknown, f"record has unknown fields {unknown}")
    _chunk_fault(name, _is_int(raw.get("index")) and raw["index"] == index,
                 f"record out of place: index {raw.get('index')!r} at {index}")
    _chunk_fault(name, _is_int(raw.get("offset"))
                 and raw["offset"] == index * chunk_size,
                 f"offset {raw.get('offset')!r} is not {index * chunk_size}")
    length = raw.get("length")
    _chunk_fault(name, _is_int(length, 1, chunk_size),
                 f"length {length!r} is not in 1..{chunk_size}")
    sha256 = raw.get("sha256")
    _chunk_fault(name, isinstance(sha256, str) and bool(_SHA256.match(sha256)),
                 f"sha256 {sha256!r} is malformed")
    if zero is True:
        return ChunkRecord(index, raw["offset"], length, sha256, zero=True)
    _chunk_fault(name, raw.get("object") == name,
                 f"object {raw.get('object')!r} is not {name!r}")
    algorithm, stored = raw.get("compression"), raw.get("stored_size")
    _chunk_fault(name, algorithm in compression.ALGORITHMS,
                 f"compression {algorithm!r} is not one of "
                 f"{', '.join(compression.ALGORITHMS)}")
    extra = _overhead(version)
    _chunk_fault(name, _is_int(stored, 1 + extra),
                 f"stored_size {stored!r} is not an integer >= {1 + extra}")
    source, base, delta_size = raw.get("source"), None, 0
    _chunk_fault(name, source is None
                 or (isinstance(source, str) and source in (sources or {})),
                 f"source {source!r} is not in sources")
    if "base" in raw:
        base = _parse_base(name, raw["base"], length, sources or {}, version)
        delta_size = raw.get("delta_size")
        largest = delta.max_size(length)
        _chunk_fault(name, _is_int(delta_size, 1, largest),
                     f"delta_size {delta_size!r} is not in 1..{largest}")
        _chunk_fault(name, algorithm != compression.NONE
                     or stored == delta_size + extra,
                     f"stored_size {stored!r} does not fit delta_size "
                     f"{delta_size} (none)")
    else:
        _chunk_fault(name, "delta_size" not in raw, "delta_size without a base")
        _chunk_fault(name, algorithm != compression.NONE
                     or stored == length + extra,
                     f"stored_size {stored!r} does not fit length {length} "
                     f"({algorithm})")
    return ChunkRecord(index, raw["offset"], length, sha256,
                                object=name, stored_size=stored,
                                compression=algorithm, source=source, base=base,
                                delta_size=delta_size)


def _parse_legacy(raw, volume_id):
    """Karbor's own layout: metadata without chunk records, data_1 … data_N."""
    image_metadata = _image_metadata(raw, volume_id)
    checksum = image_metadata.get("checksum")
    _require(isinstance(checksum, str) and bool(re.match(r"^[0-9a-f]{32}$",
                                                         checksum)),
             volume_id, f"image_metadata.checksum {checksum!r} is not an md5")
    return BackupMetadata(
        volume_id=_volume_id(raw, volume_id),
        volume_size=_integer(raw, "volume_size", volume_id, minimum=1),
        image_metadata=image_metadata,
        chunks_num=_integer(raw, "chunks_num", volume_id),
        chunks=None,
        format_version=0,
    )


def parse(raw, volume_id, keys=None, checkpoint_id=None):
    """Check a manifest read from the bank; return BackupMetadata.

    An encrypted one (format 4) is opened first with ``keys`` (the volume's
    :class:`.sealing.VolumeKeys`), bound to ``checkpoint_id``, the backup it
    was read from: without keys BackupKeyRequired, with another bank's
    BackupKeyMismatch, altered, truncated or replayed InvalidBackupMetadata.
    """
    _require(raw is not None, volume_id, "there is no metadata object")
    _require(isinstance(raw, dict), volume_id,
             f"expected an object, got {type(raw).__name__}")
    if "chunks" not in raw and "format_version" not in raw:
        return _parse_legacy(raw, volume_id)
    version = raw.get("format_version")
    _require(version in READABLE_VERSIONS and not isinstance(version, bool),
             volume_id, f"format_version {version!r} is not supported (this "
             f"version reads {', '.join(map(str, READABLE_VERSIONS))})")
    opened = None
    if version == ENCRYPTED_VERSION:
        raw = opened = _open(raw, volume_id, keys, checkpoint_id)
    volume_size = _integer(raw, "volume_size", volume_id, minimum=1)
    image_size = _integer(raw, "image_size", volume_id)
    chunk_size = _integer(raw, "chunk_size", volume_id, minimum=1)
    _require(chunk_size <= MAX_CHUNK_SIZE, volume_id,
             f"chunk_size {chunk_size} exceeds {MAX_CHUNK_SIZE}")
    chunks_num = _integer(raw, "chunks_num", volume_id)
    image_metadata = _image_metadata(raw, volume_id)
    sha256 = raw.get("sha256")
    _require(isinstance(sha256, str) and bool(_SHA256.match(sha256)), volume_id,
             f"sha256 {sha256!r} is malformed")
    if version >= 2:
        expected = (sealing.HASH_ALGORITHM if version == ENCRYPTED_VERSION
                    else HASH_ALGORITHM)
        algorithm = raw.get("hash_algorithm")
        _require(algorithm == expected, volume_id,
                 f"hash_algorithm {algorithm!r} is not {expected!r}")
    raw_chunks = raw.get("chunks")
    _require(isinstance(raw_chunks, list), volume_id, "chunks must be a list")
    _require(len(raw_chunks) == chunks_num, volume_id,
             f"chunks_num is {chunks_num} but {len(raw_chunks)} chunks are listed")
    _require(image_size <= volume_size * GiB, volume_id,
             f"image_size {image_size} exceeds the volume's {volume_size} GiB")
    expected_chunks = -(-image_size // chunk_size)
    _require(chunks_num == expected_chunks, volume_id,
             f"chunks_num {chunks_num} cannot hold image_size {image_size} in "
             f"chunks of chunk_size {chunk_size} (expected {expected_chunks})")
    sources = _parse_sources(raw, volume_id) if version >= 3 else {}
    chunks = tuple(_parse_chunk(item, index, chunk_size, version, sources)
                   for index, item in enumerate(raw_chunks))
    for record in chunks[:-1]:
        _chunk_fault(record.name, record.length == chunk_size,
                     f"is {record.length} bytes but only the last chunk may be "
                     f"shorter than {chunk_size}")
    _require(sum(c.length for c in chunks) == image_size, volume_id,
             f"chunk lengths add up to {sum(c.length for c in chunks)}, "
             f"not image_size {image_size}")
    return BackupMetadata(
        volume_id=_volume_id(raw, volume_id),
        volume_size=volume_size,
        image_metadata=image_metadata,
        chunks_num=chunks_num,
        chunks=chunks,
        image_size=image_size,
        chunk_size=chunk_size,
        sha256=sha256,
        format_version=version,
        backup_name=_text(raw, "backup_name", volume_id),
        description=_text(raw, "description", volume_id),
        sources=sources,
        data_timestamp=_optional_string(raw, "data_timestamp", volume_id),
        snapshot_id=_optional_string(raw, "snapshot_id", volume_id),
        parent_checkpoint_id=_optional_string(raw, "parent_checkpoint_id",
                                              volume_id),
        volume_attributes=_parse_attributes(raw, volume_id),
        opened=opened,
    )


def _open(raw, volume_id, keys, checkpoint_id):
    """The manifest sealed in a format-4 ``raw``, opened and authenticated."""
    if keys is None:
        encryption = raw.get("encryption")
        recorded = (encryption.get("key") if isinstance(encryption, dict)
                    else None)
        raise exceptions.BackupKeyRequired(volume_id, checkpoint_id,
                                           recorded if isinstance(recorded, str)
                                           else "unknown")
    _require(keys.volume_id == volume_id, volume_id,
             f"the keys given are of volume {keys.volume_id}")
    inner = keys.open_manifest(checkpoint_id, raw)
    _require(inner.get("format_version") == ENCRYPTED_VERSION
             and inner.get("volume_id") == volume_id, volume_id,
             "the sealed manifest is not a format-4 manifest of this volume")
    return inner


def _volume_id(raw, volume_id):
    value = raw.get("volume_id", volume_id)
    _require(isinstance(value, str) and bool(value), volume_id,
             f"volume_id must be a non-empty string, got {value!r}")
    return value


def _text(raw, field, volume_id):
    value = raw.get(field, "")
    if value is None:
        return ""
    _require(isinstance(value, str), volume_id,
             f"{field} must be a string, got {type(value).__name__}")
    return value


#: image_metadata fields the readers use, each a string or null.
_IMAGE_STRINGS = ("checksum", "disk_format", "container_format",
                  "os_hash_algo", "os_hash_value")


def _image_metadata(raw, volume_id):
    image_metadata = raw.get("image_metadata")
    _require(isinstance(image_metadata, dict), volume_id,
             "image_metadata must be an object")
    for field in _IMAGE_STRINGS:
        value = image_metadata.get(field)
        _require(value is None or isinstance(value, str), volume_id,
                 f"image_metadata.{field} must be a string, got {value!r}")
    return image_metadata


def _parse_attributes(raw, volume_id):
    """``volume_attributes``: None when absent, else checked field by field."""
    attributes = raw.get("volume_attributes")
    if attributes is None:
        return None
    _require(isinstance(attributes, dict), volume_id,
             "volume_attributes must be an object")
    for name, value in attributes.items():
        kind = ATTRIBUTE_TYPES.get(name)
        if kind is None or value is None:
            continue  # a newer writer's field, or one the cloud did not give
        _require(isinstance(value, kind)
                 and not (kind is int and isinstance(value, bool)), volume_id,
                 f"volume_attributes.{name} must be {kind.__name__}, got "
                 f"{value!r}")
        if kind is dict:
            _require(all(isinstance(k, str) and isinstance(v, str)
                         for k, v in value.items()), volume_id,
                     f"volume_attributes.{name} must map strings to strings")
    return dict(attributes)


def _optional_string(raw, field, volume_id):
    value = raw.get(field)
    _require(value is None or (isinstance(value, str) and value), volume_id,
             f"{field} must be a non-empty string or null, got {value!r}")
    return value


def _parse_sources(raw, volume_id):
    """``sources``: checkpoint id -> the absolute section holding its chunks."""
    sources = raw.get("sources", {})
    _require(isinstance(sources, dict), volume_id, "sources must be an object")
    for checkpoint_id, section in sources.items():
        _require(isinstance(checkpoint_id, str) and bool(checkpoint_id)
                 and isinstance(section, str)
                 and bool(SECTION_PATTERN.match(section)),
                 volume_id, f"sources[{checkpoint_id!r}] {section!r} is not "
                 "an absolute bank section")
    return dict(sources)

