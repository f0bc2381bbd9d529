"""Reading sections with Karbor's methods only, races included."""

import pytest

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.operations import sectionio


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
    assert sectionio.read_optional(DeletedWhileRead(section), "entry") is None


def test_a_read_that_fails_while_the_object_exists_is_raised(section):
    section.update_object("entry", {"a": 1})

    class Broken(DeletedWhileRead):
        def get_object(self, key):
            raise OSError("disk error")

    with pytest.raises(OSError, match="disk error"):
        sectionio.read_optional(Broken(section), "entry")
