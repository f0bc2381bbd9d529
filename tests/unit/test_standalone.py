"""The standalone runner and its checkpoints in Karbor's bank layout."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone import checkpoints as cps
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing import FakeContext
from tests.unit.harness import OBJECT_SIZE, fail_after, plugin_config


@pytest.fixture
def runner(cloud, bank):
    plugin = VolumeGlanceProtectionPlugin(plugin_config(),
                                          client_factory=cloud.client_factory())
    return Runner(plugin, bank, cloud.context())


def params(*volume_ids):
    return {volume_id: {"backup_name": "b"} for volume_id in volume_ids}


def test_one_checkpoint_holds_every_volume_and_restores_them(runner, cloud):
    data = {cloud.add_volume(data=os.urandom(OBJECT_SIZE + i)): i for i in range(3)}
    originals = {vid: cloud.volume_data(vid) for vid in data}
    result = runner.protect(list(data), params(*data))
    assert result.ok
    checkpoint = runner.checkpoint(result.checkpoint_id)
    assert checkpoint.status == "available"
    assert [r.id for r in checkpoint.resources] == list(data)
    restored = runner.restore(result.checkpoint_id, {})
    assert restored.ok
    for outcome in restored.outcomes:
        assert cloud.volume_data(outcome.new_volume_id) == originals[outcome.volume_id]
    assert runner.verify(result.checkpoint_id).ok


def test_karbors_layout_index_and_indices(runner, cloud, bank):
    volume_id = cloud.add_volume(data=b"abc")
    result = runner.protect([volume_id], params(volume_id))
    index = bank.get_object(f"/checkpoints/{result.checkpoint_id}/index.json")
    assert index["version"] == "0.9"
    assert index["status"] == "available"
    assert index["project_id"] == cloud.context().project_id
    assert index["owner_id"] == bank.get_owner_id()
    assert index["protection_plan"]["resources"] == [
        {"id": volume_id, "type": "OS::Cinder::Volume", "name": volume_id}]
    project = index["project_id"]
    keys = bank.list_objects("/indices/")
    name = f"{index['timestamp']}@{result.checkpoint_id}"
    assert keys == sorted([
        f"/indices/by-date/{index['created_at']}/{project}/{name}",
        f"/indices/by-plan/{index['protection_plan']['id']}/{project}/"
        f"{index['created_at']}/{name}",
        f"/indices/by-provider/{cps.STANDALONE_PROVIDER_ID}/{project}/{name}",
    ])
    assert bank.get_object(keys[0]) == result.checkpoint_id
    section = f"/checkpoints/{result.checkpoint_id}/resource-data/{volume_id}/"
    assert bank.get_object(section + "status") == "available"


def test_one_failing_volume_does_not_stop_the_others(runner, cloud, monkeypatch):
    good = cloud.add_volume(data=b"good")
    bad = cloud.add_volume(data=b"bad")
    fail_after(monkeypatch, runner.store, "create", cloud, bad)
    result = runner.protect([bad, good], params(bad, good))
    assert not result.ok
    assert [(o.volume_id, o.ok) for o in result.outcomes] == [(bad, False),
                                                              (good, True)]
    checkpoint = runner.checkpoint(result.checkpoint_id)
    assert checkpoint.status == "error"
    assert bad in checkpoint.index["extra_info"]["failed_volumes"]
    restored = runner.restore(result.checkpoint_id, {})
    assert [(o.volume_id, o.ok) for o in restored.outcomes] == [(bad, False),
                                                                (good, True)]


def test_delete_unlists_the_checkpoint_and_empties_its_sections(runner, cloud, bank):
    volume_id = cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    result = runner.protect([volume_id], params(volume_id))
    assert [c["id"] for c in runner.list()] == [result.checkpoint_id]
    assert runner.delete(result.checkpoint_id).ok
    assert runner.list() == []
    assert bank.list_objects("/indices/") == []
    assert runner.checkpoint(result.checkpoint_id).status == "deleted"
    section = f"/checkpoints/{result.checkpoint_id}/resource-data/{volume_id}/"
    assert bank.list_objects(section) == [section + "status"]


def test_a_failed_checkpoint_can_be_deleted(runner, cloud):
    volume_id = cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    cloud.inject("image.data", "drop", after_bytes=100, times=4)  # > retries
    result = runner.protect([volume_id], params(volume_id))
    assert not result.ok
    assert runner.delete(result.checkpoint_id).ok


def test_each_project_sees_its_own_checkpoints_and_admins_all(runner, cloud,
                                                              bank):
    volume_id = cloud.add_volume(data=b"abc")
    result = runner.protect([volume_id], params(volume_id))
    made = result.checkpoint_id
    owner = runner.store.get(made).index["owner"]
    assert owner == {"project_id": cloud.project_id,
                     "project_name": cloud.project_name,
                     "domain_name": "Default", "user_id": cloud.user_id}

    def as_(project_id, name=None, domain="Default", **more):
        return Runner(runner.plugin, bank, FakeContext(
            project_id=project_id, user_id="u", project_name=name,
            project_domain_name=domain, **more))

    other = as_("other", "other")
    assert other.list() == []
    with pytest.raises(exceptions.NotAuthorized, match="--all-projects needs "
                       "the admin role"):
        other.list(all_projects=True)
    for call in (other.show, other.verify, other.delete,
                 lambda c: other.restore(c, {}), lambda c: other.share(c, "x")):
        with pytest.raises(exceptions.CheckpointNotFound,
                           match=f"^checkpoint {made} could not be found$"):
            call(made)
    # same names at another site (another id): the owner
    twin = as_("id-at-site-b", cloud.project_name)
    assert [c["id"] for c in twin.list()] == [made]
    # the same project name in another domain is another project
    assert as_("x", cloud.project_name, domain="Other").list() == []
    admin = as_("admin-project", "admin", is_admin=True)
    assert admin.list() == []  # its own project's, unless all projects
    assert [c["id"] for c in admin.list(all_projects=True)] == [made]
    assert admin.show(made)["id"] == made
    # an anonymous caller changes nothing
    with pytest.raises(exceptions.NotAuthorized):
        Runner(runner.plugin, bank, None).delete(made)


def test_sharing_lets_a_project_read_but_not_delete_and_is_revocable(
        runner, cloud, bank):
    volume_id = cloud.add_volume(data=b"abc")
    made = runner.protect([volume_id], params(volume_id),
                          share_with=["dr-team"]).checkpoint_id
    dr = Runner(runner.plugin, bank, FakeContext(
        project_id="dr-id", user_id="u", project_name="dr-team",
        project_domain_name="Default"))
    assert [c["shared_with"] for c in dr.list()] == [["dr-team@Default"]]
    assert dr.restore(made, {}).ok
    with pytest.raises(exceptions.CheckpointNotFound):
        dr.delete(made)
    with pytest.raises(exceptions.CheckpointNotFound):
        dr.unshare(made, "dr-team")
    assert runner.unshare(made, "dr-team@Default") == []
    assert dr.list() == []
    with pytest.raises(exceptions.CheckpointNotFound):
        dr.show(made)
    assert runner.share(made, "dr-id") == ["dr-id@Default"]
    assert [c["id"] for c in dr.list()] == [made]
    with pytest.raises(exceptions.InvalidParameters):
        runner.share(made, "bad name@")


def test_an_old_checkpoint_without_owner_is_its_project_ids_and_admins(
        runner, cloud, bank):
    volume_id = cloud.add_volume(data=b"abc")
    made = runner.protect([volume_id], params(volume_id)).checkpoint_id
    checkpoint = runner.store.get(made)
    del checkpoint.index["owner"]
    runner.store.save(checkpoint)
    assert [c["id"] for c in runner.list()] == [made]
    twin = Runner(runner.plugin, bank, FakeContext(
        project_id="id-at-site-b", user_id="u", project_name=cloud.project_name,
        project_domain_name="Default"))
    assert twin.list() == []
    admin = Runner(runner.plugin, bank, FakeContext(
        project_id="a", user_id="u", is_admin=True))
    assert admin.delete_bank_only(made).ok
    with pytest.raises(exceptions.NotAuthorized):
        twin.delete_bank_only(made)


def test_unknown_or_malformed_checkpoint_ids_are_not_found(runner):
    for checkpoint_id in ("no-such-checkpoint", "../escape", "a/../../b"):
        with pytest.raises(exceptions.CheckpointNotFound):
            runner.show(checkpoint_id)


def test_show_reports_each_volume(runner, cloud):
    volume_id = cloud.add_volume(data=b"abcd", size=2)
    result = runner.protect([volume_id], {volume_id: {"backup_name": "n"}})
    shown = runner.show(result.checkpoint_id)
    assert shown["status"] == "available"
    assert shown["volumes"][volume_id]["image_size"] == 4
    assert shown["volumes"][volume_id]["backup_name"] == "n"


def test_progress_reaches_the_total(runner, cloud):
    seen = []
    runner.progress = lambda vid, done, total: seen.append((vid, done, total))
    volume_id = cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE + 3))
    runner.protect([volume_id], params(volume_id))
    total = 2 * OBJECT_SIZE + 3
    assert seen[-1] == (volume_id, total, total)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)
    seen.clear()
    runner.restore(runner.list()[0]["id"], {})
    assert seen[-1] == (volume_id, total, total)


def test_another_projects_damaged_record_does_not_hide_mine(runner, cloud, bank):
    volume_id = cloud.add_volume(data=b"abc")
    mine = runner.protect([volume_id], params(volume_id)).checkpoint_id
    other = Runner(runner.plugin, bank, FakeContext(
        project_id="other", user_id="u", project_name="other",
        project_domain_name="Default"))
    theirs = other.store.create([], "other", owner={"project_id": "other"})
    bank.update_object(f"/checkpoints/{theirs.id}/index.json", ["not", "a",
                                                                 "record"])
    assert [c["id"] for c in runner.list()] == [mine]
