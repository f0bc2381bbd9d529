"""Protect and restore against the real cloud: the bytes, verify, show, and
what a restored volume keeps of its original (D3)."""

from tests.realcloud import cloud as rc

#: Per-image bookkeeping Cinder copies into volume_image_metadata; differs
#: between any two images, so not part of what a restore must keep.
BOOKKEEPING = {"image_id", "image_name", "checksum", "size", "min_disk",
               "min_ram", "os_hash_algo", "os_hash_value", "signature_verified",
               "container_format", "disk_format"}


def test_protect_then_restore_is_byte_exact(real, sources, full):
    assert sorted(full.restored) == sorted([sources.a, sources.b])
    assert real.rbd_sha256(full.restored[sources.a]) == sources.a_sha
    assert real.rbd_sha256(full.restored[sources.b]) == sources.b_sha
    for volume_id in full.restored.values():
        volume = real.cinder().volumes.get(volume_id)
        assert volume.status == "available"
        assert volume.name == "realcloud-restored"
        assert volume.size == 1


def test_the_manifest_holds_the_volume_bytes(kvg, sources, full):
    for volume_id, sha in ((sources.a, sources.a_sha), (sources.b, sources.b_sha)):
        manifest = rc.manifest(kvg.bank_url, full.checkpoint, volume_id)
        assert manifest["sha256"] == sha
        assert manifest["image_size"] == rc.GiB


def test_verify_reads_the_checkpoint_back(kvg, full):
    result = kvg("verify", full.checkpoint)
    assert result.rc == 0, result
    assert result.json["ok"] is True


def test_show_and_list(kvg, sources, full):
    shown = kvg.ok("show", full.checkpoint).json
    assert set(shown["volumes"]) == {sources.a, sources.b}
    assert {v["status"] for v in shown["volumes"].values()} == {"available"}
    listed = kvg.ok("list").json
    assert full.checkpoint in [c["id"] for c in listed]


def _attributes(real, volume_id):
    volume = real.cinder().volumes.get(volume_id)
    image_metadata = dict(getattr(volume, "volume_image_metadata", None) or {})
    return {
        "bootable": volume.bootable,
        "metadata": dict(volume.metadata),
        "volume_image_metadata": {key: value for key, value in image_metadata.items()
                                  if key not in BOOKKEEPING},
    }


def test_d3_a_restored_volume_keeps_bootable_image_metadata_and_metadata(
        real, sources, full):
    # A: bootable, hw_firmware_type=uefi, os_distro, hw_disk_bus, metadata;
    # B: blank, not bootable, metadata. The bytes are equal (test above);
    # today A comes back without its image properties, B bootable, and both
    # without their metadata.
    for volume_id in (sources.a, sources.b):
        original = _attributes(real, volume_id)
        restored = _attributes(real, full.restored[volume_id])
        assert restored == original, f"volume {volume_id}"
