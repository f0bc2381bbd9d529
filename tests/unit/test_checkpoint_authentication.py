"""Checkpoint records on encrypted banks (issue 15, item 2): the records this
library makes hold their names sealed and are authenticated by an HMAC bound
to the checkpoint id; an edited, moved, name-swapped or stripped record is
caught on every keyed read, naming the checkpoint, before anything is made
in the cloud. Plain banks' records stay Karbor's, unchanged.
"""

import copy
import datetime
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import checkpoint as record_format
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.standalone.resources import Resource
from karbor_volume_glance.standalone.runner import Runner
from tests.unit.harness import Harness
from tests.unit.test_decoders_hypothesis import mutated

KEY = MasterKey.generate()
ID = "0f0e0d0c-0000-4000-8000-0000000000c1"
OTHER_ID = "0f0e0d0c-0000-4000-8000-0000000000c2"
NOW = datetime.datetime(2026, 11, 30, 2, 50, tzinfo=datetime.UTC)
NAMES = st.text(min_size=1, max_size=40)


def record(checkpoint_id=ID, plan_name="payroll plan",
           names=("db volume", "logs volume"), provider=None):
    resources = [Resource("OS::Cinder::Volume", f"vol-{i}", name, {})
                 for i, name in enumerate(names)]
    made = record_format.new_record(
        checkpoint_id, resources, "owner-1",
        provider or record_format.STANDALONE_PROVIDER_ID, "project-1",
        "plan-1", plan_name, {"plan": {"name": plan_name, "runs": 0}}, NOW)
    made["owner"] = {"project_id": "project-1", "project_name": "p"}
    return made


def opened(stored, checkpoint_id=ID, key=KEY):
    return record_format.open_record(
        record_format.parse_record(stored, checkpoint_id), key, checkpoint_id)


# --- the format, pure --------------------------------------------------------

def test_a_sealed_record_keeps_karbors_shape_and_shows_no_name():
    plain = record()
    stored = record_format.seal_record(plain, KEY)
    assert record_format.parse_record(stored, ID) is stored  # Karbor reads it
    text = json.dumps(stored)
    for name in ("payroll plan", "db volume", "logs volume"):
        assert name not in text
    assert stored["protection_plan"]["name"] == record_format.SEALED_NAME
    assert stored["extra_info"]["plan"]["name"] == record_format.SEALED_NAME
    assert [node[2] for node in record_format.resource_nodes(
        stored["resource_graph"])] == [record_format.SEALED_NAME] * 2
    assert KEY.material.hex() not in text
    assert opened(stored) == plain
    assert plain == record()  # sealing did not change it


@given(NAMES, st.lists(st.one_of(st.none(), NAMES), min_size=1, max_size=4))
def test_hypothesis_seal_and_mac_round_trip(plan_name, names):
    plain = record(plan_name=plan_name, names=names)
    stored = record_format.seal_record(plain, KEY)
    assert opened(stored) == plain
    assert stored["protection_plan"]["name"] == record_format.SEALED_NAME


@given(st.data())
def test_hypothesis_a_changed_record_is_caught_or_changes_nothing_covered(
        data):
    """Any edit of a stored sealed record either fails (damaged, or not
    authentic naming the checkpoint) or leaves every MACed field and every
    name as they were (it changed only status, extra_info, shares)."""
    plain = record()
    stored = record_format.seal_record(plain, KEY)
    changed = data.draw(mutated(stored))
    try:
        got = opened(changed)
    except exceptions.InvalidCheckpointRecord as exc:
        assert exc.checkpoint_id == ID
        return
    except exceptions.CheckpointNotAuthentic as exc:
        assert exc.checkpoint_id == ID and ID in str(exc)
        return
    for field in record_format.MAC_FIELDS:
        if field in ("protection_plan", "resource_graph"):
            continue  # they hold names: compared unsealed just below
        assert got.get(field) == plain.get(field)
    assert got["protection_plan"] == plain["protection_plan"]
    assert got["resource_graph"] == plain["resource_graph"]


@pytest.mark.parametrize("edit", [
    lambda r: r.update(project_id="project-2"),
    lambda r: r.update(owner_id="owner-2"),
    lambda r: r.update(timestamp=r["timestamp"] + 1),
    lambda r: r.update(created_at="2020-01-01"),
    lambda r: r["protection_plan"].update(id="plan-2"),
    lambda r: r["owner"].update(project_id="project-2"),
    lambda r: r.update(resource_graph=r["resource_graph"].replace(
        "vol-1", "vol-9")),
    lambda r: r["protection_plan"]["resources"][0].update(id="vol-9"),
    lambda r: r["protection_plan"].update(name="a readable name"),
], ids=["project", "owner_id", "timestamp", "created_at", "plan_id", "owner",
        "graph_volume", "plan_volume", "placeholder"])
def test_an_edited_authenticated_field_is_caught_naming_the_checkpoint(edit):
    stored = record_format.seal_record(record(), KEY)
    edit(stored)
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match=f"checkpoint {ID}.*MAC does not hold"):
        opened(stored)


def test_status_and_extra_info_stay_outside_the_mac():
    """What keyless deletes and sweeps change (status, extra_info)."""
    stored = record_format.seal_record(record(), KEY)
    stored["status"] = CheckpointStatus.ERROR
    stored["extra_info"]["reason"] = "its run died"
    got = opened(stored)
    assert got["status"] == CheckpointStatus.ERROR
    assert got["extra_info"] == {"plan": {"name": "payroll plan", "runs": 0},
                                 "reason": "its run died"}


def test_a_record_moved_to_another_checkpoint_is_caught():
    stored = record_format.seal_record(record(), KEY)
    stored["id"] = OTHER_ID  # else parse_record already refuses it
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match=f"checkpoint {OTHER_ID}"):
        opened(stored, OTHER_ID)


def test_names_of_another_checkpoint_are_caught():
    mine = record_format.seal_record(record(), KEY)
    theirs = record_format.seal_record(
        record(plan_name="other plan", names=("x", "y")), KEY)
    swapped = copy.deepcopy(mine)
    swapped["encryption"]["names"] = theirs["encryption"]["names"]
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match="MAC does not hold"):
        opened(swapped)
    # another checkpoint's whole seal (its names and its MAC) too
    elsewhere = record_format.seal_record(record(OTHER_ID), KEY)
    swapped = copy.deepcopy(mine)
    swapped["encryption"] = elsewhere["encryption"]
    with pytest.raises(exceptions.CheckpointNotAuthentic, match=ID):
        opened(swapped)


def test_names_that_do_not_open_are_caught_even_under_a_good_mac(monkeypatch):
    """Names sealed for another checkpoint, under a MAC that holds (which
    needs the key: here the test makes it), still do not open."""
    stored = record_format.seal_record(record(), KEY)
    other = record_format.seal_record(record(OTHER_ID), KEY)
    stored["encryption"]["names"] = other["encryption"]["names"]
    seal = stored["encryption"]
    seal["mac"] = record_format._mac(KEY, ID, stored, seal)
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match="names do not authenticate"):
        opened(stored)


@pytest.mark.parametrize("mac", ["\u00e9" * 64, "\ud800", 42, None, ["a"]])
def test_a_mac_that_is_no_hex_text_is_caught_naming_the_checkpoint(mac):
    """Whatever JSON the bank holds in place of the MAC (non-ASCII text
    made Python's compare_digest raise TypeError), it is the checkpoint's
    error."""
    stored = record_format.seal_record(record(), KEY)
    stored["encryption"]["mac"] = mac
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match=f"{ID}.*MAC does not hold"):
        opened(stored)


def test_a_stripped_seal_on_our_record_is_caught_karbors_passes_as_it_is():
    stored = record_format.seal_record(record(), KEY)
    del stored["encryption"]
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match="seal was stripped"):
        opened(stored)
    karbors = record(provider="cf56bd3e-97a7-4078-b6d5-f36246333fd9")
    assert opened(karbors) == karbors


def test_another_key_is_named_not_a_mac_failure():
    stored = record_format.seal_record(record(), KEY)
    other = MasterKey.generate()
    with pytest.raises(exceptions.CheckpointNotAuthentic) as info:
        opened(stored, key=other)
    assert KEY.fingerprint() in str(info.value)
    assert other.fingerprint() in str(info.value)
    assert "MAC" not in str(info.value)


# --- with the runner ---------------------------------------------------------

@pytest.fixture
def keyed(cloud, bank):
    return Harness(cloud, bank, master_key=MasterKey.generate())


def stored_record(bank, checkpoint_id):
    return bank.get_sub_section(record_format.CHECKPOINTS_ROOT).get_object(
        record_format.record_key(checkpoint_id))


def write_record(bank, checkpoint_id, value):
    bank.get_sub_section(record_format.CHECKPOINTS_ROOT).update_object(
        record_format.record_key(checkpoint_id), value)


def protect(runner, cloud, plan_name="secret payroll"):
    volume_id = cloud.add_volume(data=b"x" * 4096)
    return runner.protect([volume_id], {volume_id: {"backup_name": "b"}},
                          plan_name=plan_name).checkpoint_id


def test_a_keyed_protect_seals_show_and_list_unseal_with_the_key(
        cloud, bank, keyed):
    runner = Runner(keyed.plugin, bank, keyed.context)
    checkpoint_id = protect(runner, cloud)
    stored = stored_record(bank, checkpoint_id)
    assert "secret payroll" not in json.dumps(stored)
    assert stored["status"] == CheckpointStatus.AVAILABLE
    shown = Runner(keyed.plugin, bank, keyed.context).show(checkpoint_id)
    assert shown["plan"] == "secret payroll" and "sealed" not in shown
    listed = Runner(keyed.plugin, bank, keyed.context).list()
    assert [c["plan"] for c in listed] == ["secret payroll"]
    # without the key: listed for its owner all the same, names sealed
    blind = Runner(Harness(cloud, bank).plugin, bank, keyed.context)
    listed = blind.list()
    assert [(c["id"], c["plan"], c.get("sealed")) for c in listed] == [
        (checkpoint_id, record_format.SEALED_NAME, True)]
    assert blind.show(checkpoint_id)["sealed"] is True


def test_a_plain_banks_record_is_as_before(cloud, bank, harness):
    runner = Runner(harness.plugin, bank, harness.context)
    checkpoint_id = protect(runner, cloud)
    stored = stored_record(bank, checkpoint_id)
    assert "encryption" not in stored
    assert stored["protection_plan"]["name"] == "secret payroll"
    assert set(stored) - {"shared_with"} == set(record())
    assert [node[2] for node in record_format.resource_nodes(
        stored["resource_graph"])] == [stored["protection_plan"][
            "resources"][0]["id"]]


def test_a_tampered_record_fails_restore_and_verify_before_the_cloud(
        cloud, bank, keyed):
    runner = Runner(keyed.plugin, bank, keyed.context)
    checkpoint_id = protect(runner, cloud)
    stored = stored_record(bank, checkpoint_id)
    stored["timestamp"] += 60
    write_record(bank, checkpoint_id, stored)
    volumes = set(cloud.state.volumes)
    for call in (lambda r: r.restore(checkpoint_id, {}),
                 lambda r: r.verify(checkpoint_id),
                 lambda r: r.show(checkpoint_id)):
        with pytest.raises(exceptions.CheckpointNotAuthentic,
                           match=f"checkpoint {checkpoint_id}"):
            call(Runner(keyed.plugin, bank, keyed.context))
    assert set(cloud.state.volumes) == volumes
    # a keyed listing shows it damaged, naming why; its owner deletes it
    listed = Runner(keyed.plugin, bank, keyed.context).list()
    assert [(c["id"], c["status"]) for c in listed] == [
        (checkpoint_id, CheckpointStatus.DAMAGED)]
    assert "MAC does not hold" in listed[0]["damage"]
    result = Runner(keyed.plugin, bank, keyed.context).delete(checkpoint_id)
    assert result.ok


def test_a_stripped_record_fails_a_keyed_restore(cloud, bank, keyed):
    runner = Runner(keyed.plugin, bank, keyed.context)
    checkpoint_id = protect(runner, cloud)
    stored = stored_record(bank, checkpoint_id)
    del stored["encryption"]
    stored["protection_plan"]["name"] = "forged"
    write_record(bank, checkpoint_id, stored)
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match="seal was stripped"):
        Runner(keyed.plugin, bank, keyed.context).restore(checkpoint_id, {})


def test_a_keyless_delete_keeps_the_seal_and_mac(cloud, bank, keyed):
    runner = Runner(keyed.plugin, bank, keyed.context)
    checkpoint_id = protect(runner, cloud)
    before = stored_record(bank, checkpoint_id)["encryption"]
    blind = Runner(Harness(cloud, bank).plugin, bank, keyed.context)
    blind.delete(checkpoint_id)
    after = stored_record(bank, checkpoint_id)
    assert after["status"] == CheckpointStatus.DELETED
    assert after["encryption"] == before
    assert opened(after, checkpoint_id,
                  keyed.master_key)["protection_plan"]["name"] == \
        "secret payroll"


def checkpoint_keys(bank):
    return bank.get_sub_section(record_format.CHECKPOINTS_ROOT).list_objects()


def test_the_banks_key_is_made_before_the_first_record_and_seals_it(
        cloud, bank, tmp_path):
    from karbor_volume_glance.operations import keys

    key_file = tmp_path / "bank.key"
    key_file.write_bytes(bytes(range(32)))
    harness = Harness(cloud, bank, encrypt=True, key_file=str(key_file))
    runner = Runner(harness.plugin, bank, harness.context)
    checkpoint_id = protect(runner, cloud)
    stored = stored_record(bank, checkpoint_id)
    assert keys.encryption_record(bank)["encrypted"] is True
    master = keys.open_master_key(bank, harness.plugin.settings)
    assert stored["encryption"]["key"] == master.fingerprint()
    assert opened(stored, checkpoint_id, master)["protection_plan"][
        "name"] == "secret payroll"


def test_no_key_source_fails_a_protect_before_its_checkpoint_is_made(
        cloud, bank, monkeypatch):
    monkeypatch.delenv("KARBOR_VOLUME_GLANCE_PASSPHRASE", raising=False)
    harness = Harness(cloud, bank, encrypt=True)
    runner = Runner(harness.plugin, bank, harness.context)
    volume_id = cloud.add_volume(data=b"x" * 4096)
    volumes = set(cloud.state.volumes)
    with pytest.raises(exceptions.NotReady, match="is to be encrypted: no "
                       "passphrase"):
        runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
    assert checkpoint_keys(bank) == []
    assert set(cloud.state.volumes) == volumes


def test_a_plans_resumption_checks_the_record_before_it_redoes_anything(
        cloud, bank, keyed):
    from karbor_volume_glance.plans import model, protection

    volume_id = cloud.add_volume(data=b"y" * 4096)
    plan = model.from_document(
        {"name": "payroll", "bank": "memory://",
         "sites": {"site-a": "cloud-a"}, "resources": [volume_id]},
        "plan.yaml")
    runner = Runner(keyed.plugin, bank, keyed.context)
    result = protection.protect(runner, plan, plan.site("site-a"))
    assert result.ok
    stored = stored_record(bank, result.checkpoint_id)
    assert "payroll" not in json.dumps(stored)
    assert runner.checkpoint(result.checkpoint_id).index["extra_info"][
        "plan"]["name"] == "payroll"
    stored["status"] = CheckpointStatus.ERROR  # outside the MAC: resumable
    stored["protection_plan"]["resources"][0]["type"] = "OS::Nova::Server"
    write_record(bank, result.checkpoint_id, stored)
    volumes = set(cloud.state.volumes)
    with pytest.raises(exceptions.CheckpointNotAuthentic,
                       match=f"checkpoint {result.checkpoint_id}"):
        protection.protect(Runner(keyed.plugin, bank, keyed.context), plan,
                           plan.site("site-a"), resume=result.checkpoint_id)
    assert set(cloud.state.volumes) == volumes
