"""Client libraries that only some banks need: boto3 (extra ``[s3]``) and
python-swiftclient (extra ``[swift]``).

A backend module imports its library inside ``try``; without it the module
still imports (so do ``karbor_volume_glance.bank``, its options and the file
bank), its exception names stand for :class:`Missing`, which nothing raises,
and opening such a bank raises :func:`missing`'s error, which says what to
install.
"""

from karbor_volume_glance.exceptions import BankError


class Missing(Exception):
    """Stands for an exception class of a library that is not installed."""


def missing(bank, library, extra, error=None):
    """The BankError for a ``bank`` whose ``library`` is not installed."""
    cause = f" ({error})" if error else ""
    return BankError(f"the {bank} bank needs {library}, which is not installed"
                     f"{cause}: pip install 'karbor-volume-glance[{extra}]'")
