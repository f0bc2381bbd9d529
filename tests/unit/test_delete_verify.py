"""Delete removes everything a backup stored; verify reads it all back."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import Bank
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.testing import FakeRecord, volume_resource
from karbor_volume_glance.testing.karbor import FakeCheckpoint
from tests.unit.harness import OBJECT_SIZE


def test_delete_removes_every_object_and_marks_deleted(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(5 * OBJECT_SIZE))
    harness.protect(volume_id)
    section = harness.section(volume_id)
    assert len(section.list_objects()) == 7  # status, metadata, 5 chunks
    assert harness.delete(volume_id) == 6
    assert section.list_objects() == ["status"]
    assert section.get_object("status") == "deleted"


def test_delete_twice_is_harmless(harness):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    harness.delete(volume_id)
    assert harness.delete(volume_id) == 0
    assert harness.section(volume_id).get_object("status") == "deleted"


def test_delete_touches_only_its_own_section(harness):
    one = harness.cloud.add_volume(data=b"one")
    two = harness.cloud.add_volume(data=b"two")
    harness.protect(one)
    harness.protect(two)
    other_checkpoint = FakeCheckpoint(harness.bank)
    harness.protect(one, checkpoint=other_checkpoint)
    harness.delete(one)
    assert harness.cloud.volume_data(harness.restore(two)) == b"two"
    restored = harness.restore(one, checkpoint=other_checkpoint)
    assert harness.cloud.volume_data(restored) == b"one"


def test_delete_of_many_chunks_pages_through_the_listing(cloud, bank):
    from tests.unit.harness import Harness

    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=os.urandom(1500 * 4096))
    section = harness.section(volume_id)
    section.update_object("status", "error")  # a failed backup's leftovers
    for index in range(1, 1201):
        section.update_object(f"data_{index}", b"x")
    assert harness.delete(volume_id) == 1200
    assert section.list_objects() == ["status"]


def test_delete_failure_marks_error_and_names_the_key(cloud):
    class NoDeletes(MemoryBackend):
        def delete_object(self, key, context=None):
            raise exceptions.BankError(f"permission denied on {key}", key=key)

    from tests.unit.harness import Harness

    harness = Harness(cloud, Bank(NoDeletes()))
    volume_id = cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    with pytest.raises(exceptions.DeleteFailed, match="data_1|metadata"):
        harness.delete(volume_id)
    assert harness.section(volume_id).get_object("status") == "error"


def test_verify_of_a_good_backup(harness):
    data = os.urandom(2 * OBJECT_SIZE + 1)
    volume_id = harness.cloud.add_volume(data=data)
    harness.protect(volume_id)
    record = FakeRecord()
    result = harness.verify(volume_id, record=record)
    assert result == {"deep": False, "objects": 3, "bytes": len(data)}
    assert record.status_of(volume_resource(volume_id)) == "available"
    deep = harness.verify(volume_id, params={"deep": True})
    assert deep == {"deep": True, "objects": 3, "bytes": len(data), "chunks": 3,
                    "checked": ["data_1", "data_2", "data_3"], "bad": []}
    assert harness.cloud.calls.count("image.create") == 0


def test_only_deep_verify_sees_a_flipped_byte(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    harness.protect(volume_id)
    section = harness.section(volume_id)
    chunk = bytearray(section.get_object("data_2"))
    chunk[7] ^= 1
    section.update_object("data_2", bytes(chunk))
    assert harness.verify(volume_id)["objects"] == 2  # sizes are right
    with pytest.raises(exceptions.VerifyFailed, match="chunk data_2: sha256"):
        harness.verify(volume_id, params={"deep": True})


@pytest.mark.parametrize(
    "damage, words",
    [("missing", "chunk data_2: is missing"), ("truncated", "chunk data_2: is"),
     ("status", "has status 'error'"), ("metadata", "no metadata object")],
)
def test_verify_names_what_is_wrong(harness, damage, words):
    volume_id = harness.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.protect(volume_id)
    section = harness.section(volume_id)
    if damage == "missing":
        section.delete_object("data_2")
    elif damage == "truncated":
        section.update_object("data_2", b"short")
    elif damage == "status":
        section.update_object("status", "error")
    else:
        section.delete_object("metadata")
    record = FakeRecord()
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, record=record)
    assert words in str(info.value)
    resource = volume_resource(volume_id)
    assert record.status_of(resource) == "error"
    assert words in record.reason_of(resource)


def test_a_record_that_cannot_save_does_not_fail_the_operation(harness):
    class Broken(FakeRecord):
        def save(self):
            raise RuntimeError("database gone")

    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    assert harness.verify(volume_id, record=Broken())["bytes"] == 3
