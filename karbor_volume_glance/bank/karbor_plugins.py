"""Our bank backends as Karbor bank plugins.

Karbor's provider file names its bank by an entry point in the
``karbor.protections`` namespace and builds it as ``plugin(config)``, the
provider's ConfigOpts. Ours are ``volume-glance-file-bank``,
``volume-glance-s3-bank`` and ``volume-glance-swift-bank``; each reads its
own section of the provider file (``[volume_glance_file_bank]``,
``[volume_glance_s3_bank]``, ``[volume_glance_swift_bank]``) and serves
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

from oslo_config import cfg

from karbor_volume_glance import exceptions
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
    """Karbor's BankPlugin interface over one of our backends (duck-typed)."""

    GROUP = None
    OPTS = ()

    def __init__(self, config=None):
        if config is None:
            config = cfg.ConfigOpts()
            config([], default_config_files=[])
        self._config = config
        config.register_opts(list(self.OPTS), group=self.GROUP)
        options = {}
        for opt in self.OPTS:
            try:
                options[opt.dest] = getattr(config[self.GROUP], opt.dest)
            except (ValueError, cfg.Error) as exc:
                raise exceptions.InvalidConfiguration(opt.dest, str(exc),
                                                      group=self.GROUP) from exc
        self._bank = Bank(self.make_backend(options))

    def make_backend(self, options):
        raise NotImplementedError

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


def _required(group, options, *names):
    for name in names:
        if not options.get(name):
            raise exceptions.InvalidConfiguration(name, "must be set", group=group)


class FileBankPlugin(_KarborBankPlugin):
    GROUP = "volume_glance_file_bank"
    OPTS = (
        cfg.StrOpt("path", help="The directory of the bank (created if missing)."),
    )

    def make_backend(self, options):
        _required(self.GROUP, options, "path")
        from karbor_volume_glance.bank.file import FileBackend

        return FileBackend(options["path"])


class S3BankPlugin(_KarborBankPlugin):
    GROUP = "volume_glance_s3_bank"
    OPTS = (
        cfg.StrOpt("bucket", help="The bucket that holds the bank."),
        cfg.StrOpt("prefix", default="", help="A key prefix inside the bucket."),
        cfg.StrOpt("endpoint_url",
                   help="The S3 endpoint (Ceph RGW, SeaweedFS, …); AWS's when "
                   "unset."),
        cfg.StrOpt("region", help="The bucket's region."),
        cfg.StrOpt("access_key",
                   help="Access key; boto3's own chain (environment, "
                   "~/.aws) when unset."),
        cfg.StrOpt("secret_key", secret=True, help="Secret key."),
    )

    def make_backend(self, options):
        _required(self.GROUP, options, "bucket")
        from karbor_volume_glance.bank.s3 import S3Backend

        return S3Backend(**options)


class SwiftBankPlugin(_KarborBankPlugin):
    GROUP = "volume_glance_swift_bank"
    OPTS = (
        cfg.StrOpt("container", help="The container that holds the bank."),
        cfg.StrOpt("prefix", default="", help="An object prefix in the container."),
        cfg.StrOpt("cloud",
                   help="A clouds.yaml cloud whose Keystone session reaches "
                   "Swift."),
        cfg.StrOpt("clouds_yaml", help="The clouds.yaml file (default: the "
                   "usual places)."),
        cfg.StrOpt("auth_url", help="A tempauth (v1) URL, instead of cloud."),
        cfg.StrOpt("user", help="The tempauth user, as account:user."),
        cfg.StrOpt("key", secret=True, help="The tempauth key."),
    )

    def make_backend(self, options):
        _required(self.GROUP, options, "container")
        cloud, clouds_yaml = options.pop("cloud"), options.pop("clouds_yaml")
        if not cloud and not options.get("auth_url"):
            raise exceptions.InvalidConfiguration(
                "cloud", "set cloud (clouds.yaml) or auth_url, user and key",
                group=self.GROUP)
        if cloud:
            from karbor_volume_glance.cloud import factory

            options["session"] = factory.from_cloud_config(cloud,
                                                           clouds_yaml).session
        from karbor_volume_glance.bank.swift import SwiftBackend

        return SwiftBackend(**{k: v for k, v in options.items() if v is not None})
