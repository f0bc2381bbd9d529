"""The entries of the bank's index of each volume's backups.

Outside the checkpoint sections, every backup this plugin makes of a volume
has an entry at ``/volume_glance/by-volume/<volume id>/backups/<checkpoint
id>`` (:func:`entries_prefix`): its section, status, point in time
(``data_timestamp``), chunk size, parent, and ``uses``, the chunk indices it
reads from other backups' sections (``{checkpoint id: [index, ...]}``).

Entry statuses (:class:`~.status.EntryStatus`): ``protecting`` and
``available`` are *live* (their ``uses`` must stay readable); ``error`` (a
failed protect), ``deleting`` and ``retained`` (deleted, but some of its
chunks are still used by live backups; ``retains`` lists them) are not. The
protocol that makes this safe without a lock is in ``doc/backup-format.rst``
("Incremental backups and deletes"); reading and writing the entries is
``operations/volume_index.py``.

On an encrypted bank, an entry written with the bank's master key carries
two HMAC-SHA256 (:func:`authenticate`, :func:`check`), under
``derive("index-entry", volume id)``, each bound to the entry's own place
(the volume and checkpoint ids of its key): ``mac`` over what protect
records about the backup (:data:`MAC_FIELDS`), ``uses_mac`` over its
``uses``. ``status``, ``retains`` and ``updated_at`` are not covered: a
delete and a sweep need no key and change only those (and clear ``uses``),
which is what a delete may do anyway. An entry with a ``mac`` that does
not hold, or (live, or with ``uses``) with a ``uses_mac`` that does not,
fails :func:`check` naming it. An entry without ``mac`` passes, as
*unauthenticated* (:attr:`Entry.authenticated` false): a delete's own
retired entry, one an encrypted bank held before entries were
authenticated, or one whose MACs were stripped; a keyed protect never
builds on one (the backup is full, naming it), and a restore trusts only
its sealed manifest's sources, which the entry must match anyway.
Entries of plain banks have neither field: their bytes are unchanged.
"""

import dataclasses
import datetime
import re

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import keys
from karbor_volume_glance.format.status import LIVE, EntryStatus

INDEX_ROOT = "/volume_glance/by-volume/"
#: An absolute section prefix: ``/`` + parts of Karbor's key characters + ``/``.
SECTION_PATTERN = re.compile(r"^/(?:(?!\.{1,2}/)[A-Za-z0-9_.\-@]+/)+$")
STATUSES = tuple(EntryStatus)
#: What an entry's ``mac`` covers, besides the ids of its key.
MAC_FIELDS = ("section", "chunk_size", "parent_checkpoint_id",
              "data_timestamp")
#: The purpose of the key the entries' MACs are made with.
MAC_PURPOSE = "index-entry"
_MAC = re.compile(r"^[0-9a-f]{64}$")


def entries_prefix(volume_id):
    """The absolute section holding the index entries of ``volume_id``."""
    return f"{INDEX_ROOT}{volume_id}/backups/"


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
    #: HMAC-SHA256 of the entry on an encrypted bank (:func:`authenticate`).
    mac: str | None = None
    uses_mac: str | None = None

    @property
    def live(self):
        return self.status in LIVE

    @property
    def moment(self):
        return (None if self.data_timestamp is None
                else parse_timestamp(self.data_timestamp))

    @property
    def authenticated(self):
        """Whether the entry carries a MAC (checked when read with a key)."""
        return self.mac is not None

    def to_dict(self):
        """The entry as stored; without MACs (a plain bank's) as before."""
        raw = dataclasses.asdict(self)
        for name in ("mac", "uses_mac"):
            if raw[name] is None:
                del raw[name]
        return raw


def mac_key(master, volume_id):
    """The key of ``volume_id``'s entries' MACs under ``master``."""
    return master.derive(MAC_PURPOSE, volume_id)


def _mac_inputs(entry, volume_id, checkpoint_id):
    """What ``entry``'s ``mac`` and ``uses_mac`` cover at its place."""
    place = {"volume_id": volume_id, "checkpoint_id": checkpoint_id}
    uses = {source: sorted(indices) for source, indices in entry.uses.items()}
    return ({"part": "entry", **place,
             **{name: getattr(entry, name) for name in MAC_FIELDS}},
            {"part": "uses", **place, "uses": uses})


def authenticate(entry, key, volume_id):
    """Set ``entry``'s MACs under ``key`` (:func:`mac_key`) for its place
    in ``volume_id``'s index; returns it."""
    covered, uses = _mac_inputs(entry, volume_id, entry.checkpoint_id)
    entry.mac, entry.uses_mac = keys.mac(key, covered), keys.mac(key, uses)
    return entry


def check(entry, key, where, volume_id):
    """Raise RecordNotAuthentic naming the entry unless its MACs hold under
    ``key`` (:func:`mac_key`) for the place it was read from (``where``,
    its absolute bank key in ``volume_id``'s index), as the module's
    docstring says."""
    def fault(reason):
        return exceptions.RecordNotAuthentic(
            volume_id, f"index entry {where}", reason)

    if entry.mac is None:
        return entry  # unauthenticated: trusted for nothing (the docstring)
    covered, uses = _mac_inputs(entry, volume_id, where.rsplit("/", 1)[-1])
    if not keys.same_mac(entry.mac, keys.mac(key, covered)):
        raise fault("its MAC does not hold: it was changed, or moved from "
                    "another volume or checkpoint")
    if (entry.live or entry.uses) and not keys.same_mac(entry.uses_mac,
                                                        keys.mac(key, uses)):
        raise fault("the MAC of its uses does not hold: they were changed")
    return entry


def parse_entry(raw, key, volume_id):
    """The checked Entry of the object read at ``key`` of ``volume_id``'s index."""
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
    for field in ("checkpoint_id", "volume_id", "status"):
        if not isinstance(getattr(entry, field), str):
            raise fault(f"{field} must be a string, got "
                        f"{getattr(entry, field)!r}")
    for field in ("data_timestamp", "parent_checkpoint_id", "updated_at"):
        value = getattr(entry, field)
        if value is not None and not isinstance(value, str):
            raise fault(f"{field} must be a string or null, got {value!r}")
    if entry.chunk_size is not None and not _is_count(entry.chunk_size, 1):
        raise fault(f"chunk_size {entry.chunk_size!r} is not a positive integer")
    if not isinstance(entry.retains, list) or not all(
            _is_count(i) for i in entry.retains):
        raise fault("retains must be a list of chunk indices")
    if not isinstance(entry.section, str) or not SECTION_PATTERN.match(
            entry.section):
        raise fault(f"section {entry.section!r} is not an absolute bank section")
    if entry.status not in STATUSES:
        raise fault(f"status {entry.status!r} is not one of {', '.join(STATUSES)}")
    if entry.checkpoint_id != key.rsplit("/", 1)[-1]:
        raise fault(f"checkpoint_id {entry.checkpoint_id!r} is not its key's")
    if not isinstance(entry.uses, dict) or not all(
            isinstance(checkpoint_id, str) and isinstance(indices, list)
            and all(_is_count(i) for i in indices)
            for checkpoint_id, indices in entry.uses.items()):
        raise fault("uses must map checkpoint ids to lists of chunk indices")
    for field in ("mac", "uses_mac"):
        value = getattr(entry, field)
        if value is not None and not (isinstance(value, str)
                                      and _MAC.match(value)):
            raise fault(f"{field} {value!r} is not 64 hex digits")
    if entry.data_timestamp is not None:
        try:
            entry.moment  # noqa: B018 - parses it
        except (TypeError, ValueError, OverflowError):
            raise fault(f"data_timestamp {entry.data_timestamp!r} is not an "
                        "ISO 8601 time") from None
    return entry


def _is_count(value, minimum=0):
    return (isinstance(value, int) and not isinstance(value, bool)
            and value >= minimum)


def needed(entries):
    """``{checkpoint id: set of chunk indices}`` the live entries use."""
    used = {}
    for entry in entries:
        if entry.live:
            for checkpoint_id, indices in entry.uses.items():
                used.setdefault(checkpoint_id, set()).update(indices)
    return used
