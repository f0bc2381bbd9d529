"""The bank's index of each volume's backups, which incrementals and deletes
rely on.

Outside the checkpoint sections, every backup this plugin makes of a volume
has an entry at ``/volume_glance/by-volume/<volume id>/backups/<checkpoint
id>``: its section, status, point in time (``data_timestamp``), chunk size,
parent, and ``uses``, the chunk indices it reads from other backups'
sections (``{checkpoint id: [index, ...]}``). Protect finds a parent here
without scanning every checkpoint, restore checks that a manifest's
``sources`` are backups of the same volume, and delete keeps what others use.

Entry statuses: ``protecting`` and ``available`` are *live* (their ``uses``
must stay readable); ``error`` (a failed protect), ``deleting`` and
``retained`` (deleted, but some of its chunks are still used by live
backups; ``retains`` lists them) are not. An entry goes once nothing of
its backup is left. The protocol that makes this safe without a lock is in
``doc/backup-format.rst`` ("Incremental backups and deletes").
"""

import dataclasses
import datetime

from karbor_volume_glance import exceptions
from karbor_volume_glance.operations import sectionio

INDEX_ROOT = "/volume_glance/by-volume/"
PROTECTING, AVAILABLE, ERROR = "protecting", "available", "error"
DELETING, RETAINED = "deleting", "retained"
STATUSES = (PROTECTING, AVAILABLE, ERROR, DELETING, RETAINED)
LIVE = frozenset({PROTECTING, AVAILABLE})


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat()


def parse_timestamp(value):
    """An aware datetime from an entry's or a manifest's ISO timestamp."""
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


@dataclasses.dataclass
class Entry:
    """One backup of a volume, as the index knows it."""

    checkpoint_id: str
    volume_id: str
    section: str
    status: str
    data_timestamp: str | None = None
    chunk_size: int | None = None
    parent_checkpoint_id: str | None = None
    uses: dict = dataclasses.field(default_factory=dict)
    retains: list = dataclasses.field(default_factory=list)
    updated_at: str | None = None

    @property
    def live(self):
        return self.status in LIVE

    @property
    def moment(self):
        return (None if self.data_timestamp is None
                else parse_timestamp(self.data_timestamp))

    def to_dict(self):
        return dataclasses.asdict(self)


def _entry_from(raw, key, volume_id):
    def fault(reason):
        return exceptions.InvalidBackupMetadata(
            volume_id, f"index entry {key}: {reason}")

    if not isinstance(raw, dict):
        raise fault(f"expected an object, got {type(raw).__name__}")
    fields = {field.name for field in dataclasses.fields(Entry)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise fault(f"unknown fields {unknown}")
    try:
        entry = Entry(**raw)
    except TypeError as exc:
        raise fault(str(exc)) from None
    if not isinstance(entry.section, str) or not sectionio.SECTION_PATTERN.match(
            entry.section):
        raise fault(f"section {entry.section!r} is not an absolute bank section")
    if entry.status not in STATUSES:
        raise fault(f"status {entry.status!r} is not one of {', '.join(STATUSES)}")
    if entry.checkpoint_id != key.rsplit("/", 1)[-1]:
        raise fault(f"checkpoint_id {entry.checkpoint_id!r} is not its key's")
    if not isinstance(entry.uses, dict) or not all(
            isinstance(indices, list)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                    for i in indices)
            for indices in entry.uses.values()):
        raise fault("uses must map checkpoint ids to lists of chunk indices")
    if entry.data_timestamp is not None:
        try:
            entry.moment  # noqa: B018 - parses it
        except (TypeError, ValueError):
            raise fault(f"data_timestamp {entry.data_timestamp!r} is not an "
                        "ISO 8601 time") from None
    return entry


class VolumeIndex:
    """The index entries of one volume, in the bank ``section`` belongs to."""

    def __init__(self, section, volume_id, bank_call):
        self.volume_id = volume_id
        self._section = sectionio.section_at(
            section, f"{INDEX_ROOT}{volume_id}/backups/")
        self._any_section = section
        self._bank_call = bank_call

    def _call(self, func, *args, what):
        return self._bank_call(func, *args, what=what)

    def entries(self):
        """Every entry of the volume, read now."""
        keys = self._call(sectionio.list_all, self._section,
                          what=f"listing the index of volume {self.volume_id}")
        found = []
        for key in keys:
            raw = self._call(sectionio.read_optional, self._section, key,
                             what=f"reading index entry {key}")
            if raw is not None:  # removed since the listing
                found.append(_entry_from(raw, key, self.volume_id))
        return found

    def get(self, checkpoint_id):
        """The entry of one checkpoint's backup, or None."""
        raw = self._call(sectionio.read_optional, self._section, checkpoint_id,
                         what=f"reading index entry {checkpoint_id}")
        return None if raw is None else _entry_from(raw, checkpoint_id,
                                                    self.volume_id)

    def put(self, entry):
        entry.updated_at = _now()
        self._call(self._section.update_object, entry.checkpoint_id,
                   entry.to_dict(),
                   what=f"writing index entry {entry.checkpoint_id}")

    def remove(self, checkpoint_id):
        self._call(sectionio.delete_if_present, self._section, checkpoint_id,
                   what=f"removing index entry {checkpoint_id}")

    def section_of(self, entry):
        """The bank section holding the backup an entry describes."""
        return sectionio.section_at(self._any_section, entry.section)


def needed(entries):
    """``{checkpoint id: set of chunk indices}`` the live entries use."""
    used = {}
    for entry in entries:
        if entry.live:
            for checkpoint_id, indices in entry.uses.items():
                used.setdefault(checkpoint_id, set()).update(indices)
    return used
