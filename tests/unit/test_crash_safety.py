"""Crash-safe runs (issue 13): a run killed at any step leaves a journal and
tags a sweep finds once its lease is over; a live run is never touched.

A kill is simulated in process: the step raises :class:`Killed` (a
BaseException, as nothing of ours catches), and nothing that would run after
a real kill -9 runs (no cleanup of temporary resources, no journal removal,
no index update); the lease thread stops with the run. The lease is then
aged in the bank instead of waiting for it (a sweep's ``now`` in the future,
or the lease rewritten as old).
"""

import datetime
import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.cloud import cleanup, facade
from karbor_volume_glance.format import runs as runs_format
from karbor_volume_glance.operations import protect, runs, sweep
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit.harness import OBJECT_SIZE, Harness

LEASE = 3


class Killed(BaseException):
    """The process died here."""


@pytest.fixture
def crash(harness, monkeypatch):
    """A harness whose ``arm(cls, method, nth)`` makes the nth call of
    ``cls.method`` kill the run (``undo()`` disarms)."""
    # the snapshot path: the kills below are placed among its resources
    harness = Harness(harness.cloud, harness.bank, lease_seconds=LEASE,
                      backup_from_snapshot=True)

    def arm(cls, method, nth=1):
        monkeypatch.setattr(cleanup.TemporaryResources, "clean_up",
                            lambda self: [])
        monkeypatch.setattr(protect, "_mark_entry_failed",
                            lambda index, entry: None)
        original = getattr(cls, method)
        calls = []

        def die(*args, **kwargs):
            calls.append(args)
            if len(calls) == nth:
                raise Killed(f"{cls.__name__}.{method}")
            return original(*args, **kwargs)
        monkeypatch.setattr(cls, method, die)

    harness.arm = arm
    harness.undo = monkeypatch.undo
    return harness


def _later():
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=LEASE + 1)


def _root(harness):
    return harness.bank.get_sub_section("/")


def _sweeper(harness, now=None, dry_run=False):
    cloud = facade.Cloud(harness.cloud.client_factory(), harness.context,
                         harness.plugin.settings)
    return sweep.Sweep(_root(harness), cloud, harness.plugin.settings,
                       harness.context.project_id, dry_run=dry_run, now=now)


def _age_leases(harness):
    """Make every run's lease look LEASE + 1 seconds old (time passing)."""
    for found in runs.runs_of(_root(harness)):
        lease = dict(found.lease or {}, renewed_at=(
            datetime.datetime.now(datetime.UTC)
            - datetime.timedelta(seconds=LEASE + 1)).isoformat())
        found.section.update_object(runs_format.LEASE_KEY, lease)


def _run_keys(harness):
    return harness.bank.list_objects(prefix=runs_format.RUNS_ROOT)


#: Kill points of protect: (class, method, which call).
PROTECT_KILLS = {
    "snapshot": (facade.Cloud, "wait_snapshot", 1),
    # the first wait is for the user's volume to be usable
    "temporary volume": (facade.Cloud, "wait_volume", 2),
    "upload-to-image": (facade.Cloud, "wait_upload", 1),
    "stream": (facade.Cloud, "image_data", 1),
    # the temporary volume made, its id not yet in the journal: by its tag
    "journal update": (runs.RunJournal, "created", 2),
    # Cinder's image made, its id not yet in the journal nor tags on it: by
    # the intent's name
    "image id": (runs.RunJournal, "created", 3),
    "image tagging": (facade.Cloud, "set_image_properties", 1),
}


#: How the sweep finds what a kill left, where not by the journal alone.
FOUND_BY = {"journal update": {"journal", "tag"},
            "image id": {"journal", "name"}}


@pytest.mark.parametrize("step", PROTECT_KILLS)
def test_a_killed_protect_leaves_nothing_after_a_sweep(crash, step):
    volume_id = crash.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    crash.arm(*PROTECT_KILLS[step])
    with pytest.raises(Killed):
        crash.protect(volume_id)
    crash.undo()
    left = crash.cloud.leftovers()
    assert left, "the kill left something to sweep"
    # alive: the sweep keeps all of it
    report = _sweeper(crash).all()
    assert {row["action"] for row in report["resources"]
            if row["kind"] == "run"} == {"kept: run alive"}
    assert crash.cloud.leftovers() == left
    # dry run once the lease is over: lists it all, changes nothing
    dry = _sweeper(crash, now=_later(), dry_run=True).all()
    assert {row["id"] for row in dry["resources"]
            if row["action"] == "would delete"} == {rid for _, rid, _ in left}
    assert crash.cloud.leftovers() == left
    report = _sweeper(crash, now=_later()).all()
    deleted = {row["id"] for row in report["resources"]
               if row["action"] == "deleted"}
    assert deleted == {rid for _, rid, _ in left}
    found_by = {row["found_by"] for row in report["resources"]
                if row["action"] == "deleted"}
    assert found_by == FOUND_BY.get(step, {"journal"})
    assert crash.cloud.leftovers() == []
    section = crash.section(volume_id)
    assert section.get_object("status") == "error"
    assert section.get_object("status_reason") == "run died"
    assert _run_keys(crash) == []
    # the next protect of the volume works, and a delete cleans the bank
    crash.protect(volume_id, checkpoint=FakeCheckpoint(crash.bank))
    assert crash.cloud.leftovers() == []
    crash.delete(volume_id)
    assert section.list_objects() == ["status"]


def test_the_next_protect_sweeps_its_volumes_dead_runs(crash):
    volume_id = crash.cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    crash.arm(facade.Cloud, "wait_upload")
    with pytest.raises(Killed):
        crash.protect(volume_id)
    crash.undo()
    assert len(crash.cloud.leftovers()) == 3
    _age_leases(crash)
    other = crash.cloud.add_volume(data=b"x")
    crash.protect(other, checkpoint=FakeCheckpoint(crash.bank))
    assert len(crash.cloud.leftovers()) == 3  # another volume: not its business
    crash.protect(volume_id, checkpoint=FakeCheckpoint(crash.bank))
    assert crash.cloud.leftovers() == []
    assert crash.section(volume_id).get_object("status") == "error"
    assert _run_keys(crash) == []


def test_a_killed_incremental_frees_its_parent_when_swept(crash):
    volume_id = crash.cloud.add_volume(data=os.urandom(4 * OBJECT_SIZE))
    parent = FakeCheckpoint(crash.bank)
    crash.protect(volume_id, checkpoint=parent)
    crash.arm(facade.Cloud, "image_data")
    with pytest.raises(Killed):
        crash.protect(volume_id, {"backup_name": "i", "incremental": True})
    crash.undo()
    _sweeper(crash, now=_later()).all()
    crash.delete(volume_id, checkpoint=parent)
    assert crash.section(volume_id, parent).list_objects() == ["status"]


def test_a_killed_restore_leaves_no_volume_after_a_sweep(crash):
    volume_id = crash.cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE),
                                       metadata={"owner": "me"})
    crash.protect(volume_id)
    before = crash.cloud.leftovers()
    crash.arm(facade.Cloud, "wait_volume")
    with pytest.raises(Killed):
        crash.restore(volume_id)
    crash.undo()
    left = crash.cloud.leftovers()
    assert {kind for kind, _, _ in left} == {"image", "volume"}
    cloud = facade.Cloud(crash.cloud.client_factory(), crash.context,
                         crash.plugin.settings)
    [volume] = [t for t in cloud.tagged_resources(runs_format.is_tagged)
                if t.kind == "volume"]
    assert volume.tags[runs_format.UNFINISHED_TAG] == "true"
    _sweeper(crash, now=_later()).all()
    assert crash.cloud.leftovers() == before


def test_a_finished_restore_leaves_an_untagged_volume_sweep_keeps(harness):
    harness = Harness(harness.cloud, harness.bank, lease_seconds=LEASE)
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE),
                                         metadata={"owner": "me"})
    harness.protect(volume_id)
    new_id = harness.restore(volume_id)
    cloud = facade.Cloud(harness.cloud.client_factory(), harness.context,
                         harness.plugin.settings)
    assert dict(cloud.get_volume(new_id).metadata) == {"owner": "me"}
    report = _sweeper(harness, now=_later()).all()
    assert report["resources"] == []
    assert new_id in {rid for _, rid, _ in harness.cloud.leftovers()}


def test_sweep_never_deletes_a_users_snapshot_or_untagged_resources(crash):
    volume_id = crash.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    snapshot_id = crash.cloud.add_snapshot(volume_id, name="mine")
    crash.arm(facade.Cloud, "wait_upload")
    with pytest.raises(Killed):
        crash.protect(volume_id, {"backup_name": "s", "snapshot_id": snapshot_id})
    crash.undo()
    _sweeper(crash, now=_later()).all()
    assert crash.cloud.leftovers() == []
    cloud = facade.Cloud(crash.cloud.client_factory(), crash.context,
                         crash.plugin.settings)
    assert cloud.get_snapshot(snapshot_id).status == "available"
    assert cloud.get_volume(volume_id).status == "available"


def test_sweep_keeps_resources_of_another_banks_runs(crash, tmp_path):
    from karbor_volume_glance.bank import open_bank

    volume_id = crash.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    crash.arm(facade.Cloud, "wait_upload")
    with pytest.raises(Killed):
        crash.protect(volume_id)
    crash.undo()
    left = crash.cloud.leftovers()
    other = Harness(crash.cloud, open_bank("memory://"), lease_seconds=LEASE)
    report = _sweeper(other, now=_later()).all()
    assert {row["action"] for row in report["resources"]} == {
        "kept: another bank's run"}
    assert crash.cloud.leftovers() == left


def test_delete_removes_the_file_banks_temporary_files(harness, tmp_path):
    from karbor_volume_glance.bank import open_bank

    harness = Harness(harness.cloud, open_bank(f"file://{tmp_path}/b"))
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.protect(volume_id)
    directory = (tmp_path / "b" / "objects" / "checkpoints" / harness.checkpoint.id
                 / "resource-data" / volume_id)
    half = directory / "data_9~obj~tmp-0123456789abcdef"
    half.write_bytes(b"half a chunk")
    assert harness.section(volume_id).list_objects(prefix="data_9") == []
    harness.delete(volume_id)
    assert not half.exists()


def test_a_protect_that_finds_its_backup_deleted_leaves_it_deleted(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    harness.protect(volume_id)
    harness.delete(volume_id)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert isinstance(info.value.cause, exceptions.BackupDeleted)
    section = harness.section(volume_id)
    assert section.get_object("status") == "deleted"
    assert section.list_objects() == ["status"]
    assert harness.cloud.leftovers() == []


def test_the_lease_is_renewed_while_the_run_works(harness):
    section = harness.bank.get_sub_section("/x/")
    run = runs.RunJournal.start(section, "protect", "c", "v", "p", LEASE)
    first = runs.runs_of(section, "v")[0].lease["renewed_at"]
    run.lease.start()
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=10)
    while runs.runs_of(section, "v")[0].lease["renewed_at"] == first:
        assert datetime.datetime.now() < deadline, "never renewed"
        run.lease._stopped.wait(0.05)
    run.finish()
    assert runs.runs_of(section, "v") == []


class ReadOnlyCheckpoint(FakeCheckpoint):
    """A checkpoint another site reads through a read-only bank section."""

    def get_resource_bank_section(self, resource_id):
        return self.bank.get_sub_section(
            f"/checkpoints/{self.id}/resource-data/{resource_id}/",
            is_writable=False)


def test_a_restore_from_a_read_only_bank_runs_without_a_journal(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.protect(volume_id)
    checkpoint = ReadOnlyCheckpoint(harness.bank, harness.checkpoint.id)
    new_id = harness.restore(volume_id, checkpoint=checkpoint)
    assert harness.cloud.volume_data(new_id)[:OBJECT_SIZE] == \
        harness.cloud.volume_data(volume_id)[:OBJECT_SIZE]
    assert _run_keys(harness) == []
    assert {rid for _, rid, _ in harness.cloud.leftovers()} == {new_id}


def test_a_run_whose_journal_cannot_be_written_makes_nothing(cloud):
    from karbor_volume_glance.bank import Bank
    from karbor_volume_glance.bank.memory import MemoryBackend

    class NoRuns(MemoryBackend):
        def update_object(self, key, value, context=None):
            if key.startswith(runs_format.RUNS_ROOT):
                raise exceptions.BankError(f"refused {key}", key=key)
            return super().update_object(key, value, context=context)

    harness = Harness(cloud, Bank(NoRuns()), bank_retries=0)
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert "refused /volume_glance/runs/" in str(info.value)
    assert cloud.leftovers() == []


def test_a_runner_killed_between_two_volumes_leaves_an_error_checkpoint(crash):
    from karbor_volume_glance.standalone.runner import Runner

    volumes = [crash.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
               for _ in range(2)]
    runner = Runner(crash.plugin, crash.bank, crash.context)
    # the checkpoint's run, the first volume's, then the second's: killed
    crash.arm(runs.RunJournal, "start", nth=3)
    with pytest.raises(Killed):
        runner.protect(volumes, {v: {"backup_name": "b"} for v in volumes})
    crash.undo()
    [checkpoint] = runner.list()
    assert checkpoint["status"] == "protecting"
    assert _sweeper(crash).all()["resources"][0]["action"] == "kept: run alive"
    report = _sweeper(crash, now=_later()).all()
    assert ("checkpoint", "marked error") in {
        (row["kind"], row["action"]) for row in report["resources"]}
    assert runner.show(checkpoint["id"])["status"] == "error"
    assert crash.cloud.leftovers() == []
    assert _run_keys(crash) == []


def test_a_protect_killed_while_cinder_uploads_the_volume_is_swept(
        harness, monkeypatch):
    """The direct path (``auto``, an available volume): killed while Cinder
    uploads the user's volume itself. Cinder's manager goes on (the volume
    stays ``uploading``, no client polls it); the sweep deletes the image,
    which fails the upload, and waits for Cinder to return the volume."""
    direct = Harness(harness.cloud, harness.bank, lease_seconds=LEASE)
    monkeypatch.setattr(cleanup.TemporaryResources, "clean_up", lambda self: [])

    def die(*args, **kwargs):
        raise Killed("wait_upload")
    monkeypatch.setattr(facade.Cloud, "wait_upload", die)
    volume_id = direct.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    # Cinder's copy lasts: as long as anyone may poll here, but for its image
    direct.cloud.inject("volume.upload_to_image", "slow", polls=10 ** 6)
    with pytest.raises(Killed):
        direct.protect(volume_id)
    monkeypatch.undo()
    [(kind, image_id, _)] = direct.cloud.leftovers()
    assert kind == "image"  # no temporary snapshot nor volume
    assert direct.cloud.status_of("volume", volume_id) == "uploading"
    dry = _sweeper(direct, now=_later(), dry_run=True).all()
    assert {"kind": "volume", "id": volume_id, "status": "uploading",
            "action": "would wait: uploading"} in dry["resources"]
    assert direct.cloud.status_of("volume", volume_id) == "uploading"
    report = _sweeper(direct, now=_later()).all()
    assert [(row["kind"], row["id"], row["action"])
            for row in report["resources"] if row["kind"] in (
                "image", "volume")] == [
        ("image", image_id, "deleted"),
        ("volume", volume_id, "waited: upload ended")]
    assert direct.cloud.status_of("volume", volume_id) == "available"
    assert direct.cloud.leftovers() == []
    assert _run_keys(direct) == []
    direct.protect(volume_id, checkpoint=FakeCheckpoint(direct.bank))
    assert direct.cloud.leftovers() == []
