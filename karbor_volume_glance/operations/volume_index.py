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
    """The index entries of one volume, in the bank ``section`` belongs to.

    With ``mac_key`` (:func:`~.index.mac_key` of an encrypted bank's
    master key and the volume), every entry read is checked
    (:func:`~.index.check`: RecordNotAuthentic naming it) and every entry
    written is authenticated; without, entries are read and written as they
    are (plain banks; and deletes and sweeps, which need no key: they only
    retire entries, which the MACs do not cover).
    """

    def __init__(self, section, volume_id, mac_key=None):
        self.volume_id = volume_id
        self._mac_key = mac_key
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
                found.append(self._parse(raw, key))
        return found

    def get(self, checkpoint_id):
        """The entry of one checkpoint's backup, or None."""
        raw = compat.read_optional(self._section, checkpoint_id)
        return None if raw is None else self._parse(raw, checkpoint_id)

    def _parse(self, raw, key):
        entry = index_format.parse_entry(raw, key, self.volume_id)
        if self._mac_key is not None:
            index_format.check(entry, self._mac_key,
                               index_format.entries_prefix(self.volume_id)
                               + key, self.volume_id)
        return entry

    def put(self, entry):
        entry.updated_at = _now()
        if self._mac_key is not None:
            index_format.authenticate(entry, self._mac_key, self.volume_id)
        self._section.update_object(entry.checkpoint_id, entry.to_dict())

    def remove(self, checkpoint_id):
        compat.delete_if_present(self._section, checkpoint_id)

    def section_of(self, entry):
        """The bank section holding the backup an entry describes."""
        return compat.section_at(self._any_section, entry.section)
