"""The path protect takes to an image (issue 12, D2): with
``backup_from_snapshot = false`` an in-use volume is uploaded with ``force``,
which Cinder honours only with ``enable_force_upload``; refused, protect takes
the snapshot path and says so in the manifest and the log."""

import logging
import os

from tests.unit.harness import OBJECT_SIZE, Harness


def in_use_volume(cloud, data):
    return cloud.add_volume(data=data, server_id=cloud.add_server())


def test_a_refused_forced_upload_falls_back_to_a_snapshot(cloud, bank, caplog):
    assert cloud.volumes.enable_force_upload is False  # Cinder's default
    harness = Harness(cloud, bank, backup_from_snapshot=False)
    data = os.urandom(OBJECT_SIZE + 3)
    volume_id = in_use_volume(cloud, data)
    with caplog.at_level(logging.WARNING):
        meta = harness.protect(volume_id)
    assert meta["backup_path"] == "temporary_snapshot"
    assert "enable_force_upload" in meta["backup_path_reason"]
    assert "status must be available" in meta["backup_path_reason"]
    assert "snapshot.create" in cloud.calls
    assert any("enable_force_upload" in r.getMessage() and volume_id in
               r.getMessage() for r in caplog.records)
    assert cloud.leftovers() == []
    assert cloud.status_of("volume", volume_id) == "in-use"
    assert cloud.volume_data(harness.restore(volume_id))[:len(data)] == data


def test_an_honoured_forced_upload_takes_no_snapshot(cloud, bank):
    cloud.volumes.enable_force_upload = True
    harness = Harness(cloud, bank, backup_from_snapshot=False)
    volume_id = in_use_volume(cloud, b"abc")
    meta = harness.protect(volume_id)
    assert meta["backup_path"] == "volume"
    assert "snapshot.create" not in cloud.calls
    assert sorted(kind for kind, _, _ in cloud.created()) == ["image"]


def test_the_manifest_says_which_path_each_backup_took(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"abc")
    assert harness.protect(volume_id)["backup_path"] == "temporary_snapshot"
    snapshot_id = cloud.add_snapshot(volume_id)
    meta = harness.protect(volume_id, {"backup_name": "b",
                                       "snapshot_id": snapshot_id})
    assert meta["backup_path"] == "user_snapshot"
    direct = Harness(cloud, bank, backup_from_snapshot=False)
    meta = direct.protect(volume_id)
    assert (meta["backup_path"], meta["backup_path_reason"]) == (
        "volume", "backup_from_snapshot is false")
