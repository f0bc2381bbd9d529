"""Our banks as Karbor bank plugins, without Karbor installed (its own
machinery is exercised in tests/karbor)."""

import pytest
import stevedore
from oslo_config import cfg

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import karbor_plugins


def provider_config(tmp_path, text):
    path = tmp_path / "provider.conf"
    path.write_text(text)
    config = cfg.ConfigOpts()
    config([f"--config-file={path}"], default_config_files=[])
    return config


@pytest.fixture
def plugin(tmp_path):
    config = provider_config(
        tmp_path, f"[volume_glance_file_bank]\npath = {tmp_path}/bank\n")
    return karbor_plugins.FileBankPlugin(config)


@pytest.mark.parametrize("name, cls", [
    ("volume-glance-file-bank", karbor_plugins.FileBankPlugin),
    ("volume-glance-s3-bank", karbor_plugins.S3BankPlugin),
    ("volume-glance-swift-bank", karbor_plugins.SwiftBankPlugin),
])
def test_the_entry_points_load_with_stevedore(name, cls):
    manager = stevedore.driver.DriverManager("karbor.protections", name)
    assert manager.driver is cls


def test_values_keep_their_type_binary_included(plugin):
    chunk = bytes(range(256)) * 4
    plugin.update_object("/checkpoints/c/resource-data/v/data_1", chunk)
    plugin.update_object("/checkpoints/c/index.json", {"status": "available"})
    assert plugin.get_object("/checkpoints/c/resource-data/v/data_1") == chunk
    assert plugin.get_object("/checkpoints/c/index.json") == {
        "status": "available"}


def test_karbors_double_slash_root_lists_the_bank(plugin):
    plugin.update_object("/a/b", "x")
    plugin.update_object("/c", "y")
    assert plugin.list_objects("//") == ["/a/b", "/c"]
    assert plugin.list_objects("/a/") == ["/a/b"]
    assert plugin.list_objects("//", limit=1, marker="//a/b") == ["/c"]


def test_a_missing_object_is_our_error_without_karbor(plugin):
    with pytest.raises(exceptions.BankObjectNotFound):
        plugin.get_object("/nothing")
    plugin.update_object("/k", "v")
    plugin.delete_object("/k")
    assert plugin.list_objects("//") == []


def test_the_owner_id_is_stable(tmp_path):
    text = f"[volume_glance_file_bank]\npath = {tmp_path}/bank\n"
    first = karbor_plugins.FileBankPlugin(provider_config(tmp_path, text))
    again = karbor_plugins.FileBankPlugin(provider_config(tmp_path, text))
    assert first.get_owner_id() == again.get_owner_id()


@pytest.mark.parametrize("cls, option", [
    (karbor_plugins.FileBankPlugin, "path"),
    (karbor_plugins.S3BankPlugin, "bucket"),
    (karbor_plugins.SwiftBankPlugin, "container"),
])
def test_a_missing_required_option_is_named(tmp_path, cls, option):
    with pytest.raises(exceptions.InvalidConfiguration) as info:
        cls(provider_config(tmp_path, ""))
    assert info.value.option == option and info.value.group == cls.GROUP


def test_swift_needs_a_cloud_or_tempauth(tmp_path):
    config = provider_config(tmp_path, "[volume_glance_swift_bank]\ncontainer = c\n")
    with pytest.raises(exceptions.InvalidConfiguration) as info:
        karbor_plugins.SwiftBankPlugin(config)
    assert info.value.option == "cloud"
