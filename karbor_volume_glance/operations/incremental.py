"""Choosing the parent of an incremental backup, and resolving where a
backup's referenced chunks live.

:func:`plan` picks the parent from the volume's index (the ``available``
backup with the latest ``data_timestamp`` older than the new backup's, or the
one named by ``parent_checkpoint_id``) and loads its manifest. A named
parent that cannot serve is an error before anything is created; when the
parent cannot serve for a reason the spec lists (none, a grown volume,
another chunk size, a bank that lacks what incrementals need: see
:mod:`karbor_volume_glance.bank.capabilities`) the backup is full and
:attr:`Lineage.full_reason` says why; a named parent on such a bank is
refused. :func:`resolve_sources` checks that every backup a manifest references
is a backup of the same volume in the index, at the section it names.
"""

import dataclasses

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import capabilities
from karbor_volume_glance.format import manifest
from karbor_volume_glance.format.status import EntryStatus
from karbor_volume_glance.operations import bookkeeping

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Lineage:
    """What an incremental protect builds on; a full backup has no parent."""

    parent_id: str | None = None
    parent_moment: object = None
    records: tuple = ()
    sections: dict = dataclasses.field(default_factory=dict)
    prefixes: dict = dataclasses.field(default_factory=dict)
    uses: dict = dataclasses.field(default_factory=dict)
    full_reason: str | None = None

    def drop(self, reason):
        """Give the parent up: the backup becomes full, for ``reason``."""
        LOG.warning("Backup will be full, not incremental: %s", reason)
        return Lineage(full_reason=reason)

    def confirm(self, index):
        """After registering: the parent must still be available.

        A delete that started before our entry was written may not have
        seen it, and may remove chunks we were about to reference; such a
        delete has already marked the parent ``deleting``.
        """
        if self.parent_id is None:
            return self
        entry = index.get(self.parent_id)
        if entry is None or entry.status != EntryStatus.AVAILABLE:
            status = "gone" if entry is None else entry.status
            return self.drop(f"the parent backup in checkpoint {self.parent_id} "
                             f"is {status} (deleted while this protect started)")
        return self

    def check_older(self, moment):
        """The parent's point in time must precede the new backup's."""
        if self.parent_id is None or moment is None or self.parent_moment < moment:
            return self
        return self.drop(f"the parent's data_timestamp "
                         f"{self.parent_moment.isoformat()} is not older than "
                         f"this backup's {moment.isoformat()}")

    def sources_of(self, records):
        """The ``sources`` a manifest with ``records`` needs."""
        used = manifest.references(records)
        return {checkpoint_id: self.prefixes[checkpoint_id] for checkpoint_id in used}


def _refuse(reason):
    return exceptions.InvalidParameters("parent_checkpoint_id", reason)


def _named_parent(entries, named, volume_id, moment):
    entry = next((e for e in entries if e.checkpoint_id == named), None)
    if entry is None:
        raise _refuse(f"checkpoint {named} holds no backup of volume {volume_id} "
                      "in this bank")
    if entry.status != EntryStatus.AVAILABLE:
        raise _refuse(f"the backup of volume {volume_id} in checkpoint {named} is "
                      f"{entry.status}, not available")
    if entry.moment is None or entry.moment >= moment:
        raise _refuse(f"the backup in checkpoint {named} has data_timestamp "
                      f"{entry.data_timestamp}, not older than this backup's "
                      f"{moment.isoformat()}")
    return entry


def _latest_parent(entries, moment):
    older = [e for e in entries if e.status == EntryStatus.AVAILABLE
             and e.moment is not None and e.moment < moment]
    return max(older, key=lambda e: (e.moment, e.checkpoint_id), default=None)


def plan(index, params, volume, chunk_size, moment, checkpoint_id, keys=None):
    """The Lineage of a protect of ``volume`` whose point in time is ``moment``.

    ``keys`` (the volume's :class:`~karbor_volume_glance.format.sealing.VolumeKeys`,
    for an encrypted backup) open an encrypted parent; a parent encrypted
    under a key not given fails the protect (it never silently becomes a
    plain backup in an encrypted bank), and a plain parent of an encrypted
    backup makes it full, saying so.
    """
    if not params.get("incremental"):
        return Lineage()
    lacking = capabilities.full_reason(index.section)
    if lacking:
        if params.get("parent_checkpoint_id"):
            raise _refuse(lacking)
        return Lineage().drop(lacking)
    named = params.get("parent_checkpoint_id")
    try:
        entries = [e for e in index.entries() if e.checkpoint_id != checkpoint_id]
    except exceptions.InvalidBackupMetadata as exc:  # a damaged entry
        if named:
            raise _refuse(f"the index of volume {volume.id}'s backups cannot "
                          f"be read: {exc}") from exc
        return Lineage().drop(f"the index of volume {volume.id}'s backups "
                              f"cannot be read: {exc}")
    if named:
        entry = _named_parent(entries, named, volume.id, moment)
    else:
        entry = _latest_parent(entries, moment)
        if entry is None:
            return Lineage().drop(f"no available backup of volume {volume.id} "
                                  "older than this one in this bank")
    section = index.section_of(entry)
    try:
        parent = manifest.parse(bookkeeping.read_manifest(section), volume.id,
                                keys, entry.checkpoint_id)
        sections = resolve_sources(index, parent, entries)
    except (exceptions.BackupKeyRequired, exceptions.BackupKeyMismatch):
        raise
    except exceptions.VolumeGlanceError as exc:
        if named:
            raise _refuse(f"the backup in checkpoint {named} cannot be read: "
                          f"{exc}") from exc
        return Lineage().drop(f"the parent backup in checkpoint "
                              f"{entry.checkpoint_id} cannot be read: {exc}")
    lineage = Lineage()
    if parent.legacy:
        return lineage.drop(f"the parent backup in checkpoint {entry.checkpoint_id} "
                            "is in Karbor's layout, without chunk hashes")
    if keys is not None and not parent.encrypted:
        return lineage.drop(f"the parent backup in checkpoint "
                            f"{entry.checkpoint_id} is not encrypted")
    if keys is not None and not entry.authenticated:
        reason = (f"the index entry of checkpoint {entry.checkpoint_id} has no "
                  "MAC (written before index entries were authenticated, or "
                  "stripped)")
        if named:
            raise _refuse(reason)
        return lineage.drop(reason)
    if parent.chunk_size != chunk_size:
        return lineage.drop(f"the chunk size changed from {parent.chunk_size} to "
                            f"{chunk_size}")
    if volume.size > parent.volume_size:
        return lineage.drop(f"the volume grew from {parent.volume_size} to "
                            f"{volume.size} GiB")
    parent_id = entry.checkpoint_id
    return Lineage(
        parent_id=parent_id,
        parent_moment=entry.moment,
        records=parent.referenced_from(parent_id),
        sections={**sections, parent_id: section},
        prefixes={**parent.sources, parent_id: entry.section},
        uses=parent.data_uses(parent_id),
    )


def resolve_sources(index, backup, entries=None):
    """``{checkpoint id: section}`` of every backup ``backup`` references.

    Each must be in the volume's index at the section the manifest names;
    a manifest cannot make a restore read anywhere else.
    """
    if not backup.sources:
        return {}
    known = {e.checkpoint_id: e for e in (index.entries() if entries is None
                                          else entries)}
    sections = {}
    for checkpoint_id, prefix in backup.sources.items():
        entry = known.get(checkpoint_id)
        if entry is None or entry.section != prefix:
            raise exceptions.InvalidBackupMetadata(
                backup.volume_id, f"source {checkpoint_id} ({prefix}) is not a "
                f"backup of volume {index.volume_id} in this bank's index")
        sections[checkpoint_id] = index.section_of(entry)
    return sections
