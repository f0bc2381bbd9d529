"""The standalone runner and its checkpoints in Karbor's bank layout."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone import checkpoints as cps
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing import FakeContext
from tests.unit.harness import OBJECT_SIZE, plugin_config


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


def test_one_failing_volume_does_not_stop_the_others(runner, cloud):
    good = cloud.add_volume(data=b"good")
    bad = cloud.add_volume(data=b"bad", status="error")
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


def test_list_shows_this_projects_checkpoints_and_ids_reach_any(runner, cloud, bank):
    volume_id = cloud.add_volume(data=b"abc")
    result = runner.protect([volume_id], params(volume_id))
    # another site's Keystone: same bank, another project id
    other = Runner(runner.plugin, bank, FakeContext(project_id="other",
                                                    user_id="u"))
    assert other.list() == []
    assert [c["id"] for c in other.list(all_projects=True)] == [
        result.checkpoint_id]
    assert other.restore(result.checkpoint_id, {}).ok


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
