"""Restore over HTTP on the cloud it lands in (issue 12): D1 (Glance on RBD
keeps the temporary image the volume is cloned from), D3 (the volume's
attributes come back, here and at another site) and D8 (quotas refused
before any upload)."""

import io
import os

from karbor_volume_glance.operations import restore as restore_op
from tests.functional.sites import OBJECT_SIZE

UEFI = {"hw_firmware_type": "uefi", "os_distro": "ubuntu", "hw_disk_bus": "scsi"}


def boot_volume(site, data, metadata=None, **properties):
    """A volume made from an image with ``properties``, as a user's boot disk."""
    facade = site.facade
    image_id = facade.create_image("distro", "raw", "bare", properties=properties)
    try:
        facade.upload_image(image_id, io.BytesIO(data), len(data))
        facade.wait_image(image_id)
        volume_id = facade.create_volume(1, "boot", image_id=image_id,
                                         metadata=metadata,
                                         description="boot disk")
        facade.wait_volume(volume_id)
    finally:
        facade.delete_image(image_id)
    return volume_id


def protect(site, bank, volume_id):
    result = site.runner(bank).protect([volume_id],
                                       {volume_id: {"backup_name": "b"}})
    assert result.ok, result.failures()
    return result.checkpoint_id


def test_d1_glance_on_rbd_keeps_and_tags_the_temporary_image(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(2 * OBJECT_SIZE))
    checkpoint_id = protect(sites.a, bank, volume_id)
    sites.a.cloud.images.rbd_direct_url = True
    restored = sites.a.runner(bank).restore(checkpoint_id, {})
    assert restored.ok, restored.failures()  # the volume is there: success
    new_id = restored.outcomes[0].new_volume_id
    assert sites.a.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)
    glance = sites.a.clients.create_client("glance", None)
    left = list(glance.images.list(
        filters={restore_op.LEFTOVER_PROPERTY: "restore"}))
    assert len(left) == 1
    assert left[0][restore_op.HOLDER_PROPERTY] == new_id
    assert left[0]["name"] == f"temporary_image_for_restore_of_{volume_id}"
    cinder = sites.a.clients.create_client("cinder", None)
    shown = cinder.volumes.get(new_id)
    assert not any(key.startswith("kvg_")
                   for key in getattr(shown, "volume_image_metadata", {}))
    # a sweep keeps the image while its holder lives, deletes it after
    swept = sites.a.plugin.sweep(bank, sites.a.context)["resources"]
    assert [(row["id"], row["action"]) for row in swept] == [
        (left[0]["id"], f"kept: held by volume {new_id}")]
    sites.a.facade.delete_volume(new_id)
    swept = sites.a.plugin.sweep(bank, sites.a.context)["resources"]
    assert [(row["id"], row["action"]) for row in swept] == [
        (left[0]["id"], "deleted")]
    assert sites.a.inventory()["images"] == []


def test_d3_a_uefi_boot_volume_comes_back_at_another_site(sites, bank):
    data = os.urandom(OBJECT_SIZE + 3)
    volume_id = boot_volume(sites.a, data, metadata={"owner": "team-a"}, **UEFI)
    original = sites.a.clients.create_client("cinder", None).volumes.get(
        volume_id)
    checkpoint_id = protect(sites.a, bank, volume_id)
    sites.b.cloud.volumes.add_volume_type("gold")
    restored = sites.b.runner(bank).restore(
        checkpoint_id, {volume_id: {"restore_name": "r", "volume_type": "gold"}})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    volume = sites.b.clients.create_client("cinder", None).volumes.get(new_id)
    assert volume.bootable == "true"
    assert volume.metadata == {"owner": "team-a"}
    assert volume.description == "boot disk"
    assert volume.volume_type == "gold"
    for key in (*UEFI, "image_id", "image_name", "checksum", "size"):
        assert volume.volume_image_metadata[key] == \
            original.volume_image_metadata[key], key
    assert sites.b.volume_bytes(new_id)[:len(data)] == data


def test_d3_a_blank_volume_comes_back_not_bootable_without_image_metadata(
        sites, bank):
    facade = sites.a.facade
    volume_id = facade.create_volume(1, "blank", metadata={"k": "v"})
    facade.wait_volume(volume_id)
    checkpoint_id = protect(sites.a, bank, volume_id)
    restored = sites.a.runner(bank).restore(checkpoint_id, {})
    assert restored.ok, restored.failures()
    volume = sites.a.clients.create_client("cinder", None).volumes.get(
        restored.outcomes[0].new_volume_id)
    assert volume.bootable == "false"
    assert volume.metadata == {"k": "v"}
    assert not getattr(volume, "volume_image_metadata", None)


def test_d8_a_quota_refuses_the_restore_before_any_upload(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(OBJECT_SIZE), size=3)
    checkpoint_id = protect(sites.a, bank, volume_id)
    sites.b.cloud.volumes.set_quota(sites.b.project_id, gigabytes=2)
    before = sites.b.inventory()
    restored = sites.b.runner(bank).restore(checkpoint_id, {})
    assert not restored.ok
    error = restored.outcomes[0].error
    assert "quota gigabytes" in error and "needs 3 GiB, limit 2, 0 in use" in error
    assert sites.b.inventory() == before
    assert "image.create" not in sites.b.cloud.calls
