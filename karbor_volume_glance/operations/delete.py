"""Delete: remove a volume's backup from the bank, keeping what other
backups still use.

Marks the section ``deleting`` and the backup's index entry too (so that no
incremental protect starts to rely on it), then lists the volume's index:
the chunks live backups use in this backup's section are kept, every other
object but ``status`` is deleted (whatever exists: a backup that failed
half-way has only some chunks), and the section is marked ``deleted``. The
entry goes, or stays ``retained`` with the chunks kept. Chunks kept earlier
by deleted backups of the same volume that nothing uses any more are
deleted too, so once the last backup of a chain goes none of its data
remains; so are the file bank's temporary files of writes into the section
that never finished. Running it again is harmless. Nothing in the cloud is touched.
"""

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import chunks
from karbor_volume_glance.format import index as index_format
from karbor_volume_glance.format.status import STATUS_KEY, BackupStatus, EntryStatus
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import base, bookkeeping

LOG = logging.getLogger(__name__)


class DeleteOperation(base.Operation):
    name = "delete"
    working = BackupStatus.DELETING
    done = BackupStatus.DELETED
    error = exceptions.DeleteFailed
    tracks_section = True
    journaled = True
    uses_key = False  # the index says what to keep: no data is read

    def start_fields(self, run):
        return payload.from_manifest(bookkeeping.read_manifest(run.section))

    def started(self, run):
        LOG.info("Deleting the backup of volume %s from checkpoint %s",
                 run.volume_id, getattr(run.checkpoint, "id", None))

    def steps(self, run):
        index = self.index(run.section, run.volume_id)
        return self._delete(index, run.checkpoint.id, run.section)

    def finished(self, run, result):
        LOG.info("Deleted %d objects of the backup of volume %s", result,
                 run.volume_id)

    def _delete(self, index, checkpoint_id, section):
        entry = index.get(checkpoint_id)
        if entry is not None:  # first: no protect may start relying on it
            entry.status, entry.uses = EntryStatus.DELETING, {}
            index.put(entry)
        entries = index.entries()
        needed = index_format.needed(entries)
        keep = sorted(needed.get(checkpoint_id, ()))
        kept = {chunks.chunk_name(i) for i in keep}
        deleted = 0
        for key in compat.list_all(section):
            if key != STATUS_KEY and key not in kept:
                deleted += self._delete_object(section, key)
        if keep:
            entry = entry or index_format.Entry(
                checkpoint_id, index.volume_id, compat.prefix_of(section),
                EntryStatus.RETAINED)
            entry.status, entry.retains = EntryStatus.RETAINED, keep
            index.put(entry)
            LOG.info("Kept %d chunks of checkpoint %s that other backups use",
                     len(keep), checkpoint_id)
        elif entry is not None:
            index.remove(checkpoint_id)
        deleted += self._sweep(index, entries, needed, checkpoint_id)
        return deleted + _remove_temporary_files(section)

    def _sweep(self, index, entries, needed, deleting_id):
        """Delete what earlier deletes kept and no live backup uses now."""
        deleted = 0
        for entry in entries:
            if (entry.status != EntryStatus.RETAINED
                    or entry.checkpoint_id == deleting_id):
                continue
            keep = sorted(needed.get(entry.checkpoint_id, ()))
            kept = {chunks.chunk_name(i) for i in keep}
            section = index.section_of(entry)
            for key in compat.list_all(section, prefix=chunks.CHUNK_PREFIX):
                if key not in kept:
                    deleted += self._delete_object(section, key)
            if not keep:
                index.remove(entry.checkpoint_id)
            elif keep != entry.retains:
                entry.retains = keep
                index.put(entry)
        return deleted

    def _delete_object(self, section, key):
        return compat.delete_if_present(section, key)


def _remove_temporary_files(section):
    """The file bank's temporary files of writes into the section that
    never finished (a writer killed half-way); the count removed."""
    removed = 0
    for path, _age in compat.temporary_files(section, compat.prefix_of(section)):
        removed += bool(compat.remove_temporary_file(section, path))
    if removed:
        LOG.info("Removed %d temporary files of unfinished writes", removed)
    return removed
