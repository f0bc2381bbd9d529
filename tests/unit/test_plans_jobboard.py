"""Plans on a jobboard over the FakeCloud: the job payload and its decoder
(hypothesis too), the board URL, and conductors on an in-memory board with
taskflow's board interface (the real Redis board: tests/functional)."""

import contextlib
import copy
import os
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance.cli import commands
from karbor_volume_glance.format.status import BackupStatus, CheckpointStatus
from karbor_volume_glance.plans import catalog, jobboard, jobs
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tests.unit.harness import plugin_config
from tests.unit.test_plans_engine import Counting, make_plan, volumes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

URL = "redis://127.0.0.1:6379/0"


def payload(**changes):
    fields = dict(action="protect", batch="b" * 32, plan_name="nightly",
                  plan_id="p-1", bank="file:///srv/bank", site_name="site-a",
                  cloud="cloud-a", config_file=None, checkpoint_id="c-1",
                  volume_id="v-1", parameters={"backup_name": "nightly"})
    fields.update(changes)
    return jobs.JobPayload(**fields)


# --- the payload ------------------------------------------------------------


def test_a_payload_round_trips_through_its_details():
    for value in (payload(), payload(action="restore", config_file="/etc/p.conf",
                                     parameters={}),
                  payload(config_overrides={"encrypt": True,
                                            "key_file": "/etc/kvg/b.key"})):
        assert jobs.decode(value.encode()) == value
    assert payload().name == "protect:c-1:v-1"


def test_an_empty_config_is_refused_not_dropped():
    # Found by hypothesis: {"config": {}} decoded to a payload whose details
    # have no "config", so what decoded was not what was posted.
    details = payload(config_overrides={"encrypt": False}).encode()
    details["config"] = {}
    with pytest.raises(jobs.JobPayloadError, match="config"):
        jobs.decode(details)


@pytest.mark.parametrize("change", [
    lambda d: d.update(kind="other"),
    lambda d: d.update(version=2),
    lambda d: d.update(action="delete"),
    lambda d: d.pop("volume_id"),
    lambda d: d.update(extra=1),
    lambda d: d["site"].update(config_file=""),
    lambda d: d["plan"].pop("id"),
    lambda d: d.update(parameters=[]),
    lambda d: d.update(checkpoint_id=""),
    lambda d: d.update(config={"encrypt": "yes"}),
    lambda d: d.update(config={"passphrase": "x"}),
])
def test_a_payload_that_is_not_ours_is_refused(change):
    details = payload().encode()
    change(details)
    with pytest.raises(jobs.JobPayloadError, match="not a job payload"):
        jobs.decode(details)


def test_a_bad_payload_is_never_posted():
    with pytest.raises(jobs.JobPayloadError):
        payload(action="delete").encode()


IDS = st.text(min_size=1, max_size=40)
PAYLOADS = st.builds(
    jobs.JobPayload, action=st.sampled_from(jobs.ACTIONS), batch=IDS,
    plan_name=IDS, plan_id=IDS, bank=IDS, site_name=IDS, cloud=IDS,
    config_file=st.none() | IDS, checkpoint_id=IDS, volume_id=IDS,
    config_overrides=st.fixed_dictionaries(
        {}, optional={"encrypt": st.booleans(), "key_file": IDS}),
    parameters=st.dictionaries(st.text(max_size=10),
                               st.integers() | st.text(max_size=10),
                               max_size=3))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10)


@given(PAYLOADS)
def test_any_payload_round_trips(value):
    assert jobs.decode(value.encode()) == value


@given(PAYLOADS, st.data())
def test_a_mutated_payload_decodes_checked_or_is_refused(value, data):
    details = value.encode()
    mutated = copy.deepcopy(details)
    key = data.draw(st.sampled_from(sorted(mutated)))
    mutated[key] = data.draw(JSON)
    try:
        decoded = jobs.decode(mutated)
    except jobs.JobPayloadError:
        return
    assert decoded.encode() == mutated  # what decodes is a whole payload


@given(JSON)
def test_anything_else_is_refused_by_name(value):
    with pytest.raises(jobs.JobPayloadError):
        jobs.decode(value)


# --- the board's URL ----------------------------------------------------------


def test_redis_urls_become_taskflow_board_conf():
    assert jobboard.board_conf("redis://10.0.0.5:6380/2") == {
        "board": "redis", "host": "10.0.0.5", "port": 6380, "db": 2,
        "namespace": jobboard.NAMESPACE}
    conf = jobboard.board_conf("rediss://:s%40cret@redis.example")
    assert (conf["port"], conf["password"], conf["ssl"]) == (6379, "s@cret",
                                                             True)
    assert jobboard.board_conf("zookeeper://z1:2181,z2:2181/kvg") == {
        "board": "zookeeper", "hosts": "z1:2181,z2:2181", "path": "/kvg"}
    assert jobboard.board_conf("etcd://e1:2379")["board"] == "etcd"


@pytest.mark.parametrize("url", ["http://host:1/0", "redis:///0",
                                 "redis://host:1/zero", "redis://host:x/0"])
def test_a_wrong_url_is_refused_without_its_password(url):
    with pytest.raises(jobboard.JobboardError, match="jobboard URL"):
        jobboard.board_conf(url)
    with pytest.raises(jobboard.JobboardError) as caught:
        jobboard.board_conf("http://:hunter2@host/0")
    assert "hunter2" not in str(caught.value)


def test_detach_needs_a_jobboard(capsys):
    with pytest.raises(SystemExit):
        commands.parse_args(["plan", "protect", "plan.yaml", "--detach"])
    assert "--detach needs --jobboard" in capsys.readouterr().err
    args = commands.parse_args(["conductor", "--jobboard", URL])
    assert (args.command, args.workers) == ("conductor", 2)


# --- conductors on an in-memory board ----------------------------------------


@pytest.fixture
def plugin(cloud):
    return Counting(VolumeGlanceProtectionPlugin(
        plugin_config(), client_factory=cloud.client_factory()))


@pytest.fixture
def runner(plugin, bank, cloud):
    return Runner(plugin, bank, cloud.context())


class Job:
    def __init__(self, board, number, name, details):
        self.board, self.uuid, self.name = board, f"job-{number}", name
        self.details = details

    def extend_expiry(self, expiry):
        return True


class Board:
    """taskflow's jobboard interface, the part the conductor uses, in memory."""

    def __init__(self):
        self.jobs, self.owners, self.trashed = {}, {}, []
        self._lock = threading.Lock()

    def post(self, name, details=None):
        with self._lock:
            job = Job(self, len(self.jobs) + len(self.trashed), name, details)
            self.jobs[job.uuid] = job
        return job

    def iterjobs(self, only_unclaimed=False, ensure_fresh=False):
        with self._lock:
            return [job for job in self.jobs.values()
                    if not (only_unclaimed and job.uuid in self.owners)]

    def claim(self, job, who, expiry=None):
        from taskflow import exceptions

        with self._lock:
            if job.uuid in self.owners or job.uuid not in self.jobs:
                raise exceptions.UnclaimableJob(job.uuid)
            self.owners[job.uuid] = who

    def _release(self, job, who):
        assert self.owners.pop(job.uuid) == who

    def consume(self, job, who):
        with self._lock:
            self._release(job, who)
            del self.jobs[job.uuid]

    def abandon(self, job, who):
        with self._lock:
            self._release(job, who)

    def trash(self, job, who):
        with self._lock:
            self._release(job, who)
            self.trashed.append(self.jobs.pop(job.uuid))


@pytest.fixture
def board(monkeypatch):
    board = Board()

    @contextlib.contextmanager
    def connected(url, name="karbor-volume-glance"):
        yield board

    monkeypatch.setattr(jobboard, "connected", connected)
    # no Redis here: no wake-ups, the conductors and the poster poll
    monkeypatch.setattr(jobboard, "wakeup_client", lambda conf: None)
    return board


def conducting(site_runner, count=2):
    """``count`` conductors of one worker each, running in threads."""
    stop = threading.Event()
    conductors = [jobboard.Conductor(
        URL, lambda payload: site_runner, jobboard.ConductorSettings(
            claim_seconds=30, poll_interval=0.01, workers=1),
        name=f"conductor-{n}") for n in range(count)]
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in conductors]
    for thread in threads:
        thread.start()
    return conductors, stop, threads


def test_conductors_protect_a_posted_plan_each_volume_once(runner, cloud, board):
    volume_ids = volumes(cloud, 4)
    plan = make_plan(volume_ids).for_caller(runner.caller)
    site = plan.site("site-a")
    posted = jobboard.protect(runner, plan, site, URL, detach=True)
    assert posted.status == CheckpointStatus.PROTECTING
    assert len(board.jobs) == 4
    assert jobboard.status(runner, plan, posted.checkpoint_id)["done"] == 0
    conductors, stop, threads = conducting(runner)
    try:
        seen = []
        result = jobboard.wait_protect(runner, plan, site, posted.checkpoint_id,
                                       poll_interval=0.01,
                                       report=lambda d, t: seen.append((d, t)))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert result.ok and result.status == CheckpointStatus.AVAILABLE
    assert seen[-1] == (4, 4)
    done = sorted(v for c in conductors for _, v, ok in c.done if ok)
    assert done == sorted(volume_ids)
    assert board.jobs == {} and board.owners == {}
    shown = jobboard.status(runner, plan, posted.checkpoint_id)
    assert (shown["status"], shown["done"]) == ("available", 4)


def test_a_volume_already_protected_is_not_protected_again(runner, plugin,
                                                          cloud, board):
    volume_ids = volumes(cloud, 2)
    plan = make_plan(volume_ids).for_caller(runner.caller)
    posted = jobboard.protect(runner, plan, plan.site("site-a"), URL,
                              detach=True)
    first, second = (jobs.decode(job.details) for job in board.jobs.values())
    conductor = jobboard.Conductor(URL, lambda payload: runner)
    assert conductor._protect(runner, first).ok
    # the job claimed again (its conductor died before it consumed it)
    assert conductor._protect(runner, first).ok
    assert plugin.started == [first.volume_id]
    checkpoint = runner.checkpoint(posted.checkpoint_id)
    assert checkpoint.status == CheckpointStatus.PROTECTING  # one is left
    assert conductor._protect(runner, second).ok
    assert runner.checkpoint(posted.checkpoint_id).status == "available"
    assert plugin.started == [first.volume_id, second.volume_id]


def test_a_failed_volume_ends_the_checkpoint_error_naming_it(runner, cloud,
                                                            board):
    good = volumes(cloud, 1)
    bad = cloud.add_volume(data=os.urandom(100))
    plan = make_plan([*good, bad]).for_caller(runner.caller)
    posted = jobboard.protect(runner, plan, plan.site("site-a"), URL,
                              detach=True)
    with cloud.lock:  # fails once posted: a failed volume refuses the post
        cloud.state.volumes[bad].status = "error"
    conductor = jobboard.Conductor(URL, lambda payload: runner)
    for job in list(board.jobs.values()):
        conductor._protect(runner, jobs.decode(job.details))
    checkpoint = runner.checkpoint(posted.checkpoint_id)
    assert checkpoint.status == CheckpointStatus.ERROR
    assert list(catalog.failed_volumes(checkpoint)) == [bad]
    states = jobboard.volume_states(checkpoint)
    assert states[good[0]] == (BackupStatus.AVAILABLE, None)
    assert states[bad][0] == BackupStatus.ERROR


def test_a_job_that_is_not_ours_is_trashed(runner, board):
    board.post("other", details={"flow": "someone else's"})
    conductors, stop, threads = conducting(runner, count=1)
    try:
        wait = threading.Event()
        for _ in range(500):
            if board.trashed:
                break
            wait.wait(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert [job.name for job in board.trashed] == ["other"]
    assert conductors[0].done == []


# --- the command line: post detached, status, conductors, the result ---------


def test_the_command_line_posts_detached_and_conductors_finish(
        capsys, monkeypatch, board, tmp_path):
    from tests.unit.test_plans_cli import clouds as clouds_fixture
    from tests.unit.test_plans_cli import plan_file as plan_fixture
    from tests.unit.test_plans_cli import run

    found = clouds_fixture.__wrapped__(monkeypatch)
    path, volume_ids = plan_fixture.__wrapped__(tmp_path, found)
    posted, err = run(capsys, "plan", "protect", path, "--site", "site-a",
                      "--jobboard", URL, "--detach")
    assert posted["posted"] is True and posted["status"] == "protecting"
    checkpoint_id = posted["checkpoint_id"]
    shown, _ = run(capsys, "plan", "status", path, "--checkpoint",
                   checkpoint_id)
    assert (shown["status"], shown["done"], shown["total"]) == (
        "protecting", 0, 2)
    assert [row["status"] for row in shown["volumes"]] == ["pending"] * 2

    args = commands.parse_args(["conductor", "--jobboard", URL])
    runner_for = commands.conductor_runners(args)
    conductor = jobboard.Conductor(URL, runner_for)
    for job in list(board.jobs.values()):
        payload_ = jobs.decode(job.details)
        assert runner_for(payload_) is runner_for(payload_)  # kept
        assert conductor._protect(runner_for(payload_), payload_).ok
    shown, _ = run(capsys, "plan", "status", path, "--checkpoint",
                   checkpoint_id)
    assert (shown["status"], shown["done"]) == ("available", 2)
    listed, _ = run(capsys, "plan", "list", path)
    assert [(row["id"], row["status"]) for row in listed] == [
        (checkpoint_id, "available")]
    assert sorted(volume_ids) == sorted(r["volume_id"] for r in shown["volumes"])


@pytest.mark.usefixtures("fast_kdfs")
def test_a_conductor_runs_an_encrypted_plans_jobs_with_its_options(
        capsys, monkeypatch, board, tmp_path):
    """The plan's encrypt and its site's key_file travel in each job (never
    a secret: a path), so a conductor with a plain config file encrypts."""
    import yaml

    from karbor_volume_glance.bank import open_bank
    from karbor_volume_glance.operations import keys
    from tests.unit.test_plans_cli import clouds as clouds_fixture
    from tests.unit.test_plans_cli import plan_file as plan_fixture
    from tests.unit.test_plans_cli import run

    found = clouds_fixture.__wrapped__(monkeypatch)
    path, _ = plan_fixture.__wrapped__(tmp_path, found)
    (tmp_path / "bank.key").write_bytes(os.urandom(32))
    document = yaml.safe_load(open(path))
    document["options"] = {"encrypt": True}
    document["sites"]["site-a"]["key_file"] = "bank.key"
    with open(path, "w") as stream:
        yaml.safe_dump(document, stream)
    run(capsys, "plan", "protect", path, "--site", "site-a", "--jobboard",
        URL, "--detach")
    args = commands.parse_args(["conductor", "--jobboard", URL])
    runner_for = commands.conductor_runners(args)
    conductor = jobboard.Conductor(URL, runner_for)
    for job in list(board.jobs.values()):
        payload_ = jobs.decode(job.details)
        assert payload_.config_overrides == {
            "encrypt": True, "key_file": str(tmp_path / "bank.key")}
        assert conductor._protect(runner_for(payload_), payload_).ok
    bank = open_bank(document["bank"])
    assert keys.encryption_record(bank)["encrypted"] is True
    assert [row["kind"] for row in keys.list_copies(bank)] == ["key_file"]


def test_a_resume_on_the_jobboard_redoes_the_failed_volumes_only(
        runner, plugin, cloud, board):
    good = volumes(cloud, 2)
    bad = [cloud.add_volume(data=os.urandom(100)) for _ in range(2)]
    plan = make_plan([*good, *bad]).for_caller(runner.caller)
    site = plan.site("site-a")
    posted = jobboard.protect(runner, plan, site, URL, detach=True)
    with cloud.lock:  # fail once posted: a failed volume refuses the post
        for volume_id in bad:
            cloud.state.volumes[volume_id].status = "error"
    conductor = jobboard.Conductor(URL, lambda payload: runner)
    for job in list(board.jobs.values()):
        conductor._protect(runner, jobs.decode(job.details))
        board.jobs.pop(job.uuid)
    assert runner.checkpoint(posted.checkpoint_id).status == "error"

    with cloud.lock:  # the volumes are fixed
        for volume_id in bad:
            cloud.state.volumes[volume_id].status = "available"
    plugin.started.clear()
    resumed = jobboard.protect(runner, plan, site, URL,
                               resume=posted.checkpoint_id, detach=True)
    assert resumed.kept == good
    shown = jobboard.status(runner, plan, posted.checkpoint_id)
    assert shown["status"] == "protecting" and shown["done"] == 2
    first, second = (jobs.decode(job.details) for job in board.jobs.values())
    assert conductor._protect(runner, first).ok
    # the other failed volume is not redone yet: the checkpoint goes on
    assert runner.checkpoint(posted.checkpoint_id).status == "protecting"
    assert conductor._protect(runner, second).ok
    checkpoint = runner.checkpoint(posted.checkpoint_id)
    assert checkpoint.status == "available"
    assert "failed_volumes" not in checkpoint.index["extra_info"]
    assert sorted(plugin.started) == sorted(bad)


def test_wakeups_without_pub_sub_are_the_poll_and_a_notify_wakes_at_once():
    wakeups = jobboard.Wakeups("zookeeper://zk:2181/p", "channel")
    try:
        assert not wakeups.live
        assert wakeups.fallback(0.5) == 0.5  # no messages: the poll itself
        seen = wakeups.seen()
        woken = threading.Event()

        def waiter():
            wakeups.wait(seen, 60)
            woken.set()
        thread = threading.Thread(target=waiter)
        thread.start()
        wakeups.notify()
        assert woken.wait(30)
        thread.join()
        # a wake-up already seen: the wait is the timeout
        wakeups.wait(wakeups.seen(), 0)
    finally:
        wakeups.close()


def test_a_conductor_imports_what_jobs_need_before_it_runs(monkeypatch):
    """The first job's imports (openstacksdk's config, the clients) are the
    conductor's start-up, in its main thread, before it claims."""
    import importlib
    import signal

    imported, order = [], []
    monkeypatch.setattr(importlib, "import_module",
                        lambda name: imported.append(name))

    def run(self, stop):
        order.append(("run", list(imported)))

    monkeypatch.setattr(jobboard.Conductor, "run", run)
    monkeypatch.setattr(signal, "signal", lambda signum, handler: None)
    args = commands.parse_args(["conductor", "--jobboard", URL])
    assert commands._conductor(args) is True
    assert order == [("run", list(commands.CONDUCTOR_IMPORTS))]
    assert "openstack.config" in commands.CONDUCTOR_IMPORTS


def test_what_a_conductor_imports_first_exists():
    import importlib.util

    for name in commands.CONDUCTOR_IMPORTS:
        assert importlib.util.find_spec(name) is not None, name


def test_conductors_in_threads_of_a_fresh_interpreter_are_joined():
    """Conductors run in threads of a process that has not imported
    oslo.messaging yet (this module alone, as a developer runs it): before
    the import moved to the conductor's constructor, the first join hung."""
    test = f"{__file__}::test_conductors_protect_a_posted_plan_each_volume_once"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    # 0: every collected test passed (no test collected would be 5)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
