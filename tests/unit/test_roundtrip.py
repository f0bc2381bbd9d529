"""Protect then restore through the plugin: the restored bytes are the protected."""

import hashlib
import os

import pytest

from karbor_volume_glance.testing import FakeCloud, FakeRecord, volume_resource
from tests.unit.harness import OBJECT_SIZE, Harness

SIZES = {
    "empty": 0,
    "one byte": 1,
    "exactly one object": OBJECT_SIZE,
    "one object and a byte": OBJECT_SIZE + 1,
    "a few MiB": 3 * 1024 * 1024 + 123,
}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_round_trip_is_byte_exact(harness, size):
    data = os.urandom(size)
    volume_id = harness.cloud.add_volume(data=data, size=2)
    meta = harness.protect(volume_id)
    section = harness.section(volume_id)
    assert section.get_object("status") == "available"
    assert meta["chunks_num"] == -(-size // OBJECT_SIZE)
    assert meta["image_size"] == size
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert harness.cloud.leftovers() == []

    new_volume_id = harness.restore(volume_id)
    assert new_volume_id != volume_id
    assert harness.cloud.volume_data(new_volume_id) == data
    assert harness.cloud.leftovers(keep=[new_volume_id]) == []


def test_chunks_are_stored_as_karbor_names_them(harness):
    data = os.urandom(2 * OBJECT_SIZE + 5)
    volume_id = harness.cloud.add_volume(data=data)
    harness.protect(volume_id)
    section = harness.section(volume_id)
    assert section.get_object("data_1") == data[:OBJECT_SIZE]
    assert section.get_object("data_2") == data[OBJECT_SIZE:2 * OBJECT_SIZE]
    assert section.get_object("data_3") == data[2 * OBJECT_SIZE:]
    meta = section.get_object("metadata")
    assert meta["volume_id"] == volume_id
    assert meta["volume_size"] == 1
    assert meta["chunks_num"] == 3
    assert meta["image_metadata"]["checksum"] == hashlib.md5(data).hexdigest()
    assert meta["image_metadata"]["disk_format"] == "raw"
    assert meta["image_metadata"]["container_format"] == "bare"
    assert [c["length"] for c in meta["chunks"]] == [OBJECT_SIZE, OBJECT_SIZE, 5]


def test_restored_volume_has_the_recorded_size_name_and_description(harness):
    volume_id = harness.cloud.add_volume(data=b"abc", size=7)
    harness.protect(volume_id, {"backup_name": "nightly", "description": "d"})
    new_id = harness.restore(
        volume_id, {"restore_name": "back", "restore_description": "again"}
    )
    volume = harness.cloud.client_factory().create_client(
        "cinder", harness.context).volumes.get(new_id)
    assert (volume.size, volume.name, volume.description) == (7, "back", "again")
    meta = harness.section(volume_id).get_object("metadata")
    assert (meta["backup_name"], meta["description"]) == ("nightly", "d")


def test_restore_without_a_name_uses_checkpoint_at_volume(harness):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    new_id = harness.restore(volume_id, params={})
    volume = harness.cloud.client_factory().create_client(
        "cinder", harness.context).volumes.get(new_id)
    assert volume.name == f"{harness.checkpoint.id}@{volume_id}"


def test_restore_fills_new_resources_and_the_restore_record(harness):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    record = FakeRecord()
    new_id = harness.restore(volume_id, record=record)
    resource = volume_resource(volume_id)
    assert new_id is not None
    assert [status for _, status, _ in record.history] == ["restoring", "available"]
    assert record.status_of(resource) == "available"
    assert record.saves == 2


def test_in_use_volume_is_protected_through_a_forced_snapshot(harness):
    server_id = harness.cloud.add_server()
    data = os.urandom(OBJECT_SIZE * 2)
    volume_id = harness.cloud.add_volume(data=data, server_id=server_id)
    harness.protect(volume_id)
    assert harness.cloud.status_of("volume", volume_id) == "in-use"
    assert harness.cloud.volume_data(harness.restore(volume_id)) == data
    assert "snapshot.create" in harness.cloud.calls


def test_backup_from_snapshot_false_uploads_the_volume_itself(cloud, bank):
    harness = Harness(cloud, bank, backup_from_snapshot=False)
    data = os.urandom(OBJECT_SIZE + 10)
    volume_id = cloud.add_volume(data=data)
    meta = harness.protect(volume_id)
    assert meta["backup_from_snapshot"] is False
    assert "snapshot.create" not in cloud.calls
    kinds = sorted(kind for kind, _, _ in cloud.created())
    assert kinds == ["image"]
    assert cloud.leftovers() == []
    assert cloud.status_of("volume", volume_id) == "available"
    assert cloud.volume_data(harness.restore(volume_id)) == data


def test_backup_from_snapshot_false_forces_the_upload_of_an_in_use_volume(cloud, bank):
    cloud.volumes.enable_force_upload = True  # Cinder honours force only then
    harness = Harness(cloud, bank, backup_from_snapshot=False)
    volume_id = cloud.add_volume(data=b"xyz", server_id=cloud.add_server())
    harness.protect(volume_id)
    assert cloud.status_of("volume", volume_id) == "in-use"
    assert cloud.volume_data(harness.restore(volume_id)) == b"xyz"


def test_temporary_resources_are_named_after_what_they_serve(cloud, bank):
    harness = Harness(cloud, bank, backup_from_snapshot=True)
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    names = {kind: name for kind, _, name in harness.cloud.created()}
    assert names == {
        "snapshot": f"temporary_snapshot_of_{volume_id}",
        "volume": f"temporary_volume_of_{volume_id}",
        "image": f"temporary_image_of_{volume_id}",
    }


def test_cross_checkpoint_restore_from_another_cloud(bank):
    """Protect at site A, restore at site B from the same bank."""
    site_a, site_b = FakeCloud(), FakeCloud()
    data = os.urandom(OBJECT_SIZE * 3 + 17)
    volume_id = site_a.add_volume(data=data, size=3)
    harness_a = Harness(site_a, bank)
    harness_a.protect(volume_id)
    harness_b = Harness(site_b, bank)
    harness_b.checkpoint = harness_a.checkpoint
    new_id = harness_b.restore(volume_id)
    assert site_b.volume_data(new_id) == data
    assert site_b.leftovers(keep=[new_id]) == []


def test_slow_transitions_are_polled_through(bank):
    cloud = FakeCloud(transition_polls=4)
    harness = Harness(cloud, bank, backup_from_snapshot=True)  # polls snapshots
    volume_id = cloud.add_volume(data=b"slow")
    harness.protect(volume_id)
    assert cloud.volume_data(harness.restore(volume_id)) == b"slow"
    assert cloud.calls.count("snapshot.get") >= 4
