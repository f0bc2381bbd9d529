"""Plan protect, resume, restore, list and prune over the FakeCloud."""

import os
import threading
import time

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.plans import (
    PlanError,
    catalog,
    engine,
    model,
    protection,
    restoration,
    retention,
)
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone import checkpoints as cps
from karbor_volume_glance.standalone.runner import Runner
from tests.unit.harness import OBJECT_SIZE, fail_after, plugin_config


class Counting:
    """The plugin, counting the volumes whose operation runs at once."""

    def __init__(self, plugin, delay=0.0):
        self._plugin = plugin
        self._delay = delay
        self._lock = threading.Lock()
        self.active = self.peak = 0
        self.started = []

    def __getattr__(self, name):
        return getattr(self._plugin, name)

    def _counted(self, operation, resource):
        counter, on_main = self, operation.on_main

        def counted(*args, **kwargs):
            with counter._lock:
                counter.active += 1
                counter.peak = max(counter.peak, counter.active)
                counter.started.append(resource.id)
            try:
                time.sleep(counter._delay)
                return on_main(*args, **kwargs)
            finally:
                with counter._lock:
                    counter.active -= 1

        operation.on_main = counted
        return operation

    def get_protect_operation(self, resource):
        return self._counted(self._plugin.get_protect_operation(resource),
                             resource)

    def get_restore_operation(self, resource):
        return self._counted(self._plugin.get_restore_operation(resource),
                             resource)


@pytest.fixture
def plugin(cloud):
    return Counting(VolumeGlanceProtectionPlugin(
        plugin_config(), client_factory=cloud.client_factory()))


@pytest.fixture
def runner(plugin, bank, cloud):
    return Runner(plugin, bank, cloud.context())


def make_plan(volume_ids, name="nightly", **changes):
    document = {"name": name, "bank": "memory://",
                "sites": {"site-a": "cloud-a", "site-b": "cloud-b"},
                "resources": list(volume_ids)}
    document.update(changes)
    return model.from_document(document, "plan.yaml")


def volumes(cloud, count, size=OBJECT_SIZE + 7):
    return [cloud.add_volume(data=os.urandom(size + i)) for i in range(count)]


def test_one_checkpoint_holds_every_volume_of_the_plan(runner, cloud, bank):
    volume_ids = volumes(cloud, 3)
    plan = make_plan(volume_ids)
    result = protection.protect(runner, plan, plan.site("site-a"))
    assert result.ok and result.status == "available"
    assert [o.volume_id for o in result.outcomes] == volume_ids
    checkpoint = runner.checkpoint(result.checkpoint_id)
    assert checkpoint.status == "available"
    assert [r.id for r in checkpoint.resources] == volume_ids
    assert checkpoint.index["protection_plan"]["name"] == "nightly"
    plan_id = plan.for_caller(runner.caller).id
    assert checkpoint.index["protection_plan"]["id"] == plan_id
    info = catalog.plan_info(checkpoint)
    assert info["site"] == "site-a" and info["cloud"] == "cloud-a"
    assert info["runs"] == 1
    assert "failed_volumes" not in checkpoint.index["extra_info"]
    assert bank.list_objects(f"/indices/by-plan/{plan_id}/")
    # each volume got the plan's options: backup_name is the plan's name
    shown = runner.show(result.checkpoint_id)["volumes"]
    assert {info["backup_name"] for info in shown.values()} == {"nightly"}


def test_parallelism_is_bounded(runner, plugin, cloud):
    volume_ids = volumes(cloud, 5, size=10)
    plugin._delay = 0.05
    plan = make_plan(volume_ids, parallelism=2)
    assert protection.protect(runner, plan, plan.site("site-a")).ok
    assert plugin.peak == 2
    plugin.peak = 0
    result = protection.protect(runner, plan, plan.site("site-a"),
                                parallelism=1)
    assert result.ok and plugin.peak == 1
    plugin.peak = 0
    assert restoration.restore(runner, plan, plan.site("site-b"),
                               result.checkpoint_id, parallelism=3).ok
    assert plugin.peak == 3


def test_a_plan_with_a_missing_or_failed_volume_is_refused_before_its_checkpoint(
        runner, cloud, bank):
    """Issue 14: every volume of the plan is checked before its checkpoint
    is made; each one refused is named, and nothing is left in the bank."""
    good = volumes(cloud, 1)
    failed = cloud.add_volume(data=os.urandom(100), status="error")
    missing = "0b6ad5d0-3c1e-4a0e-9c52-4ad1f0a3e2b7"
    before = bank.list_objects()
    with pytest.raises(exceptions.ProtectRefused) as caught:
        protection.protect(runner, make_plan([good[0], failed, missing]),
                           make_plan([good[0]]).site("site-a"))
    assert [failure.resource_id for failure in caught.value.failures] == [
        failed, missing]
    assert "'error'" in str(caught.value) and "not found" in str(caught.value)
    assert bank.list_objects() == before
    assert runner.list() == []


def test_a_failing_volume_does_not_stop_the_others_and_a_resume_redoes_it(
        runner, plugin, cloud, monkeypatch):
    good = volumes(cloud, 2)
    bad = cloud.add_volume(data=os.urandom(100))
    fail_after(monkeypatch, protection, "_create", cloud, bad)
    plan = make_plan([good[0], bad, good[1]])
    result = protection.protect(runner, plan, plan.site("site-a"))
    assert not result.ok and result.status == "error"
    assert [(o.volume_id, o.ok) for o in result.outcomes] == [
        (good[0], True), (bad, False), (good[1], True)]
    assert "went to status 'error'" in result.failures()[0].error
    checkpoint = runner.checkpoint(result.checkpoint_id)
    assert checkpoint.status == "error"
    assert list(checkpoint.index["extra_info"]["failed_volumes"]) == [bad]

    with cloud.lock:  # the volume is fixed
        cloud.state.volumes[bad].status = "available"
    plugin.started.clear()
    resumed = protection.protect(runner, plan, plan.site("site-a"),
                                 resume=result.checkpoint_id)
    assert plugin.started == [bad]  # only the failed one is redone
    assert resumed.ok and resumed.status == "available"
    assert resumed.checkpoint_id == result.checkpoint_id
    assert resumed.kept == good
    assert resumed.to_dict()["volumes"][0] == {"volume_id": good[0], "ok": True,
                                               "kept": True}
    checkpoint = runner.checkpoint(result.checkpoint_id)
    assert checkpoint.status == "available"
    assert "failed_volumes" not in checkpoint.index["extra_info"]
    assert catalog.plan_info(checkpoint)["runs"] == 2

    restored = restoration.restore(runner, plan, plan.site("site-b"),
                                   result.checkpoint_id)
    assert restored.ok
    for outcome in restored.outcomes:
        assert (cloud.volume_data(outcome.new_volume_id)
                == cloud.volume_data(outcome.volume_id))

    # an available checkpoint has nothing to redo: nothing runs or changes
    plugin.started.clear()
    again = protection.protect(runner, plan, plan.site("site-a"),
                               resume=result.checkpoint_id)
    assert again.ok and again.kept == [good[0], bad, good[1]]
    assert plugin.started == []
    assert catalog.plan_info(runner.checkpoint(result.checkpoint_id))["runs"] == 2


def test_resuming_a_killed_run_redoes_the_unfinished_volumes(runner, plugin,
                                                             cloud, bank):
    volume_ids = volumes(cloud, 3)
    plan = make_plan(volume_ids)
    result = protection.protect(runner, plan, plan.site("site-a"))
    checkpoint = runner.checkpoint(result.checkpoint_id)
    # what a run killed while at the second volume leaves in the bank
    checkpoint.set_status(CheckpointStatus.PROTECTING)
    checkpoint.get_resource_bank_section(volume_ids[1]).update_object(
        "status", "protecting")
    third = checkpoint.get_resource_bank_section(volume_ids[2])
    for key in third.list_objects():
        third.delete_object(key)

    plugin.started.clear()
    resumed = protection.protect(runner, plan, plan.site("site-a"),
                                 resume=result.checkpoint_id)
    assert sorted(plugin.started) == sorted(volume_ids[1:])
    assert resumed.ok and resumed.kept == volume_ids[:1]
    assert runner.checkpoint(result.checkpoint_id).status == "available"
    restored = restoration.restore(runner, plan, plan.site("site-b"), "latest")
    assert restored.checkpoint_id == result.checkpoint_id
    for outcome in restored.outcomes:
        assert (cloud.volume_data(outcome.new_volume_id)
                == cloud.volume_data(outcome.volume_id))


def test_what_cannot_be_resumed(runner, cloud, bank):
    volume_ids = volumes(cloud, 1)
    plan = make_plan(volume_ids)
    made = protection.protect(runner, plan, plan.site("site-a")).checkpoint_id
    with pytest.raises(PlanError, match=f"checkpoint {made} was made at site "
                       "'site-a', where its volumes are; resume it there, not "
                       "at 'site-b'"):
        protection.protect(runner, plan, plan.site("site-b"), resume=made)
    other = make_plan(volume_ids, name="other")
    with pytest.raises(PlanError, match="is not a checkpoint of plan 'other'"):
        protection.protect(runner, other, other.site("site-a"), resume=made)
    with pytest.raises(exceptions.CheckpointNotFound):
        protection.protect(runner, plan, plan.site("site-a"), resume="nope")
    assert runner.delete(made).ok
    with pytest.raises(PlanError, match="is deleted; only an error or "
                       "protecting checkpoint has volumes to redo"):
        protection.protect(runner, plan, plan.site("site-a"), resume=made)


def test_nothing_is_created_when_the_cloud_is_not_ready(runner, plugin, cloud,
                                                         bank):
    plan = make_plan(volumes(cloud, 2))
    cloud.inject("volume.list", "exception")  # the readiness probe of Cinder
    with pytest.raises(exceptions.NotReady, match="not ready: cinder: "):
        protection.protect(runner, plan, plan.site("site-a"))
    assert plugin.started == [] and cloud.created() == []
    assert bank.list_objects("/checkpoints/") == []


def test_restore_reports_each_volume_and_refuses_others_checkpoints(
        runner, cloud):
    volume_ids = volumes(cloud, 3)
    plan = make_plan(volume_ids, restore={"restore_description": "dr"})
    made = protection.protect(runner, plan, plan.site("site-a")).checkpoint_id
    cloud.inject("volume.create", "error")  # the first restore's new volume
    restored = restoration.restore(runner, plan, plan.site("site-b"), made,
                                   parallelism=1)
    assert [o.ok for o in restored.outcomes].count(False) == 1
    for outcome in restored.outcomes:
        if outcome.ok:
            assert (cloud.volume_data(outcome.new_volume_id)
                    == cloud.volume_data(outcome.volume_id))
    with pytest.raises(PlanError, match="is not a checkpoint of plan 'other'"):
        restoration.restore(runner, make_plan(volume_ids, name="other"),
                            plan.site("site-b"), made)
    runner.checkpoint(made).set_status(CheckpointStatus.PROTECTING)
    with pytest.raises(PlanError, match=f"checkpoint {made} is protecting; only "
                       "an available"):
        restoration.restore(runner, plan, plan.site("site-b"), made)
    with pytest.raises(PlanError, match="plan 'empty' has no available "
                       "checkpoint"):
        restoration.restore(runner, make_plan(volume_ids, name="empty"),
                            plan.site("site-b"), "latest")


def test_list_and_prune_keep_the_newest_restorable(runner, cloud):
    volume_ids = volumes(cloud, 2, size=3 * OBJECT_SIZE)
    plan = make_plan(volume_ids, options={"incremental": True})
    made = []
    for round_ in range(3):
        cloud.write_volume(volume_ids[0], round_ * OBJECT_SIZE, b"changed" * 9)
        result = protection.protect(runner, plan, plan.site("site-a"))
        assert result.ok
        made.append(result.checkpoint_id)
    listed = catalog.listing(runner, plan)
    assert [row["id"] for row in listed] == made
    assert listed[0]["incremental"] == []
    assert listed[2]["incremental"] == volume_ids
    assert listed[2]["volumes"] == volume_ids and listed[2]["site"] == "site-a"
    # another plan's checkpoints are not this plan's
    other = make_plan(volume_ids, name="other")
    assert catalog.listing(runner, other) == []

    dry = retention.prune(runner, plan, keep=1, dry_run=True)
    assert [row["id"] for row in dry["deleted"]] == made[:2]
    assert "ok" not in dry["deleted"][0]
    assert [row["id"] for row in catalog.listing(runner, plan)] == made

    pruned = retention.prune(runner, plan, keep=1)
    assert [(row["id"], row["ok"]) for row in pruned["deleted"]] == [
        (made[0], True), (made[1], True)]
    assert pruned["kept"] == made[2:]
    assert [row["id"] for row in catalog.listing(runner, plan)] == made[2:]
    restored = restoration.restore(runner, plan, plan.site("site-b"), "latest")
    assert restored.ok
    for outcome in restored.outcomes:
        assert (cloud.volume_data(outcome.new_volume_id)
                == cloud.volume_data(outcome.volume_id))


def test_a_failure_outside_the_volumes_marks_the_checkpoint_error(
        runner, cloud, monkeypatch):
    volume_ids = volumes(cloud, 1)
    plan = make_plan(volume_ids)
    real = cps.Checkpoint.set_status

    def refuse_available(checkpoint, status):
        if status == CheckpointStatus.AVAILABLE:
            raise exceptions.BankError("the bank refused the write")
        real(checkpoint, status)

    monkeypatch.setattr(cps.Checkpoint, "set_status", refuse_available)
    with pytest.raises(exceptions.BankError, match="refused"):
        protection.protect(runner, plan, plan.site("site-a"))
    [checkpoint] = runner.store.list(cloud.context().project_id)
    assert checkpoint.status == "error"
    assert "refused" in str(checkpoint.index["extra_info"]["flow_failure"])


def test_the_engine_keeps_order_and_turns_errors_into_outcomes():
    def fails():
        raise exceptions.VolumeGlanceError("no luck")

    def breaks():
        raise KeyError("bug")

    calls = []
    outcomes = engine.run("t", [("a", lambda: "new-a"), ("b", fails),
                                ("c", breaks)], 2,
                          begin=lambda: calls.append("begin"),
                          finish=lambda done: calls.append(len(done)))
    assert [(o.volume_id, o.ok, o.error, o.new_volume_id) for o in outcomes] == [
        ("a", True, None, "new-a"), ("b", False, "no luck", None),
        ("c", False, "unexpected KeyError: 'bug'", None)]
    assert calls == ["begin", 3]
    assert engine.run("t", [], 2) == []
