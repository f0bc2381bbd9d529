"""Our bank backends as Karbor bank plugins.

Karbor's provider file names its bank by an entry point in the
``karbor.protections`` namespace and builds it as ``plugin(config)``, the
provider's ConfigOpts. Ours are ``volume-glance-file-bank``,
``volume-glance-s3-bank`` and ``volume-glance-swift-bank``; each reads its
own section of the provider file (``[volume_glance_file_bank]``,
``[volume_glance_s3_bank]``, ``[volume_glance_swift_bank]``) with the opts
its backend's module declares, the very opts its URL form reads, and serves
Karbor's BankPlugin methods through our :class:`~.section.Bank`, so values
keep their type (binary chunks included, which Karbor's own file-system bank
cannot store) and every write is atomic.

Karbor is not imported unless it is there: inside Karbor, a missing object
raises Karbor's ``BankGetObjectFailed`` (its checkpoint code turns that
into ``CheckpointNotFound``) and other failures Karbor's ``Bank*Failed``,
as Karbor's own plugins do. Karbor's ``Bank.list_objects("/")`` sends the
prefix ``//``; it is read as ``/``.
"""

import functools
import importlib

from oslo_config import cfg

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import options
from karbor_volume_glance.bank.section import Bank

_KARBOR_ERRORS = {
    "update_object": "BankUpdateObjectFailed",
    "get_object": "BankGetObjectFailed",
    "list_objects": "BankListObjectsFailed",
    "delete_object": "BankDeleteObjectFailed",
}


def _karbor_exception(name):
    try:
        from karbor import exception
    except ImportError:
        return None
    return getattr(exception, name, None)


def _karbor_errors(method):
    """Inside Karbor, raise Karbor's Bank*Failed instead of our BankError."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except exceptions.BankError as exc:
            key = args[0] if args else kwargs.get("key", kwargs.get("prefix"))
            karbor_class = _karbor_exception(_KARBOR_ERRORS[method.__name__])
            if karbor_class is None:
                raise
            raise karbor_class(reason=str(exc), key=key) from exc
    return call


def _fold(prefix):
    """Karbor sends ``//`` for the bank's root."""
    if prefix and prefix.startswith("//"):
        return "/" + prefix.lstrip("/")
    return prefix


class _KarborBankPlugin:
    """Karbor's BankPlugin interface over one of our backends (duck-typed).

    ``MODULE`` names the backend's module, whose ``GROUP`` and ``OPTS`` are
    the provider-file section and its options, read with the same opts as
    the backend's URL form and handed to its ``from_options``.
    """

    MODULE = None
    GROUP = None
    #: Options that must be set, named by InvalidConfiguration when they are not.
    REQUIRED = ()

    def __init__(self, config=None):
        if config is None:
            config = cfg.ConfigOpts()
            config([], default_config_files=[])
        self._config = config
        module = importlib.import_module(self.MODULE)
        settings = options.from_config(config, self.GROUP, module.OPTS)
        options.require(self.GROUP, settings, *self.REQUIRED)
        self.check(settings)
        backend_class = getattr(module, self.BACKEND)
        self._bank = Bank(backend_class.from_options(settings))

    def check(self, settings):
        """Refuse settings the provider file cannot have (InvalidConfiguration)."""

    @_karbor_errors
    def update_object(self, key, value, context=None):
        return self._bank.update_object(key, value)

    @_karbor_errors
    def get_object(self, key, context=None):
        return self._bank.get_object(key)

    @_karbor_errors
    def list_objects(self, prefix=None, limit=None, marker=None, sort_dir=None,
                     context=None):
        return self._bank.list_objects(prefix=_fold(prefix), limit=limit,
                                       marker=_fold(marker), sort_dir=sort_dir)

    @_karbor_errors
    def delete_object(self, key, context=None):
        return self._bank.delete_object(key)

    def get_owner_id(self, context=None):
        return self._bank.get_owner_id()

    def describe(self):
        return self._bank.backend.describe()

    @property
    def capabilities(self):
        """The backend's :mod:`~karbor_volume_glance.bank.capabilities`."""
        return self._bank.capabilities


class FileBankPlugin(_KarborBankPlugin):
    MODULE, BACKEND = "karbor_volume_glance.bank.file", "FileBackend"
    GROUP = "volume_glance_file_bank"
    REQUIRED = ("path",)


class S3BankPlugin(_KarborBankPlugin):
    MODULE, BACKEND = "karbor_volume_glance.bank.s3", "S3Backend"
    GROUP = "volume_glance_s3_bank"
    REQUIRED = ("bucket",)


class SwiftBankPlugin(_KarborBankPlugin):
    MODULE, BACKEND = "karbor_volume_glance.bank.swift", "SwiftBackend"
    GROUP = "volume_glance_swift_bank"
    REQUIRED = ("container",)

    def check(self, settings):
        if not settings.get("cloud") and not settings.get("auth_url"):
            raise exceptions.InvalidConfiguration(
                "cloud", "set cloud (clouds.yaml) or auth_url, user and key",
                group=self.GROUP)
