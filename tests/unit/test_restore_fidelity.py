"""Restore on the cloud it lands in (issue 12): D1 (a temporary image Glance
cannot delete because the restored volume is a clone of it), D3 (the volume's
attributes come back) and D8 (quota and volume type checked before anything
is uploaded)."""

import os

import pytest
from oslo_messaging.notify import _impl_test

from karbor_volume_glance import exceptions
from karbor_volume_glance.operations import restore as restore_op
from karbor_volume_glance.testing import FakeCloud, FakeRecord, volume_resource
from tests.unit.harness import OBJECT_SIZE, Harness
from tests.unit.test_notifications import NotifyingHarness
from tests.unit.test_notifications import messages as notified

UEFI = {"hw_firmware_type": "uefi", "os_distro": "ubuntu",
        "hw_disk_bus": "scsi", "image_id": "original-image",
        "image_name": "ubuntu-24.04", "checksum": "0" * 32, "size": "12345",
        "disk_format": "qcow2", "container_format": "bare", "min_disk": "1",
        "min_ram": "512"}


def _images_named(cloud, prefix):
    with cloud.lock:
        return [image for image in cloud.state.images.values()
                if (image.name or "").startswith(prefix)]


def _volume(cloud, volume_id):
    with cloud.lock:
        return cloud.state.volumes[volume_id]


# --- D1 -------------------------------------------------------------------


@pytest.fixture
def rbd_cloud():
    return FakeCloud(transition_polls=1, glance_rbd_direct_url=True)


def test_d1_rbd_restore_reports_and_tags_the_image_it_cannot_delete(
        rbd_cloud, bank):
    _impl_test.reset()
    harness = NotifyingHarness(rbd_cloud, bank)
    data = os.urandom(2 * OBJECT_SIZE + 5)
    volume_id = rbd_cloud.add_volume(data=data, size=1)
    harness.protect(volume_id)
    record = FakeRecord()
    new_id = harness.restore(volume_id, record=record)
    assert rbd_cloud.volume_data(new_id)[:len(data)] == data
    left = _images_named(rbd_cloud, "temporary_image_for_restore_of_")
    assert len(left) == 1  # Glance answered 409: the volume is its clone
    image = left[0]
    # findable by a later sweep, and naming the volume that holds it
    assert image.properties[restore_op.LEFTOVER_PROPERTY] == "restore"
    assert image.properties[restore_op.HOLDER_PROPERTY] == new_id
    resource = volume_resource(volume_id)
    assert record.status_of(resource) == "available"
    assert image.id in record.reason_of(resource)
    ends = [payload for event_type, _priority, payload in notified()
            if event_type == "volume_glance.restore.end"]
    assert ends[0]["leftovers"] == [
        {"kind": "image", "resource_id": image.id,
         "reason": ends[0]["leftovers"][0]["reason"]}]
    assert "in use" in ends[0]["leftovers"][0]["reason"]
    # our bookkeeping never reaches the restored volume
    restored = _volume(rbd_cloud, new_id)
    assert not any(key.startswith("kvg_") for key in restored.image_metadata)
    assert not any(key.startswith("kvg_") for key in restored.metadata)
    # once the volume is gone, the sweep deletes the image
    cinder = rbd_cloud.client_factory().create_client("cinder")
    glance = rbd_cloud.client_factory().create_client("glance")
    found = list(glance.images.list(filters={
        restore_op.LEFTOVER_PROPERTY: "restore"}))
    assert [i["id"] for i in found] == [image.id]
    cinder.volumes.delete(new_id)
    rbd_cloud.settle()
    glance.images.delete(image.id)
    assert rbd_cloud.leftovers(keep=()) == []
    _impl_test.reset()


def test_d1_without_rbd_the_image_is_deleted_and_nothing_is_reported(
        cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE), size=1)
    harness.protect(volume_id)
    record = FakeRecord()
    new_id = harness.restore(volume_id, record=record)
    assert cloud.leftovers(keep=[new_id]) == []
    assert record.reason_of(volume_resource(volume_id)) is None


# --- D3 -------------------------------------------------------------------


def _protect_and_restore(cloud, bank, params=None, **attributes):
    harness = Harness(cloud, bank)
    data = os.urandom(OBJECT_SIZE + 7)
    volume_id = cloud.add_volume(data=data, size=1, **attributes)
    harness.protect(volume_id)
    record = FakeRecord()
    new_id = harness.restore(volume_id, params or {"restore_name": "r"},
                             record=record)
    assert cloud.volume_data(new_id)[:len(data)] == data
    return harness, volume_id, _volume(cloud, new_id), record


def test_d3_a_uefi_boot_volume_comes_back_as_it_was(cloud, bank):
    cloud.volumes.add_volume_type("fast")
    cloud.volumes.availability_zones.append("az2")
    _h, volume_id, restored, _r = _protect_and_restore(
        cloud, bank, bootable=True, image_metadata=dict(UEFI),
        metadata={"owner": "team-a"}, volume_type="fast",
        availability_zone="az2", description="boot disk")
    assert restored.bootable is True
    for key in ("hw_firmware_type", "os_distro", "hw_disk_bus", "image_id",
                "image_name", "checksum", "size", "disk_format", "min_ram"):
        assert restored.image_metadata[key] == UEFI[key], key
    assert restored.metadata == {"owner": "team-a"}
    assert restored.volume_type == "fast"
    assert restored.availability_zone == "az2"
    assert restored.description == "boot disk"


def test_d3_a_blank_volume_comes_back_not_bootable(cloud, bank):
    _h, _v, restored, _r = _protect_and_restore(
        cloud, bank, metadata={"k": "v"})
    assert restored.bootable is False
    assert restored.metadata == {"k": "v"}
    assert restored.image_metadata == {}


def test_d3_manifest_records_the_attributes(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1, bootable=True,
                                 image_metadata=dict(UEFI), metadata={"a": "b"})
    harness.protect(volume_id)
    recorded = harness.section(volume_id).get_object("metadata")
    attributes = recorded["volume_attributes"]
    assert attributes["bootable"] is True
    assert attributes["volume_image_metadata"]["hw_firmware_type"] == "uefi"
    assert attributes["metadata"] == {"a": "b"}
    assert attributes["volume_type"] == "__DEFAULT__"
    assert attributes["availability_zone"] == "nova"
    assert attributes["size"] == 1
    assert attributes["multiattach"] is False
    assert attributes["encrypted"] is False


def test_d3_overrides_for_another_site(cloud, bank):
    cloud.volumes.add_volume_type("fast")
    cloud.volumes.add_volume_type("gold")
    cloud.volumes.availability_zones.append("az2")
    _h, _v, restored, _r = _protect_and_restore(
        cloud, bank, {"restore_name": "r", "volume_type": "gold",
                      "availability_zone": "az2"}, volume_type="fast")
    assert restored.volume_type == "gold"
    assert restored.availability_zone == "az2"


def test_d3_a_recorded_type_missing_here_is_a_warning(cloud, bank):
    cloud.volumes.add_volume_type("fast")
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1, volume_type="fast",
                                 availability_zone="elsewhere")
    harness.protect(volume_id)
    del cloud.volumes.volume_types["fast"]
    record = FakeRecord()
    new_id = harness.restore(volume_id, record=record)
    restored = _volume(cloud, new_id)
    assert restored.volume_type == "__DEFAULT__"
    reason = record.reason_of(volume_resource(volume_id))
    assert "volume type 'fast'" in reason
    assert "availability zone 'elsewhere'" in reason


def test_d3_a_named_type_that_does_not_exist_fails_before_anything(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1)
    harness.protect(volume_id)
    created = len(cloud.created())
    with pytest.raises(exceptions.RestoreFailed, match="volume_type.*nope"):
        harness.restore(volume_id, {"restore_name": "r", "volume_type": "nope"})
    assert len(cloud.created()) == created


def test_d3_a_manifest_without_attributes_restores_as_before(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1, metadata={"k": "v"})
    harness.protect(volume_id)
    section = harness.section(volume_id)
    manifest = section.get_object("metadata")
    del manifest["volume_attributes"]
    section.update_object("metadata", manifest)
    restored = _volume(cloud, harness.restore(volume_id))
    assert restored.bootable is True  # what Cinder makes of an image
    assert restored.metadata == {}


# --- D8 -------------------------------------------------------------------


def test_d8_quota_refused_before_any_upload(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE), size=2)
    harness.protect(volume_id)
    cloud.volumes.set_quota(cloud.project_id, gigabytes=3)
    created = len(cloud.created())
    with pytest.raises(exceptions.RestoreFailed,
                       match=r"gigabytes.*2 GiB.*limit 3.*2 in use"):
        harness.restore(volume_id)
    assert len(cloud.created()) == created  # no image, no volume
    assert "image.upload" not in cloud.calls


def test_d8_volume_count_and_type_quota(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1)
    harness.protect(volume_id)
    cloud.volumes.set_quota(cloud.project_id, volumes=1)
    with pytest.raises(exceptions.RestoreFailed, match=r"volumes.*limit 1"):
        harness.restore(volume_id)
    cloud.volumes.set_quota(cloud.project_id, volumes=-1,
                            gigabytes___DEFAULT__=1)
    with pytest.raises(exceptions.RestoreFailed,
                       match=r"gigabytes___DEFAULT__.*limit 1"):
        harness.restore(volume_id)
    cloud.volumes.set_quota(cloud.project_id, gigabytes___DEFAULT__=-1)
    assert harness.restore(volume_id)


def test_a_check_the_target_cannot_answer_is_a_warning(cloud, bank,
                                                       monkeypatch):
    from karbor_volume_glance.cloud import facade

    def refused(self):
        raise exceptions.CloudError("listing volume types failed: Forbidden")

    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1)
    harness.protect(volume_id)
    monkeypatch.setattr(facade.Cloud, "volume_types", refused)
    record = FakeRecord()
    assert harness.restore(volume_id, record=record)
    assert "could not check the volume types" in record.reason_of(
        volume_resource(volume_id))


# --- the manifest's volume_attributes ----------------------------------------


def _manifest(cloud, bank, **attributes):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1, **attributes)
    harness.protect(volume_id)
    return volume_id, harness.section(volume_id).get_object("metadata")


def test_parse_reads_the_attributes_and_none_for_older_manifests(cloud, bank):
    from karbor_volume_glance.format import manifest

    volume_id, raw = _manifest(cloud, bank, metadata={"a": "b"})
    parsed = manifest.parse(raw, volume_id)
    assert parsed.volume_attributes["metadata"] == {"a": "b"}
    del raw["volume_attributes"]
    assert manifest.parse(raw, volume_id).volume_attributes is None


@pytest.mark.parametrize("field, value", [
    ("bootable", "yes"), ("size", True), ("metadata", {"a": 1}),
    ("volume_image_metadata", ["uefi"]), ("volume_type", 3),
])
def test_parse_refuses_attributes_of_the_wrong_type(cloud, bank, field, value):
    from karbor_volume_glance.format import manifest

    volume_id, raw = _manifest(cloud, bank)
    raw["volume_attributes"][field] = value
    with pytest.raises(exceptions.InvalidBackupMetadata,
                       match=f"volume_attributes.{field}"):
        manifest.parse(raw, volume_id)
    raw["volume_attributes"] = "not an object"
    with pytest.raises(exceptions.InvalidBackupMetadata,
                       match="volume_attributes must be an object"):
        manifest.parse(raw, volume_id)


def test_parse_takes_nulls_and_a_newer_writers_fields(cloud, bank):
    from karbor_volume_glance.format import manifest

    volume_id, raw = _manifest(cloud, bank)
    raw["volume_attributes"].update(volume_type=None, encryption_type="luks")
    parsed = manifest.parse(raw, volume_id)
    assert parsed.volume_attributes["volume_type"] is None


def test_d8_per_volume_gigabytes_refused_before_any_upload(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=3)
    harness.protect(volume_id)
    cloud.volumes.set_quota(cloud.project_id, per_volume_gigabytes=2)
    created = len(cloud.created())
    with pytest.raises(exceptions.RestoreFailed,
                       match=r"per_volume_gigabytes.*needs 3 GiB, limit 2"):
        harness.restore(volume_id)
    assert len(cloud.created()) == created


def test_d3_properties_glance_refuses_go_onto_the_volume_instead(cloud, bank):
    harness = Harness(cloud, bank)
    volume_id = cloud.add_volume(data=b"x", size=1, bootable=True,
                                 image_metadata=dict(UEFI))
    harness.protect(volume_id)
    cloud.inject("image.create", "http", status=403)  # property protections
    record = FakeRecord()
    restored = _volume(cloud, harness.restore(volume_id, record=record))
    assert restored.image_metadata["hw_firmware_type"] == "uefi"
    assert restored.image_metadata["image_id"] == "original-image"
    assert "Glance refused the original's image properties" in \
        record.reason_of(volume_resource(volume_id))
