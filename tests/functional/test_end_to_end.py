"""The plugin end to end over HTTP: local clouds, the real clients, a file bank."""

import os

import pytest

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.cloud import factory
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tests.functional.sites import GIB, OBJECT_SIZE


def protect(site, bank, volume_id):
    result = site.runner(bank).protect([volume_id],
                                       {volume_id: {"backup_name": "b"}})
    return result


def test_protect_restore_is_byte_exact(sites, bank):
    data = os.urandom(3 * OBJECT_SIZE + 1234)
    volume_id = sites.a.create_volume(data)
    before = sites.a.inventory()
    result = protect(sites.a, bank, volume_id)
    assert result.ok, result.failures()
    assert sites.a.inventory() == before  # nothing temporary left
    restored = sites.a.runner(bank).restore(result.checkpoint_id, {})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert sites.a.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)
    assert sites.a.volume_bytes(new_id)[:len(data)] == data
    after = sites.a.inventory()
    assert after["snapshots"] == [] and after["images"] == []
    assert after["volumes"] == sorted([volume_id, new_id])


def test_cross_site_protect_at_a_restore_at_b(sites, bank):
    data = os.urandom(GIB // 2)
    volume_id = sites.a.create_volume(data)
    result = protect(sites.a, bank, volume_id)
    assert result.ok
    restored = sites.b.runner(bank).restore(result.checkpoint_id, {})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert sites.b.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)
    assert sites.b.inventory() == {"volumes": [new_id], "snapshots": [],
                                   "images": []}


def test_delete_removes_the_data_and_unlists_the_checkpoint(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(100_000))
    runner = sites.a.runner(bank)
    result = protect(sites.a, bank, volume_id)
    assert runner.delete(result.checkpoint_id).ok
    assert runner.list() == []
    section = f"/checkpoints/{result.checkpoint_id}/resource-data/{volume_id}/"
    assert bank.list_objects(section) == [section + "status"]


PROTECT_FAULTS = [
    ("snapshot.create", "http", {"status": 500}),
    ("snapshot.get", "error", {}),
    ("volume.create", "http", {"status": 503}),
    ("volume.upload_to_image", "error", {}),
    ("image.get", "http", {"status": 500}),
    ("image.data", "drop", {"after_bytes": 100, "times": 4}),  # > retries
]


def snapshot_path_runner(site, bank):
    """A runner whose protect takes a temporary snapshot and volume (the
    faults above include theirs; ``auto`` uploads an available volume)."""
    config = conf.make_config(poll_interval=0.01,
                              backup_image_object_size=OBJECT_SIZE,
                              backup_from_snapshot=True)
    plugin = VolumeGlanceProtectionPlugin(config, client_factory=site.clients)
    return Runner(plugin, bank, site.context)


@pytest.mark.parametrize("step, fault, options", PROTECT_FAULTS,
                         ids=[f"{s}-{f}" for s, f, _ in PROTECT_FAULTS])
def test_protect_faults_over_http_leave_nothing(sites, bank, step, fault, options):
    volume_id = sites.a.create_volume(os.urandom(3 * OBJECT_SIZE))
    before = sites.a.inventory()
    sites.a.cloud.inject(step, fault, **options)
    result = snapshot_path_runner(sites.a, bank).protect(
        [volume_id], {volume_id: {"backup_name": "b"}})
    assert not result.ok
    assert sites.a.inventory() == before
    checkpoint = sites.a.runner(bank).checkpoint(result.checkpoint_id)
    assert checkpoint.status == "error"
    section = checkpoint.get_resource_bank_section(volume_id)
    assert section.get_object("status") == "error"
    assert sites.a.runner(bank).delete(result.checkpoint_id).ok
    assert section.list_objects() == ["status"]


RESTORE_FAULTS = [
    ("image.create", "http", {"status": 500}),
    ("image.upload", "http", {"status": 413}),
    ("volume.create", "error", {}),
    ("volume.get", "error", {}),
]


@pytest.mark.parametrize("step, fault, options", RESTORE_FAULTS,
                         ids=[f"{s}-{f}" for s, f, _ in RESTORE_FAULTS])
def test_restore_faults_over_http_leave_nothing(sites, bank, step, fault, options):
    volume_id = sites.a.create_volume(os.urandom(2 * OBJECT_SIZE))
    result = protect(sites.a, bank, volume_id)
    before = sites.b.inventory()
    sites.b.cloud.inject(step, fault, **options)
    restored = sites.b.runner(bank).restore(result.checkpoint_id, {})
    assert not restored.ok
    assert sites.b.inventory() == before
    again = sites.b.runner(bank).restore(result.checkpoint_id, {})
    assert again.ok  # the backup is intact and a retry succeeds


def test_a_corrupted_chunk_is_named_and_nothing_is_left(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(3 * OBJECT_SIZE))
    result = protect(sites.a, bank, volume_id)
    checkpoint = sites.a.runner(bank).checkpoint(result.checkpoint_id)
    section = checkpoint.get_resource_bank_section(volume_id)
    damaged = bytearray(section.get_object("data_3"))
    damaged[0] ^= 1
    section.update_object("data_3", bytes(damaged))
    before = sites.b.inventory()
    restored = sites.b.runner(bank).restore(result.checkpoint_id, {})
    assert not restored.ok
    assert "chunk data_3" in restored.outcomes[0].error
    assert sites.b.inventory() == before


def test_another_projects_token_cannot_see_the_volume(sites, bank):
    volume_id = sites.a.create_volume(b"secret")
    with pytest.raises(exceptions.ProtectRefused) as refused:
        protect(sites.a_demo, bank, volume_id)  # before any checkpoint
    assert [failure.resource_id for failure in refused.value.failures] == [
        volume_id]
    assert "not found" in str(refused.value)
    assert sites.a_demo.runner(bank).list() == []
    demo_cinder = sites.a_demo.clients.create_client("cinder", None)
    assert [v.id for v in demo_cinder.volumes.list()] == []


def test_cinder_microversion_is_negotiated_over_http(sites):
    cinder = sites.a.clients.create_client("cinder", None)
    assert cinder.api_version.get_string() == factory.CINDER_API_VERSION


def test_context_with_token_and_catalog_drives_the_plugin(sites, bank):
    """What Karbor-like services hold: a user's token and its catalog."""
    import types

    from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
    from karbor_volume_glance.standalone.runner import Runner

    session = sites.a.clients.session
    access = session.auth.get_access(session)
    context = types.SimpleNamespace(
        project_id=access.project_id, user_id=access.user_id,
        auth_token=access.auth_token,
        service_catalog=access.service_catalog.catalog,
    )
    plugin = VolumeGlanceProtectionPlugin(
        sites.a.config, client_factory=factory.ContextClientFactory())
    volume_id = sites.a.create_volume(os.urandom(70_000))
    runner = Runner(plugin, bank, context)
    result = runner.protect([volume_id], {volume_id: {"backup_name": "ctx"}})
    assert result.ok, result.failures()
    restored = runner.restore(result.checkpoint_id, {})
    new_id = restored.outcomes[0].new_volume_id
    assert sites.a.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)


def test_a_bad_password_is_a_clear_error(sites, clouds_yaml):
    import yaml

    entries = yaml.safe_load(clouds_yaml.read_text())
    entries["clouds"]["site-a"]["auth"]["password"] = "wrong"
    clouds_yaml.write_text(yaml.safe_dump(entries))
    clients = factory.from_cloud_config("site-a", str(clouds_yaml))
    with pytest.raises(exceptions.CloudError, match="Unauthorized|401"):
        clients.create_client("cinder", None)
