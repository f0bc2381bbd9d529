"""Damaged records in a bank: each names itself and takes nothing else down.

A truncated or malformed checkpoint record (``index.json``) is listed as
``damaged`` beside the others; ``show`` and ``delete`` work on it (delete
removes the volumes found under it, its index keys and its record); restore
and verify refuse it with InvalidCheckpointRecord. A damaged index entry or
manifest of an incremental's parent makes the backup full, with the reason.
"""

import json
import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.cli import commands as cli
from karbor_volume_glance.format import checkpoint as record_format
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing import FakeCloud
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, plugin_config


@pytest.fixture
def runner(cloud, bank):
    plugin = VolumeGlanceProtectionPlugin(plugin_config(),
                                          client_factory=cloud.client_factory())
    return Runner(plugin, bank, cloud.context())


def protect_three(runner, cloud):
    ids = []
    for i in range(3):
        volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE + i))
        result = runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
        assert result.ok
        ids.append((result.checkpoint_id, volume_id))
    return ids


def record_key(checkpoint_id):
    return f"{record_format.CHECKPOINTS_ROOT}{record_format.record_key(checkpoint_id)}"


def truncate_record(bank, checkpoint_id):
    """Cut the record in half: on disk for a file bank, as a bank value else."""
    key = record_key(checkpoint_id)
    path = getattr(bank.backend, "_object_path", None)
    if path is None:  # the memory bank keeps values: store a cut JSON text
        bank.update_object(key, '{"id": "' + checkpoint_id)
        return
    with open(path(key), "r+b") as stream:
        size = len(stream.read())
        stream.truncate(size // 2)


DAMAGES = {
    "truncated": truncate_record,
    "not an object": lambda bank, cid: bank.update_object(record_key(cid), [1]),
    "no resource graph": lambda bank, cid: bank.update_object(
        record_key(cid), {**bank.get_object(record_key(cid)),
                          "resource_graph": "[{"}),
    "wrong types": lambda bank, cid: bank.update_object(
        record_key(cid), {**bank.get_object(record_key(cid)),
                          "timestamp": "soon", "protection_plan": ["x"]}),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_list_shows_a_damaged_checkpoint_beside_the_others(runner, cloud, bank,
                                                           damage):
    made = protect_three(runner, cloud)
    damaged_id = made[1][0]
    DAMAGES[damage](bank, damaged_id)
    listed = {row["id"]: row for row in runner.list()}
    assert sorted(listed) == sorted(checkpoint_id for checkpoint_id, _ in made)
    assert listed[damaged_id]["status"] == "damaged"
    assert listed[damaged_id]["damage"]
    assert listed[damaged_id]["resources"] == [made[1][1]]
    assert listed[damaged_id]["project_id"] == cloud.context().project_id
    for checkpoint_id, volume_id in (made[0], made[2]):
        assert listed[checkpoint_id]["status"] == "available"
        assert listed[checkpoint_id]["resources"] == [volume_id]


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_show_restore_verify_and_delete_of_a_damaged_checkpoint(
        runner, cloud, bank, damage):
    made = protect_three(runner, cloud)
    damaged_id, volume_id = made[0]
    DAMAGES[damage](bank, damaged_id)
    shown = runner.show(damaged_id)
    assert shown["status"] == "damaged" and shown["damage"]
    assert shown["volumes"][volume_id]["status"] == "available"
    for refused in (runner.restore, runner.verify):
        with pytest.raises(exceptions.InvalidCheckpointRecord) as info:
            refused(damaged_id, *([{}] if refused == runner.restore else []))
        assert info.value.checkpoint_id == damaged_id
    result = runner.delete(damaged_id)
    assert result.ok, result.to_dict()
    left = [key for key in bank.list_objects("/")
            if damaged_id in key and not key.endswith("/status")]
    assert left == []
    with pytest.raises(exceptions.CheckpointNotFound):
        runner.show(damaged_id)
    assert sorted(row["id"] for row in runner.list()) == sorted(
        [made[1][0], made[2][0]])
    assert runner.verify(made[1][0]).ok


def test_a_damaged_index_key_does_not_break_the_listing(runner, cloud, bank):
    made = protect_three(runner, cloud)
    project = cloud.context().project_id
    bank.update_object(f"/indices/by-provider/{record_format.STANDALONE_PROVIDER_ID}"
                       f"/{project}/no-at-sign", "x")
    assert sorted(row["id"] for row in runner.list()) == sorted(
        cid for cid, _ in made)


def test_an_index_key_without_a_record_is_skipped(runner, cloud, bank):
    made = protect_three(runner, cloud)
    bank.delete_object(record_key(made[2][0]))
    assert sorted(row["id"] for row in runner.list()) == sorted(
        [made[0][0], made[1][0]])


def test_a_parent_whose_source_is_a_list_makes_the_next_backup_full(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(40))
    parent = chains.protect_point(harness, volume_id)
    section = parent.checkpoint.get_resource_bank_section(volume_id)
    metadata = section.get_object("metadata")
    metadata["chunks"][0]["source"] = ["not", "a", "string"]
    section.update_object("metadata", metadata)
    child = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert child.manifest["incremental"] is False
    reason = child.manifest["full_reason"]
    assert parent.id in reason and "cannot be read" in reason
    assert "data_1" in reason and "source" in reason
    chains.assert_restores(harness, volume_id, child)


def test_a_parent_with_a_damaged_index_entry_makes_the_next_backup_full(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(41))
    parent = chains.protect_point(harness, volume_id)
    key = f"/volume_glance/by-volume/{volume_id}/backups/{parent.id}"
    entry = harness.bank.get_object(key)
    harness.bank.update_object(key, {**entry, "uses": {"x": "not a list"}})
    child = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert child.manifest["incremental"] is False
    assert child.manifest["full_reason"]
    chains.assert_restores(harness, volume_id, child)


def test_a_delete_beside_a_damaged_index_entry_refuses_naming_it(harness):
    # the damaged entry's backup may use chunks of this one: the delete
    # cannot know, so it keeps everything and names the entry
    volume_id = harness.cloud.add_volume(data=chains.random_data(42))
    first = chains.protect_point(harness, volume_id)
    second = chains.protect_point(harness, volume_id, INCREMENTAL)
    section = first.checkpoint.get_resource_bank_section(volume_id)
    kept = sorted(section.list_objects())
    key = f"/volume_glance/by-volume/{volume_id}/backups/{second.id}"
    harness.bank.update_object(key, {"status": ["broken"]})
    with pytest.raises(exceptions.DeleteFailed, match=f"index entry {second.id}"):
        harness.delete(volume_id, checkpoint=first.checkpoint)
    assert set(kept) <= set(section.list_objects())  # + its status_reason


def test_the_cli_lists_shows_and_deletes_beside_a_truncated_record(
        tmp_path, monkeypatch, capsys):
    cloud = FakeCloud(project_id="demo")
    monkeypatch.setattr(cli, "_connect",
                        lambda args: (cloud.client_factory(), cloud.context()))
    config = tmp_path / "plugin.conf"
    config.write_text("[volume_glance_plugin]\npoll_interval = 0.001\n"
                      f"backup_image_object_size = {OBJECT_SIZE}\n")
    common = ["--bank", f"file://{tmp_path}/bank", "--config-file", str(config)]

    def run(*argv, fmt="json"):
        status = cli.main([*common, *argv, "--format", fmt])
        out, err = capsys.readouterr()
        assert status == 0, err
        return json.loads(out) if fmt == "json" else out

    made = [run("protect", cloud.add_volume(data=os.urandom(1000 + i)))
            for i in range(3)]
    ids = [result["checkpoint_id"] for result in made]
    truncate_record(open_bank(f"file://{tmp_path}/bank"), ids[1])
    rows = {row["id"]: row for row in run("list")}
    assert sorted(rows) == sorted(ids)
    assert rows[ids[1]]["status"] == "damaged"
    assert "damaged" in run("list", fmt="table")
    assert run("show", ids[1])["status"] == "damaged"
    assert run("delete", ids[1])["ok"] is True
    assert sorted(row["id"] for row in run("list")) == sorted([ids[0], ids[2]])
