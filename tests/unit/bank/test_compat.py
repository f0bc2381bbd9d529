"""Reading sections with Karbor's methods only, races included, in as few
round trips as possible."""

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import Bank, compat, open_bank
from karbor_volume_glance.bank.memory import MemoryBackend


class DeletedWhileRead:
    """A section whose object goes between the listing and the read."""

    def __init__(self, section):
        self._section = section

    def get_object(self, key):
        self._section.delete_object(key)
        raise LookupError(f"{key} is gone")  # as a Karbor bank might say it

    def __getattr__(self, name):
        return getattr(self._section, name)


@pytest.fixture
def section():
    return open_bank("memory://").get_sub_section("/s/")


def test_an_object_deleted_between_listing_and_reading_is_none(section):
    section.update_object("entry", {"a": 1})
    assert compat.read_optional(DeletedWhileRead(section), "entry") is None


def test_a_read_that_fails_while_the_object_exists_is_raised(section):
    section.update_object("entry", {"a": 1})

    class Broken(DeletedWhileRead):
        def get_object(self, key):
            raise OSError("disk error")

    with pytest.raises(OSError, match="disk error"):
        compat.read_optional(Broken(section), "entry")


class Counting(MemoryBackend):
    """A memory backend that records every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def get_object(self, key, context=None):
        self.calls.append("get_object")
        return super().get_object(key, context=context)

    def list_objects(self, *args, **kwargs):
        self.calls.append("list_objects")
        return super().list_objects(*args, **kwargs)

    def delete_object(self, key, context=None):
        self.calls.append("delete_object")
        return super().delete_object(key, context=context)


@pytest.mark.parametrize("present", [True, False], ids=["present", "missing"])
def test_a_read_makes_exactly_one_backend_call(present):
    backend = Counting()
    section = Bank(backend).get_sub_section("/s/")
    if present:
        section.update_object("entry", {"a": 1})
    assert compat.read_optional(section, "entry") == ({"a": 1} if present else None)
    assert backend.calls == ["get_object"]


@pytest.mark.parametrize("present", [True, False], ids=["present", "missing"])
def test_a_delete_makes_exactly_one_backend_call(present):
    backend = Counting()
    section = Bank(backend).get_sub_section("/s/")
    if present:
        section.update_object("entry", 1)
    assert compat.delete_if_present(section, "entry") == (1 if present else 0)
    assert backend.calls == ["delete_object"]


def test_a_karbor_not_found_over_ours_needs_no_listing(section):
    class KarborSection(DeletedWhileRead):
        calls = 0

        def get_object(self, key):
            try:
                return self._section.get_object(key)
            except exceptions.BankObjectNotFound as exc:
                raise LookupError("BankGetObjectFailed") from exc

        def list_objects(self, *args, **kwargs):
            raise AssertionError("no listing is needed")

    assert compat.read_optional(KarborSection(section), "nothing") is None


def test_another_section_is_reached_through_the_banks_get_sub_section():
    class Section:  # a section of another implementation: no (bank, prefix)
        def __init__(self, bank):
            self._bank = bank

    bank = open_bank("memory://")
    bank.update_object("/elsewhere/k", "v")
    other = compat.section_at(Section(bank), "/elsewhere/")
    assert other.get_object("k") == "v"


def test_a_bounded_read_of_a_karbor_section_checks_the_bound_after_the_read():
    """Karbor's own sections take no max_size: the bound is checked after."""
    section = Bank(MemoryBackend()).get_sub_section("/s/")
    section.update_object("chunk", b"x" * 100)
    section.update_object("text", "y" * 100)

    class KarborSection:
        def get_object(self, key):
            return section.get_object(key)

    karbor = KarborSection()
    assert compat.read_bounded(karbor, "chunk", 100) == b"x" * 100
    assert compat.read_bounded(section, "chunk", 100) == b"x" * 100
    for reader in (karbor, section):
        for key in ("chunk", "text"):
            with pytest.raises(exceptions.BankObjectTooLarge, match="100 bytes"):
                compat.read_bounded(reader, key, 99)
