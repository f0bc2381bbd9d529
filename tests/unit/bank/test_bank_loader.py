"""Finding backends through stevedore and opening banks by URL."""

import urllib.parse

import pytest

import karbor_volume_glance.bank as bank_package
from karbor_volume_glance.bank import Bank, BankBackend, load_backend, open_bank
from karbor_volume_glance.bank.file import FileBackend
from karbor_volume_glance.bank.loader import backend_class, known_backend_names
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.exceptions import BankError, UnknownBankBackend


def test_the_package_exports():
    assert set(bank_package.__all__) == {
        "Bank",
        "BankBackend",
        "BankSection",
        "load_backend",
        "open_bank",
    }


def test_known_backends_include_memory_and_file():
    names = known_backend_names()
    assert {"memory", "file"} <= set(names)
    assert names == sorted(names)


def test_load_memory_backend():
    backend = load_backend("memory")
    assert isinstance(backend, MemoryBackend)
    assert isinstance(backend, BankBackend)
    assert load_backend("memory").get_owner_id() != backend.get_owner_id()


def test_load_file_backend_passes_its_arguments(tmp_path):
    backend = load_backend("file", path=str(tmp_path / "bank"))
    assert isinstance(backend, FileBackend)
    assert backend.path == str(tmp_path / "bank")


def test_backend_class():
    assert backend_class("memory") is MemoryBackend
    assert backend_class("file") is FileBackend


@pytest.mark.parametrize("name", ["nope", "", None])
def test_unknown_backend_names(name):
    with pytest.raises(UnknownBankBackend) as caught:
        load_backend(name)
    assert caught.value.name == name
    assert "file, memory" in str(caught.value)


def test_open_memory_bank():
    bank = open_bank("memory://")
    assert isinstance(bank, Bank)
    assert isinstance(bank.backend, MemoryBackend)
    assert bank.list_objects() == []
    bank.update_object("/x", 1)
    assert open_bank("memory://").list_objects() == []


def test_open_file_bank(tmp_path):
    bank = open_bank(f"file://{tmp_path}/bank")
    assert isinstance(bank.backend, FileBackend)
    assert bank.backend.path == str(tmp_path / "bank")
    bank.update_object("/x", "kept")
    reopened = open_bank(f"file://{tmp_path}/bank")
    assert reopened.get_object("/x") == "kept"
    assert reopened.get_owner_id() == bank.get_owner_id()


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("nfs://server/bank", UnknownBankBackend, "no bank backend named 'nfs'"),
        ("/srv/bank", BankError, "no scheme"),
        ("file://relative", BankError, "absolute path"),
        ("file:relative", BankError, "absolute path"),
        ("memory://somewhere", BankError, "just 'memory://'"),
        (None, BankError, "must be a str"),
    ],
)
def test_open_bank_refuses(url, error, message):
    with pytest.raises(error, match=message):
        open_bank(url)


def test_a_backend_without_urls_refuses_from_url():
    class NoUrls(MemoryBackend):
        from_url = vars(BankBackend)["from_url"]  # the default, unbound

    with pytest.raises(BankError, match="NoUrls bank backend cannot be opened"):
        NoUrls.from_url(urllib.parse.urlsplit("nourls://"))
