"""The bank helpers against Karbor 1.6's own Bank, BankSection and banks:
retries, one-round-trip reads, reaching other sections, capabilities."""

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's deprecation notice
    from karbor import exception as karbor_exception
    from karbor.services.protection import bank_plugin
    from karbor.services.protection.bank_plugins import file_system_bank_plugin

from oslo_config import cfg

from karbor_volume_glance.bank import Bank, capabilities, compat, retrying
from karbor_volume_glance.bank.karbor_plugins import FileBankPlugin
from karbor_volume_glance.bank.memory import MemoryBackend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


class FlakyMemory(MemoryBackend):
    """Our memory backend as Karbor's plugin; its next writes time out."""

    def __init__(self):
        super().__init__()
        self.write_failures = 0
        self.calls = []

    def update_object(self, key, value, context=None):
        self.calls.append(("update", key))
        if self.write_failures:
            self.write_failures -= 1
            raise ConnectionResetError("connection reset by peer")
        return super().update_object(key, value, context=context)

    def get_object(self, key, context=None):
        self.calls.append(("get", key))
        return super().get_object(key, context=context)

    def list_objects(self, *args, **kwargs):
        self.calls.append(("list", kwargs.get("prefix")))
        return super().list_objects(*args, **kwargs)


@pytest.fixture
def karbors_fs_bank(tmp_path):
    config = cfg.ConfigOpts()
    config([], default_config_files=[])
    config.register_opts(file_system_bank_plugin.file_system_bank_plugin_opts,
                         "file_system_bank_plugin")
    config.set_override("file_system_bank_path", str(tmp_path / "fs"),
                        "file_system_bank_plugin")
    return bank_plugin.Bank(file_system_bank_plugin.FileSystemBankPlugin(config))


def test_a_karbor_section_wrapped_once_retries_a_status_write():
    backend = FlakyMemory()
    section = bank_plugin.Bank(backend).get_sub_section("/checkpoints/c/")
    wrapped = retrying.retrying(section, policy=retrying.Policy(3, sleep=Sleeps()))
    backend.write_failures = 2
    wrapped.update_object("status", "available")
    assert backend.get_object("/checkpoints/c/status") == "available"
    assert backend.calls.count(("update", "/checkpoints/c/status")) == 3


def test_another_section_of_a_karbor_bank_comes_from_its_get_sub_section():
    backend = FlakyMemory()
    section = bank_plugin.Bank(backend).get_sub_section("/checkpoints/c/")
    wrapped = retrying.retrying(section, retries=2)
    other = compat.section_at(wrapped, "/volume_glance/by-volume/v/")
    assert isinstance(retrying.unwrap(other), bank_plugin.BankSection)
    backend.write_failures = 1
    other.update_object("entry", {"a": 1})  # retried: the policy came along
    assert backend.get_object("/volume_glance/by-volume/v/entry") == {"a": 1}


def test_a_read_through_our_plugin_in_karbor_needs_no_listing(tmp_path):
    provider_file = tmp_path / "provider.conf"
    provider_file.write_text(f"[volume_glance_file_bank]\npath = {tmp_path}/bank\n")
    config = cfg.ConfigOpts()
    config([f"--config-file={provider_file}"], default_config_files=[])
    plugin = FileBankPlugin(config)
    section = bank_plugin.Bank(plugin).get_sub_section("/s/")
    section.update_object("there", 1)

    def no_listing(*args, **kwargs):
        raise AssertionError("a read of ours needs no listing")

    plugin.list_objects = no_listing
    assert compat.read_optional(section, "there") == 1
    assert compat.read_optional(section, "missing") is None


def test_karbors_own_bank_falls_back_to_one_listing(karbors_fs_bank):
    section = karbors_fs_bank.get_sub_section("/s/")
    section.update_object("there", {"a": 1})
    with pytest.raises(karbor_exception.BankGetObjectFailed):
        section.get_object("missing")
    assert compat.read_optional(section, "missing") is None
    assert compat.read_optional(section, "there") == {"a": 1}
    assert compat.delete_if_present(section, "missing") == 0
    assert compat.delete_if_present(section, "there") == 1


def test_capabilities_in_karbor(karbors_fs_bank, tmp_path):
    assert capabilities.of(karbors_fs_bank.get_sub_section("/s/")) == frozenset()
    ours = bank_plugin.Bank(MemoryBackend()).get_sub_section("/s/")
    assert capabilities.of(retrying.retrying(ours, retries=1)) == capabilities.ALL
    assert capabilities.of(Bank(MemoryBackend())) == capabilities.ALL
