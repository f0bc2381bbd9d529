"""Reading and writing the bank's index of each volume's backups, which
incrementals and deletes rely on.

What an entry holds, its statuses and how it is checked are
:mod:`karbor_volume_glance.format.index`; this module reads the entries of
one volume from the bank and writes them back. Protect finds a parent here
without scanning every checkpoint, restore checks that a manifest's
``sources`` are backups of the same volume, and delete keeps what others use.
"""

import datetime

from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import index as index_format


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat()


class VolumeIndex:
    """The index entries of one volume, in the bank ``section`` belongs to."""

    def __init__(self, section, volume_id):
        self.volume_id = volume_id
        self._section = compat.section_at(
            section, index_format.entries_prefix(volume_id))
        self._any_section = section

    @property
    def section(self):
        """The bank section holding the volume's entries."""
        return self._section

    def entries(self):
        """Every entry of the volume, read now."""
        keys = compat.list_all(self._section)
        found = []
        for key in keys:
            raw = compat.read_optional(self._section, key)
            if raw is not None:  # removed since the listing
                found.append(index_format.parse_entry(raw, key, self.volume_id))
        return found

    def get(self, checkpoint_id):
        """The entry of one checkpoint's backup, or None."""
        raw = compat.read_optional(self._section, checkpoint_id)
        return None if raw is None else index_format.parse_entry(
            raw, checkpoint_id, self.volume_id)

    def put(self, entry):
        entry.updated_at = _now()
        self._section.update_object(entry.checkpoint_id, entry.to_dict())

    def remove(self, checkpoint_id):
        compat.delete_if_present(self._section, checkpoint_id)

    def section_of(self, entry):
        """The bank section holding the backup an entry describes."""
        return compat.section_at(self._any_section, entry.section)
