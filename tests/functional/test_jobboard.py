"""A plan on a taskflow jobboard (Redis): three conductor processes, nine
volumes, two local clouds over HTTP, and one conductor killed -9 mid-stream.

``plan protect --jobboard`` at site-a posts a job per volume and waits;
three ``conductor`` processes claim and run them. The first one runs through
:mod:`tests.functional.crashing`, which holds it while a volume's fifth chunk
is being written (the event the test waits for: its marker file); the test
kills it -9 there. Its claims expire after ``jobboard_claim_seconds``
and another conductor claims each of its volumes (the event: that
conductor's log line), within the claim expiry plus one poll: the two
others run enough workers between them for every job, so one of them is
free when the claims expire however slow the machine is (with fewer, on
a loaded machine, the reclaim could wait past the expiry for a busy worker
to finish its job); it waits for
the dead run's lease, sweeps, and protects the volume again. Then: the
checkpoint is available, every volume was protected to the end exactly once
(one ``finished`` line each over all conductors), no run, snapshot, image or
temporary volume is left; ``plan restore --jobboard`` at site-b through the
two survivors gives each volume back exactly once, byte-exact.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import yaml

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.operations import runs
from karbor_volume_glance.plans import jobboard
from tests.functional.sites import OBJECT_SIZE, cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(os.path.dirname(sys.executable), "karbor-volume-glance")
VOLUMES = 9
CHUNKS = 6
CLAIM = 4.0
LEASE = 3
POLL = 0.2
#: Workers of each of the two survivors: together, one for every job.
SURVIVOR_WORKERS = VOLUMES // 2 + 1
#: What the test adds to the claim expiry for a reclaim: a conductor's poll
#: and the test's own look at the logs, on a loaded machine.
RECLAIM_SLACK = 3.0
DEADLINE = 120
CLAIMED = re.compile(r"Conductor (\S+) claimed job (\S+): (\w+) volume (\S+) "
                     r"of checkpoint")
FINISHED = re.compile(r"Conductor (\S+) finished job (\S+): (\w+) volume (\S+): "
                      r"(ok|failed.*)")


def _until(condition, what, deadline=DEADLINE):
    end = time.monotonic() + deadline
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        pause.wait(0.02)


class Conductor:
    """A conductor process, its log in a file."""

    def __init__(self, tmp_path, name, url, config, hold=None, workers=2):
        self.log_path = tmp_path / f"{name}.log"
        self.marker = tmp_path / f"{name}.held"
        command = [TOOL]
        if hold:
            command = [sys.executable, "-m", "tests.functional.crashing", hold,
                       str(self.marker), "--"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "conductor", "--jobboard", url, "--workers",
                 str(workers), "--config-file", config],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def claimed(self, action="protect"):
        return [m.group(4) for m in CLAIMED.finditer(self.log())
                if m.group(3) == action]

    def finished(self, action="protect"):
        return [m.group(4) for m in FINISHED.finditer(self.log())
                if m.group(3) == action and m.group(5) == "ok"]

    def alive(self):
        assert self.process.poll() is None, f"conductor ended:\n{self.log()}"
        return True

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _plan(tmp_path, sites, volume_ids):
    config = tmp_path / "plugin.conf"
    config.write_text("[volume_glance_plugin]\npoll_interval = 0.01\n"
                      f"backup_image_object_size = {OBJECT_SIZE}\n"
                      f"lease_seconds = {LEASE}\n"
                      f"jobboard_claim_seconds = {CLAIM}\n"
                      f"jobboard_poll_interval = {POLL}\n")
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({
        "name": "fleet", "bank": f"file://{tmp_path}/bank",
        "sites": {"site-a": {"cloud": "site-a", "config_file": str(config)},
                  "site-b": {"cloud": "site-b", "config_file": str(config)}},
        "resources": volume_ids,
    }))
    return str(path), str(config)


def test_three_conductors_protect_and_restore_a_plan_through_a_kill(
        sites, redis_server, tmp_path):
    started = time.monotonic()
    data = {}
    for n in range(VOLUMES):
        content = os.urandom(CHUNKS * OBJECT_SIZE)
        data[sites.a.create_volume(content, name=f"disk-{n}")] = content
    volume_ids = list(data)
    originals = {v: sites.a.volume_bytes(v) for v in volume_ids}
    path, config = _plan(tmp_path, sites, volume_ids)
    url = redis_server.url
    print(f"volumes made in {time.monotonic() - started:.1f} s")

    doomed = Conductor(tmp_path, "conductor-0", url, config, hold="mid-stream")
    others = []
    poster = None
    try:
        _until(lambda: doomed.alive() and "workers on the jobboard"
               in doomed.log(), "the first conductor to start")
        poster = subprocess.Popen(
            [TOOL, "--format", "json", "plan", "protect", path, "--site",
             "site-a", "--jobboard", url], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        _until(lambda: doomed.alive() and doomed.claimed(),
               "the first conductor's first claim")
        others = [Conductor(tmp_path, f"conductor-{n}", url, config,
                            workers=SURVIVOR_WORKERS) for n in (1, 2)]
        _until(lambda: doomed.alive() and doomed.marker.exists(),
               "the first conductor to be mid-stream")
        held = set(doomed.claimed()) - set(doomed.finished())
        assert held
        os.kill(doomed.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.process.wait()

        reclaimed = {}

        def all_reclaimed():
            for conductor in others:
                conductor.alive()
                for volume_id in set(conductor.claimed()) & held:
                    reclaimed.setdefault(volume_id, time.monotonic() - killed_at)
            return set(reclaimed) == held
        _until(all_reclaimed, "another conductor to claim the killed one's jobs",
               deadline=CLAIM * 3)
        assert max(reclaimed.values()) <= CLAIM + RECLAIM_SLACK, reclaimed

        out, err = poster.communicate(timeout=DEADLINE)
        assert poster.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "available"
        assert [(row["volume_id"], row["ok"]) for row in result["volumes"]] == [
            (v, True) for v in volume_ids]
        checkpoint_id = result["checkpoint_id"]

        status, _ = cli("plan", "status", path, "--checkpoint", checkpoint_id)
        assert (status["status"], status["done"], status["total"]) == (
            "available", VOLUMES, VOLUMES)
        assert {row["status"] for row in status["volumes"]} == {"available"}

        # protected to the end exactly once each, whoever ran it
        finished = [v for c in (doomed, *others) for v in c.finished()]
        assert sorted(finished) == sorted(volume_ids)
        assert held.isdisjoint(doomed.finished())
        # nothing temporary left: no run in the bank, only the volumes
        bank = open_bank(f"file://{tmp_path}/bank")
        assert runs.runs_of(bank.get_sub_section("/")) == []
        assert [name for _, _, files in os.walk(tmp_path / "bank")
                for name in files if "~tmp-" in name] == []
        assert sites.a.inventory() == {"volumes": sorted(volume_ids),
                                       "snapshots": [], "images": []}
        assert {v: sites.a.volume_bytes(v) for v in volume_ids} == originals

        restored, _ = cli("plan", "restore", path, "--checkpoint",
                          checkpoint_id, "--site", "site-b", "--jobboard", url)
        new_ids = restored["new_volume_ids"]
        assert sorted(new_ids) == sorted(volume_ids)
        assert len(set(new_ids.values())) == VOLUMES
        for original, new in new_ids.items():
            assert sites.b.volume_bytes(new) == originals[original]
        assert sites.b.inventory() == {"volumes": sorted(new_ids.values()),
                                       "snapshots": [], "images": []}
        restores = [v for c in others for v in c.finished("restore")]
        assert sorted(restores) == sorted(volume_ids)
        with jobboard.connected(url) as board:
            assert board.job_count == 0
    finally:
        if poster is not None and poster.poll() is None:
            poster.kill()
            poster.communicate()
        for conductor in (doomed, *others):
            conductor.stop()


class NotOurs:
    """A job of someone else's on the board: a conductor trashes it."""

    name = "other"

    @staticmethod
    def encode():
        return {"flow": "someone else's"}


def test_an_idle_conductor_is_woken_by_a_posting_not_its_poll(
        redis_server, tmp_path):
    """Redis pub/sub wakes an idle conductor as soon as a job is posted: with
    a poll of a minute, each job is claimed (and, not ours, trashed) within
    seconds; SIGTERM ends the idle conductor at once too."""
    url = redis_server.url
    config = tmp_path / "plugin.conf"
    config.write_text("[volume_glance_plugin]\njobboard_poll_interval = 60\n")
    conductor = Conductor(tmp_path, "idle", url, str(config), workers=1)

    def board_empty():
        with jobboard.connected(url) as board:
            return board.job_count == 0
    try:
        _until(lambda: conductor.alive() and "workers on the jobboard"
               in conductor.log(), "the conductor to start")
        for _ in range(2):  # at its first look or in its wait, then waiting
            posted = time.monotonic()
            jobboard.post(url, [NotOurs()])
            _until(board_empty, "the posted job to be claimed", deadline=20)
            print(f"claimed {time.monotonic() - posted:.2f} s after the post")
        assert conductor.log().count("is not ours") == 2
        stopping = time.monotonic()
        conductor.process.send_signal(signal.SIGTERM)
        assert conductor.process.wait(20) == 0
        print(f"stopped in {time.monotonic() - stopping:.2f} s")
    finally:
        conductor.stop()
