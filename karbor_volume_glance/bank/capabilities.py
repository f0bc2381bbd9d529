"""What a bank guarantees, declared by each backend rather than discovered.

Modelled on glance_store's ``capabilities``: a backend class lists what it
can do in ``CAPABILITIES`` (an instance may narrow or widen it through its
``capabilities`` property, from its options), and callers ask before they
rely on it:

:data:`LISTING_SEES_WRITES`
    A listing (and a read) sees every write and delete that finished before
    it began. The file and memory banks; S3 (AWS since December 2020, Ceph
    RGW and SeaweedFS on one site). Not a Swift cluster in general: its
    container listings are updated asynchronously, so the Swift backend
    declares it only when its operator says so (``consistent_listings``).
:data:`ATOMIC_REPLACE`
    A reader sees the whole old value or the whole new value, never a mix
    and never a partial write. All our backends.
:data:`CONDITIONAL_CREATE`
    An object can be created only if it does not exist yet, the first
    creator winning (``O_EXCL``/``link()``, Swift's ``If-None-Match: *``).
    Not declared for S3, where servers differ (AWS since 2024; others
    ignore the header).

Karbor's own banks declare nothing, so they get none. The incremental
protocol (doc/backup-format.rst) needs :data:`INCREMENTAL_NEEDS`::

    reason = capabilities.full_reason(section)   # None: incrementals are safe
    capabilities.require(section, *capabilities.INCREMENTAL_NEEDS,
                         what="an incremental backup")
"""

from karbor_volume_glance.bank import retrying
from karbor_volume_glance.exceptions import VolumeGlanceError

LISTING_SEES_WRITES = "listing sees every finished write"
ATOMIC_REPLACE = "atomic replace"
CONDITIONAL_CREATE = "conditional create"
ALL = frozenset({LISTING_SEES_WRITES, ATOMIC_REPLACE, CONDITIONAL_CREATE})
NONE = frozenset()

#: What an incremental protect (and so the delete protocol that protects its
#: chunks) relies on: the index listing sees every registered backup, and an
#: index entry or status is never read half-written.
INCREMENTAL_NEEDS = (LISTING_SEES_WRITES, ATOMIC_REPLACE)

#: Where the next object that may know the capabilities is, in order: a
#: section's bank (ours: ``bank``; Karbor's: ``_bank``), a bank's backend
#: (ours: ``backend``; Karbor's: ``_plugin``).
_LINKS = ("bank", "_bank", "backend", "_plugin")
_MAX_DEPTH = 8


class MissingCapability(VolumeGlanceError):
    """The bank lacks what an operation needs; ``missing`` says what."""

    def __init__(self, what, missing, bank_kind):
        self.what = what
        self.missing = tuple(missing)
        self.bank_kind = bank_kind
        super().__init__(
            f"{what} needs a bank with {', '.join(self.missing)}; the "
            f"{bank_kind} bank does not declare "
            f"{'it' if len(self.missing) == 1 else 'them'}")


def _declared(target):
    declared = getattr(target, "capabilities", None)
    if isinstance(declared, (set, frozenset)):
        return frozenset(declared)
    return None


def _chain(target):
    """``target``, then its bank, then the bank's backend (or Karbor plugin)."""
    for _ in range(_MAX_DEPTH):
        target = retrying.unwrap(target)
        yield target
        following = None
        for link in _LINKS:
            following = getattr(target, link, None)
            if following is not None:
                break
        if following is None:
            return
        target = following


def _owner(target):
    """The first object under ``target`` that declares capabilities, if any."""
    for found in _chain(target):
        if _declared(found) is not None:
            return found
    return None


def of(target):
    """The capabilities of the bank under ``target`` (a bank, a section, ours
    or Karbor's, wrapped or not, or a backend): a frozenset of the names
    above, empty when nothing is declared."""
    declared = _declared(_owner(target))
    return NONE if declared is None else declared


def kind(target):
    """A short name of the bank under ``target``, for messages."""
    last = None
    for last in _chain(target):
        describe = getattr(last, "describe", None)
        if callable(describe):
            try:
                return describe()[0]
            except Exception:  # noqa: S112 - only a name for a message
                continue
    return type(last).__name__


def missing(target, *needed):
    """The capabilities of ``needed`` the bank under ``target`` lacks."""
    have = of(target)
    return [name for name in needed if name not in have]


def require(target, *needed, what):
    """Raise :class:`MissingCapability` unless the bank has all of ``needed``;
    ``what`` names the operation ("an incremental backup")."""
    lacking = missing(target, *needed)
    if lacking:
        raise MissingCapability(what, lacking, kind(target))


def full_reason(target, needed=INCREMENTAL_NEEDS, what="an incremental backup"):
    """Why a backup in the bank under ``target`` must be full rather than
    incremental (a manifest's ``full_reason``), or None if it need not."""
    lacking = missing(target, *needed)
    if not lacking:
        return None
    return str(MissingCapability(what, lacking, kind(target)))
