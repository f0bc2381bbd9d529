"""The volume-glance protection plugin: wiring, and Karbor's plugin interface.

Karbor loads this class by the entry point ``volume-glance-protection-plugin``
in the ``karbor.protections`` namespace and calls ``plugin_class(config)``
with the provider file's ConfigOpts. Which operation serves which call is all
this module decides; the work is in :mod:`karbor_volume_glance.operations`.
"""

import os

from karbor_volume_glance import (
    conf,
    exceptions,
    notifications,
    readiness,
    schemas,
)
from karbor_volume_glance.cloud import factory
from karbor_volume_glance.format import sealing
from karbor_volume_glance.operations import (
    base,
    bookkeeping,
    delete,
    keys,
    protect,
    restore,
    verify,
)

VOLUME_RESOURCE_TYPE = "OS::Cinder::Volume"


class VolumeGlanceProtectionPlugin:
    """Protects ``OS::Cinder::Volume`` resources through Glance into a bank.

    :param config: an oslo.config ConfigOpts (Karbor's provider file); the
        plugin reads its ``[volume_glance_plugin]`` options from it and fails
        here, naming the option, if one is invalid. None means the defaults.
    :param client_factory: an object with ``create_client(service, context)``
        for ``'cinder'``, ``'glance'`` and ``'nova'``; None picks Karbor's
        factory inside Karbor and a keystoneauth1 one elsewhere.
    :param keys: where the bank's master key for encrypted backups comes
        from. By default (None) the bank's own key records, opened with the
        key sources of ``config`` (``encrypt``, ``key_file``,
        ``key_manager_secret_id``, ``KARBOR_VOLUME_GLANCE_PASSPHRASE``) as
        the run's request context (:meth:`bank_keys`); a plain bank with
        ``encrypt = false`` stays plain. Else a
        :class:`~karbor_volume_glance.format.keys.MasterKey`, or a callable
        ``keys(section, create=False, context=None)`` returning one (or None)
        for the bank a run's section is in; handed to every operation
        (:meth:`karbor_volume_glance.operations.base.Operation.volume_keys`).
    """

    _SUPPORTED_RESOURCE_TYPES = (VOLUME_RESOURCE_TYPE,)

    def __init__(self, config=None, client_factory=None, notifier=None,
                 keys=None):
        self._config = config
        self.keys = keys if keys is not None else self.bank_keys
        self.settings = conf.load_settings(config)
        self._client_factory = client_factory or factory.default_client_factory()
        self.notifier = (notifier if notifier is not None
                         else notifications.Notifier.from_config(config))

    def bank_keys(self, section, create=False, context=None):
        """The master key of the bank ``section`` is in, opened with this
        plugin's key sources, or None for a plain bank
        (:func:`~karbor_volume_glance.operations.keys.open_master_key`)."""
        return keys.open_master_key(
            section, self._config if self._config is not None else self.settings,
            create=create, context=context)

    # --- Karbor's class-level interface -----------------------------------

    @classmethod
    def get_supported_resources_types(cls):
        return list(cls._SUPPORTED_RESOURCE_TYPES)

    @classmethod
    def _check_type(cls, resource_type):
        if resource_type not in cls._SUPPORTED_RESOURCE_TYPES:
            raise exceptions.UnsupportedResourceType(
                resource_type, cls._SUPPORTED_RESOURCE_TYPES
            )

    @classmethod
    def get_options_schema(cls, resource_type):
        cls._check_type(resource_type)
        return schemas.OPTIONS_SCHEMA

    @classmethod
    def get_restore_schema(cls, resource_type):
        cls._check_type(resource_type)
        return schemas.RESTORE_SCHEMA

    @classmethod
    def get_verify_schema(cls, resource_type):
        cls._check_type(resource_type)
        return schemas.VERIFY_SCHEMA

    @classmethod
    def get_saved_info_schema(cls, resource_type):
        cls._check_type(resource_type)
        return schemas.SAVED_INFO_SCHEMA

    @classmethod
    def get_saved_info(cls, metadata_store, resource):
        """What the bank says of ``resource``'s backup (SAVED_INFO_SCHEMA).

        ``metadata_store`` is the checkpoint, or the resource's bank section.
        Returns None when nothing was saved.
        """
        section = metadata_store
        if hasattr(metadata_store, "get_resource_bank_section"):
            section = metadata_store.get_resource_bank_section(resource.id)
        raw = bookkeeping.read_manifest(section)
        if not isinstance(raw, dict):
            return None
        info = {key: raw[key] for key in schemas.SAVED_INFO_SCHEMA["properties"]
                if key in raw}
        status = bookkeeping.SectionStatus(section, resource.id).get()
        if status is not None:
            info["status"] = status
        return info

    def readable_manifest(self, section, volume_id, checkpoint_id):
        """A backup's manifest as a dict, for showing it: opened (and
        authenticated) when it is sealed and this plugin has the bank's key,
        else as stored (None when there is none)."""
        raw = bookkeeping.read_manifest(section)
        if not sealing.is_sealed(raw):
            return raw
        keys = base.volume_keys(self.keys, section, volume_id)
        return raw if keys is None else keys.open_manifest(checkpoint_id, raw)

    # --- readiness ------------------------------------------------------

    def check_setup(self, bank=None, context=None, key_context=None):
        """Readiness of the configuration, of ``bank`` (a probe object) and,
        given a request context, of Cinder, Glance and Nova; a
        :class:`~karbor_volume_glance.readiness.Readiness`. For an encrypted
        bank, or with ``encrypt`` true, an ``encryption`` line says whether
        the key sources open it (:func:`operations.keys.readiness`), so a
        missing or wrong key fails before anything is made. The key manager
        is asked as ``key_context`` (default: ``context``), so a check of the
        bank alone can still open a key kept there."""
        found = readiness.check(self.settings, bank, self._client_factory,
                                context)
        if bank is None:
            return found
        line = keys.readiness(bank, self._config if self._config is not None
                              else self.settings, os.environ,
                              context=key_context or context)
        if line is None:
            return found
        return readiness.Readiness(
            found.components + (readiness.Component("encryption", *line),))

    # --- after a crash ---------------------------------------------------

    def sweep(self, bank, context=None, dry_run=False):
        """Delete what dead runs left in ``bank`` and in the cloud of
        ``context`` (None: the bank only): the report of
        :meth:`karbor_volume_glance.operations.sweep.Sweep.all`. For Karbor's
        service as for ``karbor-volume-glance sweep``."""
        from karbor_volume_glance.bank import retrying
        from karbor_volume_glance.cloud import facade
        from karbor_volume_glance.operations import sweep

        bank = retrying.retrying(bank, retries=self.settings.bank_retries)
        cloud = (facade.Cloud(self._client_factory, context, self.settings)
                 if context is not None else None)
        return sweep.Sweep(bank.get_sub_section("/"), cloud, self.settings,
                           getattr(context, "project_id", None),
                           dry_run=dry_run).all()

    # --- operations -----------------------------------------------------

    def _operation(self, operation_class, resource):
        self._check_type(resource.type)
        return operation_class(self.settings, self._client_factory, self.notifier,
                               keys=self.keys)

    def get_protect_operation(self, resource):
        return self._operation(protect.ProtectOperation, resource)

    def get_restore_operation(self, resource):
        return self._operation(restore.RestoreOperation, resource)

    def get_delete_operation(self, resource):
        return self._operation(delete.DeleteOperation, resource)

    def get_verify_operation(self, resource):
        return self._operation(verify.VerifyOperation, resource)

    def get_copy_operation(self, resource):
        raise NotImplementedError("volume-glance backups cannot be copied yet")
