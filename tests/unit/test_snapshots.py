"""Protecting a user's snapshot, backup_from_snapshot, and the point in time."""

import datetime
import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.cloud import facade
from tests.unit.harness import OBJECT_SIZE, Harness


def test_protecting_a_users_snapshot_backs_up_its_data_not_the_volumes(harness):
    cloud = harness.cloud
    old = os.urandom(2 * OBJECT_SIZE)
    volume_id = cloud.add_volume(data=old)
    taken = datetime.datetime(2026, 11, 20, 8, 30, 15, 123456, datetime.UTC)
    snapshot_id = cloud.add_snapshot(volume_id, created_at=taken)
    cloud.write_volume(volume_id, 0, b"new data after the snapshot")
    meta = harness.protect(volume_id, {"backup_name": "b",
                                       "snapshot_id": snapshot_id})
    assert meta["snapshot_id"] == snapshot_id
    assert meta["data_timestamp"] == "2026-11-20T08:30:15.123456+00:00"
    assert "snapshot.create" not in cloud.calls
    assert "snapshot.delete" not in cloud.calls
    assert cloud.status_of("snapshot", snapshot_id) == "available"
    assert sorted(kind for kind, _, _ in cloud.created()) == ["image", "volume"]
    assert cloud.leftovers() == []
    assert cloud.volume_data(harness.restore(volume_id)) == old


def test_a_users_snapshot_survives_a_failed_protect(harness):
    cloud = harness.cloud
    volume_id = cloud.add_volume(data=b"abc")
    snapshot_id = cloud.add_snapshot(volume_id)
    cloud.inject("volume.upload_to_image", "error")
    with pytest.raises(exceptions.ProtectFailed):
        harness.protect(volume_id, {"backup_name": "b", "snapshot_id": snapshot_id})
    assert cloud.status_of("snapshot", snapshot_id) == "available"
    assert cloud.leftovers() == []


@pytest.mark.parametrize("case, words", [
    ("foreign", "is of volume"),
    ("error", "is error, not available"),
    ("creating", "is creating, not available"),
    ("missing", "not found"),
])
def test_a_snapshot_that_cannot_serve_is_refused_before_anything_is_made(
        harness, case, words):
    cloud = harness.cloud
    volume_id = cloud.add_volume(data=b"abc")
    other_id = cloud.add_volume(data=b"def")
    if case == "foreign":
        snapshot_id = cloud.add_snapshot(other_id)
    elif case == "missing":
        snapshot_id = "no-such-snapshot"
    else:
        snapshot_id = cloud.add_snapshot(volume_id, status=case)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id, {"backup_name": "b", "snapshot_id": snapshot_id})
    assert snapshot_id in str(info.value) and words in str(info.value)
    if case != "missing":
        assert info.value.cause.field == "snapshot_id"
    assert cloud.created() == []
    assert harness.section(volume_id).list_objects(prefix="data_") == []
    assert harness.section(volume_id).list_objects(prefix="metadata") == []


def test_a_temporary_snapshots_creation_time_is_the_point_in_time(cloud, bank,
                                                                  monkeypatch):
    harness = Harness(cloud, bank, backup_from_snapshot=True)
    volume_id = cloud.add_volume(data=b"abc")
    seen = {}
    get_snapshot = facade.Cloud.get_snapshot

    def recording(self, snapshot_id):
        seen[snapshot_id] = get_snapshot(self, snapshot_id)
        return seen[snapshot_id]

    monkeypatch.setattr(facade.Cloud, "get_snapshot", recording)
    meta = harness.protect(volume_id)
    assert meta["snapshot_id"] is None
    (snapshot_id,) = [rid for kind, rid, _ in cloud.created() if kind == "snapshot"]
    # Cinder's created_at of the temporary snapshot, as Cinder reported it
    assert meta["data_timestamp"] == seen[snapshot_id].created_at.isoformat()


def test_without_a_snapshot_the_upload_start_is_the_point_in_time(cloud, bank):
    harness = Harness(cloud, bank, backup_from_snapshot=False)
    volume_id = cloud.add_volume(data=b"abc")
    before = datetime.datetime.now(datetime.UTC)
    meta = harness.protect(volume_id)
    moment = datetime.datetime.fromisoformat(meta["data_timestamp"])
    assert before <= moment <= datetime.datetime.now(datetime.UTC)
    assert meta["snapshot_id"] is None and meta["backup_from_snapshot"] is False


def test_a_snapshot_option_wins_over_backup_from_snapshot_false(cloud, bank):
    harness = Harness(cloud, bank, backup_from_snapshot=False)
    data = os.urandom(100)
    volume_id = cloud.add_volume(data=data)
    snapshot_id = cloud.add_snapshot(volume_id)
    cloud.write_volume(volume_id, 0, b"later")
    meta = harness.protect(volume_id, {"backup_name": "b", "snapshot_id": snapshot_id})
    assert meta["snapshot_id"] == snapshot_id
    assert cloud.volume_data(harness.restore(volume_id)) == data


@pytest.mark.parametrize("raw, expected", [
    ("2026-11-22T04:51:15.000000", "2026-11-22T04:51:15+00:00"),
    ("2026-11-22T04:51:15Z", "2026-11-22T04:51:15+00:00"),
    ("2026-11-22T06:51:15+02:00", "2026-11-22T04:51:15+00:00"),
    (None, None),
])
def test_cinder_times_are_read_as_utc(raw, expected):
    moment = facade.parse_time(raw)
    assert (None if moment is None else moment.isoformat()) == expected


def test_a_snapshot_taken_before_the_volume_grew_keeps_its_size(harness):
    cloud = harness.cloud
    volume_id = cloud.add_volume(data=b"abc", size=1)
    snapshot_id = cloud.add_snapshot(volume_id)
    cloud.state.volumes[volume_id].size = 3  # extended after the snapshot
    meta = harness.protect(volume_id, {"backup_name": "b", "snapshot_id": snapshot_id})
    assert meta["volume_size"] == 1
    restored = harness.restore(volume_id)
    assert cloud.state.volumes[restored].size == 1
