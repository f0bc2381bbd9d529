"""An in-use volume (attached through Cinder's attachments API, no Nova)."""

from tests.realcloud import cloud as rc


def test_an_in_use_volume_is_protected_through_a_snapshot(real, kvg, sources,
                                                          in_use):
    assert in_use.protect.rc == 0, in_use.protect
    checkpoint = in_use.protect.json["checkpoint_id"]
    manifest = rc.manifest(kvg.bank_url, checkpoint, sources.b)
    assert manifest["sha256"] == sources.b_sha
    assert real.cinder().volumes.get(sources.b).status == "in-use"
    assert real.temporaries() == []


def test_d2_in_use_without_snapshot_falls_back_or_names_enable_force_upload(
        real, kvg, sources, in_use, tmp_path):
    # Cinder's enable_force_upload is False by default: upload-to-image of an
    # in-use volume is refused (400 "status must be available") even with
    # force. Today the protect fails with that 400.
    config = tmp_path / "nosnap.conf"
    config.write_text(rc.PLUGIN_CONF + "backup_from_snapshot = false\n")
    images_before = real.images_named(f"temporary_image_of_{sources.b}")
    result = kvg("protect", sources.b, "--name", "realcloud-d2",
                 config_file=str(config))
    if result.rc == 0:
        checkpoint = result.json["checkpoint_id"]
        assert rc.manifest(kvg.bank_url, checkpoint, sources.b)["sha256"] == \
            sources.b_sha
    else:
        assert "enable_force_upload" in result.err, result
        # refused before anything was created
        assert real.images_named(f"temporary_image_of_{sources.b}") == \
            images_before
    assert real.temporaries() == []
    assert real.cinder().volumes.get(sources.b).status == "in-use"
