"""Capabilities: each backend declares what it guarantees; callers ask."""

import urllib.parse

import pytest

from karbor_volume_glance.bank import Bank, capabilities, open_bank, retrying
from karbor_volume_glance.bank.capabilities import (
    ALL,
    ATOMIC_REPLACE,
    CONDITIONAL_CREATE,
    LISTING_SEES_WRITES,
)
from karbor_volume_glance.bank.file import FileBackend
from karbor_volume_glance.bank.karbor_plugins import FileBankPlugin
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.bank.s3 import S3Backend
from karbor_volume_glance.bank.swift import SwiftBackend


class KarborBank:
    """Karbor's Bank as the plugin sees it: ``_plugin`` and get_sub_section."""

    def __init__(self, plugin):
        self._plugin = plugin

    def get_sub_section(self, section, is_writable=True):
        return KarborSection(self, section)


class KarborSection:
    def __init__(self, bank, prefix):
        self._bank = bank
        self._prefix = prefix


class KarborsOwnPlugin:
    """A bank plugin of Karbor's own (its swift or s3 plugin): no declaration."""


def swift_url(query=""):
    return SwiftBackend.from_url(urllib.parse.urlsplit(
        "swift://c/p?auth_url=http://127.0.0.1:1/auth/v1.0&user=u"
        f"&create_container=false{query}"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setenv("KVG_SWIFT_KEY", "k")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_memory_and_file_banks_have_everything(tmp_path):
    assert capabilities.of(open_bank("memory://")) == ALL
    assert capabilities.of(Bank(FileBackend(tmp_path))) == ALL


def test_s3_lists_consistently_and_replaces_atomically_but_no_conditional_create():
    backend = S3Backend("bucket", endpoint_url="http://127.0.0.1:1")
    assert capabilities.of(Bank(backend)) == {LISTING_SEES_WRITES, ATOMIC_REPLACE}


def test_swift_listings_are_consistent_only_when_the_operator_says_so():
    assert capabilities.of(swift_url()) == {ATOMIC_REPLACE, CONDITIONAL_CREATE}
    assert capabilities.of(swift_url("&consistent_listings=true")) == ALL


def test_sections_and_retrying_wrappers_have_their_banks_capabilities():
    bank = retrying.retrying(Bank(swift_url()), retries=1)
    section = bank.get_sub_section("/a/").get_sub_section("b")
    assert capabilities.of(section) == {ATOMIC_REPLACE, CONDITIONAL_CREATE}


def test_karbor_sections_reach_our_backend_through_karbors_bank(tmp_path):
    over_memory = KarborBank(MemoryBackend()).get_sub_section("/a/")
    assert capabilities.of(over_memory) == ALL
    plugin = FileBankPlugin.__new__(FileBankPlugin)  # as Karbor's provider builds
    plugin._bank = Bank(FileBackend(tmp_path))
    assert capabilities.of(KarborBank(plugin).get_sub_section("/a/")) == ALL


def test_karbors_own_banks_have_none():
    section = KarborBank(KarborsOwnPlugin()).get_sub_section("/a/")
    assert capabilities.of(section) == frozenset()
    assert capabilities.missing(section, *capabilities.INCREMENTAL_NEEDS) == list(
        capabilities.INCREMENTAL_NEEDS)


def test_require_names_what_is_missing_and_what_needed_it():
    section = Bank(swift_url()).get_sub_section("/a/")
    capabilities.require(section, ATOMIC_REPLACE, what="a status write")
    with pytest.raises(capabilities.MissingCapability) as caught:
        capabilities.require(section, *capabilities.INCREMENTAL_NEEDS,
                             what="an incremental backup")
    assert caught.value.missing == (LISTING_SEES_WRITES,)
    assert str(caught.value) == (
        "an incremental backup needs a bank with listing sees every finished "
        "write; the swift bank does not declare it")


def test_full_reason_says_why_a_backup_cannot_be_incremental():
    assert capabilities.full_reason(open_bank("memory://")) is None
    reason = capabilities.full_reason(Bank(swift_url()))
    assert "listing sees every finished write" in reason
    assert "swift bank" in reason
