"""Finding bank backends by name and opening banks by URL.

Backends are entry points in the ``karbor_volume_glance.banks`` group, named
after the URL scheme that opens them (``memory``, ``file``). A new backend
(``s3``, ``swift`` …) plugs in with one module whose class implements
:meth:`BankBackend.from_url` and one entry point.
"""

import importlib.metadata
import urllib.parse

import stevedore.exception
from oslo_log import log as logging
from stevedore import driver

from karbor_volume_glance.bank.section import Bank
from karbor_volume_glance.exceptions import BankError, UnknownBankBackend

LOG = logging.getLogger(__name__)

NAMESPACE = "karbor_volume_glance.banks"


def known_backend_names():
    """The names of every installed bank backend, sorted; none is imported
    (an S3 or Swift backend pulls in its client library)."""
    return sorted({entry_point.name for entry_point
                   in importlib.metadata.entry_points(group=NAMESPACE)})


def _load_extension(name, **options):
    """The stevedore extension of backend ``name``; UnknownBankBackend if none.

    The names are listed only when stevedore (with its entry point cache)
    finds none: listing reads every installed distribution's metadata.
    """
    try:
        if not isinstance(name, str):
            raise stevedore.exception.NoMatches(name)
        return driver.DriverManager(NAMESPACE, name, **options).extensions[0]
    except stevedore.exception.NoMatches:
        known = known_backend_names()
        if name not in known:
            raise UnknownBankBackend(name, known) from None
        raise


def backend_class(name):
    """The backend class registered as ``name``; UnknownBankBackend if none."""
    return _load_extension(name).plugin


def load_backend(name, **kwargs):
    """A new backend ``name`` built with ``kwargs``; UnknownBankBackend if none.

    ``load_backend("file", path="/srv/bank")`` is ``FileBackend(path=...)``.
    """
    return _load_extension(name, invoke_on_load=True, invoke_kwds=kwargs).obj


def open_bank(url):
    """The :class:`Bank` that ``url`` names.

    ``memory://`` is a new, empty bank in memory; ``file:///absolute/path`` is
    a bank in that directory. The scheme names the backend.
    """
    if not isinstance(url, str):
        raise BankError(f"a bank URL must be a str, not {type(url).__name__}")
    parsed = urllib.parse.urlsplit(url)
    if not parsed.scheme:
        raise BankError(
            f"bank URL {url!r} has no scheme; use for example 'memory://' or "
            "'file:///srv/karbor-bank'"
        )
    backend = backend_class(parsed.scheme).from_url(parsed)
    LOG.debug("Opened bank %s", url)
    return Bank(backend)
