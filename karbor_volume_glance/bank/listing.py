"""The listing rules every backend shares: prefix, order, marker and limit.

A backend gathers the keys that may match and hands them to
:func:`select_keys`, so that all backends page through a bank the same way.
"""

from karbor_volume_glance.exceptions import BankError

ASCENDING = "asc"
DESCENDING = "desc"


def check_listing_arguments(limit=None, sort_dir=None):
    """Raise :class:`BankError` if ``limit`` or ``sort_dir`` is unusable."""
    if sort_dir not in (None, ASCENDING, DESCENDING):
        raise BankError(
            f"sort_dir must be {ASCENDING!r} or {DESCENDING!r}, not {sort_dir!r}"
        )
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
    ):
        raise BankError(f"limit must be a whole number >= 0 or None, not {limit!r}")


def select_keys(keys, prefix=None, limit=None, marker=None, sort_dir=None):
    """The keys of ``keys`` a listing returns, in listing order.

    Keeps the keys that start with ``prefix`` (a plain string prefix; ``None``
    or ``""`` keeps all), sorts them ascending (descending when ``sort_dir`` is
    ``"desc"``), keeps only those strictly after ``marker`` in that order (``None``
    or ``""``: from the start) and
    returns at most ``limit`` of them (``None``: all).
    """
    check_listing_arguments(limit, sort_dir)
    descending = sort_dir == DESCENDING
    if prefix:
        keys = (key for key in keys if key.startswith(prefix))
    if marker:
        if descending:
            keys = (key for key in keys if key < marker)
        else:
            keys = (key for key in keys if key > marker)
    selected = sorted(set(keys), reverse=descending)
    if limit is not None:
        selected = selected[:limit]
    return selected
