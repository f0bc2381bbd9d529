"""Issue 12's D2, D4 and D5 over HTTP: a local cloud, the real clients, a file
bank. D2: an in-use volume with ``backup_from_snapshot = false`` is backed up
although Cinder ignores ``force`` (``enable_force_upload`` off); D4: a failed
upload says Cinder's reason; D5: Glance's os_hash catches a corrupt download
and is checked on restore."""

import os

from karbor_volume_glance import conf
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tests.functional.sites import OBJECT_SIZE
from tests.functional.test_restore_in_place import wait_until


def protect(site, bank, volume_id, plugin=None):
    runner = (Runner(plugin, bank, site.context) if plugin is not None
              else site.runner(bank))
    return runner.protect([volume_id], {volume_id: {"backup_name": "b"}})


def manifest(site, bank, result, volume_id):
    checkpoint = site.runner(bank).checkpoint(result.checkpoint_id)
    return checkpoint.get_resource_bank_section(volume_id).get_object("metadata")


def in_use_volume(site, data):
    nova = site.clients.create_client("nova", None)
    server = nova.servers.create("vm", "any-image", "any-flavor")
    wait_until(lambda: nova.servers.get(server.id).status == "ACTIVE")
    volume_id = site.create_volume(data)
    nova.volumes.create_server_volume(server.id, volume_id)
    site.facade.wait_volume(volume_id, success={"in-use"})
    return volume_id


def direct_plugin(site):
    config = conf.make_config(poll_interval=0.01, backup_from_snapshot=False,
                              backup_image_object_size=OBJECT_SIZE)
    return VolumeGlanceProtectionPlugin(config, client_factory=site.clients)


def test_an_in_use_volume_without_forced_uploads_falls_back_to_a_snapshot(
        sites, bank):
    data = os.urandom(2 * OBJECT_SIZE + 7)
    volume_id = in_use_volume(sites.a, data)
    before = sites.a.inventory()
    result = protect(sites.a, bank, volume_id, direct_plugin(sites.a))
    assert result.ok, result.failures()
    meta = manifest(sites.a, bank, result, volume_id)
    assert meta["backup_path"] == "temporary_snapshot"
    assert "enable_force_upload" in meta["backup_path_reason"]
    assert "snapshot.create" in sites.a.cloud.calls
    assert sites.a.inventory() == before
    restored = sites.a.runner(bank).restore(result.checkpoint_id, {})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert sites.a.volume_bytes(new_id)[:len(data)] == data


def test_an_in_use_volume_is_uploaded_where_cinder_honours_force(sites, bank):
    sites.a.cloud.volumes.enable_force_upload = True
    volume_id = in_use_volume(sites.a, b"in use")
    result = protect(sites.a, bank, volume_id, direct_plugin(sites.a))
    assert result.ok, result.failures()
    assert manifest(sites.a, bank, result, volume_id)["backup_path"] == "volume"
    assert "snapshot.create" not in sites.a.cloud.calls


def test_a_failed_upload_says_cinders_reason(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(OBJECT_SIZE))
    sites.a.cloud.inject("volume.upload_to_image", "error")
    result = protect(sites.a, bank, volume_id)
    assert not result.ok
    assert ("Cinder says: copy volume to image: Failed to upload volume to "
            "image at backend." in result.outcomes[0].error)


def test_a_corrupt_download_is_caught_by_glances_sha512(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(3 * OBJECT_SIZE))
    before = sites.a.inventory()
    sites.a.cloud.inject("image.data", "corrupt", at_byte=OBJECT_SIZE + 1)
    result = protect(sites.a, bank, volume_id)
    assert not result.ok
    error = result.outcomes[0].error
    assert "sha512" in error and "Glance says" in error
    assert sites.a.inventory() == before


def test_the_os_hash_is_recorded_and_checked_on_restore_at_another_site(
        sites, bank):
    sites.b.cloud.images.hashing_algorithm = "sha3_256"  # another Glance setting
    data = os.urandom(2 * OBJECT_SIZE)
    volume_id = sites.a.create_volume(data)
    result = protect(sites.a, bank, volume_id)
    assert result.ok, result.failures()
    image_metadata = manifest(sites.a, bank, result, volume_id)["image_metadata"]
    assert image_metadata["os_hash_algo"] == "sha512"
    restored = sites.b.runner(bank).restore(result.checkpoint_id, {})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert sites.b.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)
