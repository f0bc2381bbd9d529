"""The plugin as Karbor sees it: entry point, interface, schemas, wiring."""

import pytest
from stevedore import driver

from karbor_volume_glance import exceptions, schemas
from karbor_volume_glance.cloud import factory
from karbor_volume_glance.operations import base
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import FakeCloud, Resource, volume_resource
from karbor_volume_glance.testing.karbor import HOOKS

VOLUME = "OS::Cinder::Volume"


def test_stevedore_loads_the_plugin_by_its_entry_point_name():
    manager = driver.DriverManager(
        "karbor.protections", "volume-glance-protection-plugin"
    )
    assert manager.driver is VolumeGlanceProtectionPlugin


def test_karbor_builds_the_plugin_with_its_config_only():
    plugin = VolumeGlanceProtectionPlugin(None)
    assert isinstance(plugin._client_factory, factory.ContextClientFactory)


def test_class_level_interface():
    cls = VolumeGlanceProtectionPlugin
    assert cls.get_supported_resources_types() == [VOLUME]
    assert cls.get_options_schema(VOLUME) is schemas.OPTIONS_SCHEMA
    assert cls.get_restore_schema(VOLUME) is schemas.RESTORE_SCHEMA
    assert cls.get_verify_schema(VOLUME) is schemas.VERIFY_SCHEMA
    assert cls.get_saved_info_schema(VOLUME) is schemas.SAVED_INFO_SCHEMA
    with pytest.raises(exceptions.UnsupportedResourceType, match="OS::Nova::Server"):
        cls.get_options_schema("OS::Nova::Server")


def test_the_spec_schemas_require_the_names():
    assert schemas.OPTIONS_SCHEMA["required"] == ["backup_name"]
    assert schemas.RESTORE_SCHEMA["required"] == ["restore_name"]


@pytest.mark.parametrize("getter", ["get_protect_operation", "get_restore_operation",
                                    "get_delete_operation", "get_verify_operation"])
def test_every_operation_has_karbors_four_hooks(getter):
    plugin = VolumeGlanceProtectionPlugin(client_factory=FakeCloud().client_factory())
    operation = getattr(plugin, getter)(volume_resource("v"))
    assert isinstance(operation, base.Operation)
    for hook in HOOKS:
        assert callable(getattr(operation, hook))


def test_operations_refuse_other_resource_types():
    plugin = VolumeGlanceProtectionPlugin(client_factory=object())
    with pytest.raises(exceptions.UnsupportedResourceType):
        plugin.get_protect_operation(Resource(type="OS::Glance::Image", id="i"))


def test_copy_is_not_offered():
    plugin = VolumeGlanceProtectionPlugin(client_factory=object())
    with pytest.raises(NotImplementedError):
        plugin.get_copy_operation(volume_resource("v"))


def test_saved_info_comes_from_the_bank(harness):
    volume_id = harness.cloud.add_volume(data=b"abcd", size=3)
    harness.protect(volume_id, {"backup_name": "n"})
    info = VolumeGlanceProtectionPlugin.get_saved_info(
        harness.checkpoint, volume_resource(volume_id)
    )
    moment = info.pop("data_timestamp")
    assert moment.endswith("+00:00")
    assert info == {"volume_id": volume_id, "volume_size": 3, "image_size": 4,
                    "chunks_num": 1, "backup_name": "n", "status": "available",
                    "snapshot_id": None, "incremental": False,
                    "parent_checkpoint_id": None}
    section = harness.section(volume_id)
    assert VolumeGlanceProtectionPlugin.get_saved_info(
        section, volume_resource(volume_id))["image_size"] == 4
    assert VolumeGlanceProtectionPlugin.get_saved_info(
        harness.checkpoint, volume_resource("other")) is None
