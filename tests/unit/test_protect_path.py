"""The path protect takes to an image (issue 12, D2): with
``backup_from_snapshot = false`` an in-use volume is uploaded with ``force``,
which Cinder honours only with ``enable_force_upload``; refused, protect takes
the snapshot path and says so in the manifest and the log. Issue 16: with
``auto`` (the default) an available volume is uploaded itself, an in-use one
goes through a snapshot."""

import logging
import os

from karbor_volume_glance.cloud import facade
from karbor_volume_glance.operations import protect
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
    harness = Harness(cloud, bank, backup_from_snapshot=True)
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


def test_auto_uploads_an_available_volume_itself(cloud, bank):
    harness = Harness(cloud, bank)  # backup_from_snapshot = auto, the default
    data = os.urandom(2 * OBJECT_SIZE + 5)
    volume_id = cloud.add_volume(data=data)
    meta = harness.protect(volume_id)
    assert meta["backup_path"] == "volume"
    assert meta["backup_path_reason"] == (
        "backup_from_snapshot is auto and the volume is available (Cinder "
        "holds it in uploading)")
    assert meta["backup_from_snapshot"] == "auto"
    assert "snapshot.create" not in cloud.calls
    assert "volume.create" not in cloud.calls
    assert sorted(kind for kind, _, _ in cloud.created()) == ["image"]
    assert cloud.leftovers() == []
    assert cloud.status_of("volume", volume_id) == "available"
    assert cloud.volume_data(harness.restore(volume_id))[:len(data)] == data


def test_auto_takes_a_snapshot_of_an_in_use_volume(cloud, bank):
    cloud.volumes.enable_force_upload = True  # auto never forces all the same
    harness = Harness(cloud, bank)
    data = os.urandom(OBJECT_SIZE + 1)
    volume_id = in_use_volume(cloud, data)
    meta = harness.protect(volume_id)
    assert (meta["backup_path"], meta["backup_path_reason"]) == (
        "temporary_snapshot", "backup_from_snapshot is auto and the volume is "
        "in-use")
    assert "snapshot.create" in cloud.calls
    assert cloud.leftovers() == []
    assert cloud.status_of("volume", volume_id) == "in-use"
    assert cloud.volume_data(harness.restore(volume_id))[:len(data)] == data


def test_auto_chooses_again_when_the_volume_was_attached_meanwhile(
        cloud, bank, monkeypatch, caplog):
    """Between protect's look at the volume and its upload the volume was
    attached: Cinder refuses the upload (status must be available) and
    protect goes through a snapshot, saying so."""
    harness = Harness(cloud, bank)
    data = os.urandom(OBJECT_SIZE + 1)
    volume_id = cloud.add_volume(data=data)
    upload = facade.Cloud.upload_volume_to_image

    def attached_first(self, source_id, name, force=False):
        if source_id == volume_id and cloud.status_of("volume", volume_id) \
                == "available":
            with cloud.lock:
                record = cloud.state.volumes[volume_id]
                cloud.state.set_status(record, "in-use")
        return upload(self, source_id, name, force=force)

    monkeypatch.setattr(facade.Cloud, "upload_volume_to_image", attached_first)
    with caplog.at_level(logging.INFO, logger=protect.__name__):
        meta = harness.protect(volume_id)
    assert (meta["backup_path"], meta["backup_path_reason"]) == (
        "temporary_snapshot", "backup_from_snapshot is auto and the volume is "
        "in-use")
    assert any("refused to upload" in r.getMessage() for r in caplog.records)
    assert cloud.leftovers() == []
    assert cloud.volume_data(harness.restore(volume_id))[:len(data)] == data


def test_auto_waits_out_another_runs_upload_of_the_volume(cloud, bank,
                                                          monkeypatch):
    """Another protect uploads the same available volume: Cinder refuses this
    one's upload while the volume is ``uploading``; it waits and uploads
    the volume itself in turn."""
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"abc")
    upload = facade.Cloud.upload_volume_to_image
    others = []

    def another_run_first(self, source_id, name, force=False):
        if not others:
            others.append(upload(self, source_id, "another run", force=False))
        return upload(self, source_id, name, force=force)

    monkeypatch.setattr(facade.Cloud, "upload_volume_to_image",
                        another_run_first)
    meta = harness.protect(volume_id)
    assert meta["backup_path"] == "volume"
    assert "snapshot.create" not in cloud.calls
    assert cloud.calls.count("volume.upload_to_image") == 3
