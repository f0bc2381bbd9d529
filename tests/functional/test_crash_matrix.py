"""The kill -9 fault matrix (issue 13): the command line killed at each step
of protect (on the snapshot path, and on the direct path of
``backup_from_snapshot = auto``, issue 16, where Cinder holds the user's
volume ``uploading``) and of restore, on the file bank and on SeaweedFS's
S3, against a local cloud over HTTP; then ``sweep`` once the lease ran out.

Each case synchronises on an event, never on a sleep: a local-cloud fault
holds a cloud step (``slow`` with polls: the resource exists and stays in its
transitional status; ``slow`` with a delay: the request has arrived and the
resource is made only after the process is dead, so only its tags find
it), or the command, run through :mod:`tests.functional.crashing`, holds a
bank step and creates a marker file. The lease's expiry is waited for by
polling the bank with a deadline. Then: ``sweep --dry-run`` lists every
resource left and changes nothing; ``sweep`` deletes it all, so that nothing
temporary is left in the cloud nor the file bank, and no run section; the
killed checkpoint is not ``available``; the parent of the killed
incremental is freed by its delete; a later full and incremental protect
of the volume restore byte-exact. On the direct path the kill leaves no
snapshot nor volume; Cinder's manager goes on uploading after the kill (a
held upload keeps the volume ``uploading`` and its image ``saving``); the
sweep deletes the image, which ends the upload, and waits for the volume
to be ``available`` again.
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
import yaml

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.format import runs as runs_format
from karbor_volume_glance.operations import runs
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing import objstores
from karbor_volume_glance.testing.localcloud import LocalCloud
from tests.functional.sites import GIB, OBJECT_SIZE, Site

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
LEASE = 3
DEADLINE = 60
#: Chunks of mixed data in the volume (then zeros to its 1 "GiB" = 1 MiB).
CHUNKS = 6

#: step -> (what the CLI runs, hold): the hold is ("bank", crashing's step)
#: or ("cloud", fault step, fault options, what to wait for).
PROTECT = {
    "snapshot": ("cloud", "snapshot.create", {"delay": 1.0}, "call"),
    "temporary volume": ("cloud", "volume.create", {"polls": 200}, "volumes"),
    "upload-to-image": ("cloud", "volume.upload_to_image", {"polls": 200},
                        "images"),
    "first chunk": ("bank", "first-chunk"),
    "mid-stream": ("bank", "mid-stream"),
    "manifest": ("bank", "manifest"),
    "status": ("bank", "status"),
}
#: The direct path (``backup_from_snapshot = auto`` on an available
#: volume: Cinder uploads it, holding it ``uploading``): killed with the
#: upload requested (before its answer: the image is found by its name),
#: with the upload under way (the volume ``uploading``, the image
#: ``queued``/``saving``, held so until the sweep deletes the image), and
#: mid-download.
DIRECT = {
    "upload request": ("cloud", "volume.upload_to_image", {"delay": 1.0},
                       "call"),
    "uploading": ("cloud", "volume.upload_to_image", {"polls": 10 ** 6},
                  "images"),
    "mid-stream": ("bank", "mid-stream"),
}
RESTORE = {
    "image upload": ("cloud", "image.upload", {"delay": 1.0}, "call"),
    "volume create": ("cloud", "volume.create", {"delay": 1.0}, "call"),
    "volume wait": ("cloud", "volume.create", {"polls": 200}, "volumes"),
}
#: Kills between the create call and the journal's update: the resource
#: is found by its tags.
BY_TAG = {("protect", "snapshot"), ("restore", "volume create")}
CASES = [("protect", step) for step in PROTECT] + [
    ("direct", step) for step in DIRECT] + [
    ("restore", step) for step in RESTORE]
#: Kills before Cinder answered the upload: its image is found by its name.
BY_NAME = {("direct", "upload request")}
BANKS = ("file", "s3")


def _until(condition, what):
    """Poll ``condition`` until it holds, for at most DEADLINE seconds."""
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=DEADLINE)
    pause = threading.Event()
    while not condition():
        assert datetime.datetime.now() < deadline, f"timed out waiting for {what}"
        pause.wait(0.02)


class Case:
    """One local cloud, one bank, one volume, and the command line."""

    def __init__(self, tmp_path, bank_url, environment):
        self.tmp_path = tmp_path
        self.cloud = LocalCloud(str(tmp_path / "cloud"), status_delay=0.01,
                                gib=GIB).start()
        clouds = tmp_path / "clouds.yaml"
        clouds.write_text(yaml.safe_dump({"clouds": {
            "site": self.cloud.cloud_config()}}))
        self.env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds),
                        **environment)
        os.environ.update(OS_CLIENT_CONFIG_FILE=str(clouds), **environment)
        self.site = Site(self.cloud, "site", str(clouds))
        self.bank_url = bank_url
        self.bank = open_bank(bank_url)
        self.config = tmp_path / "plugin.conf"
        # the snapshot path: the matrix kills protect at its temporary
        # snapshot and volume too (auto would upload the available volume)
        self.use_path("true")
        self.common = ["--os-cloud", "site", "--bank", bank_url,
                       "--config-file", str(self.config), "--format", "json"]
        self.data = os.urandom(CHUNKS * OBJECT_SIZE)
        self.volume_id = self.site.create_volume(self.data)

    def use_path(self, backup_from_snapshot):
        """The command line's ``backup_from_snapshot`` from now on."""
        self.config.write_text("[volume_glance_plugin]\npoll_interval = 0.01\n"
                               f"backup_image_object_size = {OBJECT_SIZE}\n"
                               f"lease_seconds = {LEASE}\n"
                               f"backup_from_snapshot = {backup_from_snapshot}\n")

    def statuses(self, kind):
        """``{id: status}`` of this project's volumes or images."""
        if kind == "volumes":
            cinder = self.site.clients.create_client("cinder", None)
            return {v.id: v.status for v in cinder.volumes.list()}
        glance = self.site.clients.create_client("glance", None)
        return {i["id"]: i["status"] for i in glance.images.list()}

    def change_volume(self):
        with open(self.cloud.volume_path(self.volume_id), "r+b") as stream:
            stream.write(os.urandom(CHUNKS * OBJECT_SIZE))

    def stop(self):
        self.cloud.stop()

    def runner(self):
        return Runner(self.site.plugin, self.bank, self.site.context)

    def cli(self, *args):
        done = subprocess.run([os.path.join(BIN, "karbor-volume-glance"),
                               *self.common, *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def killed(self, args, hold):
        """Run the command, wait for the hold's event, kill -9 it."""
        marker = self.tmp_path / "held"
        step = hold[1] if hold[0] == "bank" else "none"
        seen = len(self.cloud.calls)
        if hold[0] == "cloud":
            self.cloud.inject(hold[1], "slow", **hold[2])
        before = self.site.inventory()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.functional.crashing", step,
             str(marker), "--", *self.common, *args],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        def held(condition):
            def check():
                assert process.poll() is None, (
                    f"the command ended first: {process.stderr.read()}")
                return condition()
            return check

        try:
            if hold[0] == "bank":
                _until(held(marker.exists), f"the command to hold at {step}")
            elif hold[3] == "call":
                _until(held(lambda: hold[1] in self.cloud.calls[seen:]),
                       f"a {hold[1]} request")
            else:
                _until(held(lambda: len(self.site.inventory()[hold[3]])
                            > len(before[hold[3]])), f"new {hold[3]}")
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            process.stderr.close()
        if hold[0] == "cloud" and hold[3] == "call":
            # the cloud makes the resource after the process died
            kind = {"snapshot.create": "snapshots",
                    "volume.create": "volumes",
                    "volume.upload_to_image": "images"}.get(hold[1])
            if kind:
                _until(lambda: len(self.site.inventory()[kind])
                       > len(before[kind]), f"the {kind} made after the kill")
        self.cloud.clear_faults()

    def wait_for_lease_expiry(self):
        section = self.bank.get_sub_section("/")

        def all_dead():
            return all(run.dead(LEASE) for run in runs.runs_of(section))
        _until(all_dead, "the killed run's lease to run out")

    def temporary_files(self):
        if not self.bank_url.startswith("file://"):
            return []
        return [os.path.join(d, f)
                for d, _, files in os.walk(self.bank_url[len("file://"):])
                for f in files if "~tmp-" in f]

    def assert_restores(self, checkpoint_id):
        result = self.runner().restore(checkpoint_id, {})
        assert result.ok, result.to_dict()
        [outcome] = result.outcomes
        assert (self.site.volume_bytes(outcome.new_volume_id)
                == self.site.volume_bytes(self.volume_id))
        return outcome.new_volume_id


def _summary(report):
    return [(row["kind"], row["action"], row.get("found_by"))
            for row in report["resources"]]


@pytest.fixture(params=BANKS)
def bank_url(request, tmp_path):
    if request.param == "file":
        return f"file://{tmp_path}/bank", {}
    place = request.getfixturevalue("s3_bucket")
    return (f"s3://{place.bucket}/{place.prefix.rstrip('/')}?endpoint="
            f"{place.server.endpoint_url}&region={objstores.REGION}",
            {"AWS_ACCESS_KEY_ID": objstores.ACCESS_KEY,
             "AWS_SECRET_ACCESS_KEY": objstores.SECRET_KEY})


@pytest.fixture
def case(tmp_path, bank_url, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "")  # restored after the test
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    made = Case(tmp_path, *bank_url)
    yield made
    made.stop()


@pytest.mark.parametrize("operation, step", CASES,
                         ids=[f"{o}-{s.replace(' ', '-')}" for o, s in CASES])
def test_kill_9_then_sweep_leaves_nothing(case, operation, step):
    user = case.site.inventory()
    parent = case.runner().protect([case.volume_id], {case.volume_id: {
        "backup_name": "parent"}})
    assert parent.ok
    if operation in ("protect", "direct"):
        case.change_volume()  # so that the incremental writes chunks
        if operation == "direct":
            case.use_path("auto")
        steps = PROTECT if operation == "protect" else DIRECT
        case.killed(["protect", case.volume_id, "--incremental"], steps[step])
    else:
        case.killed(["restore", parent.checkpoint_id], RESTORE[step])
    left = case.site.inventory()
    leftovers = {rid for kind in left for rid in left[kind]} - {
        rid for kind in user for rid in user[kind]}
    assert leftovers or operation == "protect" and step in (
        "manifest", "status"), "the kill left nothing in the cloud"
    assert case.bank.list_objects(prefix=runs_format.RUNS_ROOT)

    files = case.temporary_files()
    if step == "mid-stream" and case.bank_url.startswith("file://"):
        assert files  # held mid-write: its temporary file
    if operation == "direct":  # no temporary snapshot nor volume
        assert (left["snapshots"], left["volumes"]) == (
            user["snapshots"], user["volumes"])
    uploading = (operation, step) == ("direct", "uploading")
    if uploading:
        # Cinder's manager goes on uploading: the volume stays held
        assert case.statuses("volumes")[case.volume_id] == "uploading"
        [image] = set(left["images"]) - set(user["images"])
        assert case.statuses("images")[image] in ("queued", "saving")
    case.wait_for_lease_expiry()
    dry = case.cli("sweep", "--dry-run")
    listed = {row["id"] for row in dry["resources"]
              if row["action"] == "would delete"}
    assert leftovers <= listed
    assert case.site.inventory() == left
    swept = case.cli("sweep")
    deleted = {row["id"] for row in swept["resources"]
               if row["action"] == "deleted"}
    assert leftovers <= deleted
    if (operation, step) in BY_TAG:
        assert "tag" in {row.get("found_by") for row in swept["resources"]}
    if (operation, step) in BY_NAME:
        assert "name" in {row.get("found_by") for row in swept["resources"]}
    if uploading:
        assert {"kind": "volume", "id": case.volume_id, "action":
                "would wait: uploading", "status": "uploading"} in dry["resources"]
        assert {"kind": "volume", "id": case.volume_id, "action":
                "waited: upload ended", "status": "available"} \
            in swept["resources"]
    # nothing held: the user's volume is back, with no image uploading
    assert case.statuses("volumes")[case.volume_id] == "available"
    assert not [row for row in swept["resources"]
                if row["action"].startswith(("failed", "kept"))]
    print(f"\n{operation} killed at {step}: left {sorted(leftovers)} and "
          f"{len(files)} temporary bank files; swept "
          f"{sorted(_summary(swept))}; "
          f"after: {case.site.inventory()}, {len(case.temporary_files())} files")
    assert case.site.inventory() == user
    assert case.temporary_files() == []
    assert case.bank.list_objects(prefix=runs_format.RUNS_ROOT) == []

    runner = case.runner()
    killed = [c["id"] for c in runner.list() if c["id"] != parent.checkpoint_id]
    if operation in ("protect", "direct"):
        assert [runner.show(i)["status"] for i in killed] == ["error"]
        section = runner.checkpoint(killed[0]).get_resource_bank_section(
            case.volume_id)
        assert section.get_object("status") == "error"
        assert section.get_object("status_reason") == "run died"
    # the parent of the killed incremental (and the restored checkpoint) is
    # freed by its delete, the killed one still in the bank
    assert runner.delete(parent.checkpoint_id).ok
    parent_section = runner.checkpoint(parent.checkpoint_id) \
        .get_resource_bank_section(case.volume_id)
    assert parent_section.list_objects() == ["status"]
    for checkpoint_id in killed:
        assert runner.delete(checkpoint_id).ok
    full = runner.protect([case.volume_id], {case.volume_id: {
        "backup_name": "full"}})
    incremental = runner.protect([case.volume_id], {case.volume_id: {
        "backup_name": "incremental", "incremental": True}})
    assert full.ok and incremental.ok
    shown = runner.show(incremental.checkpoint_id)["volumes"][case.volume_id]
    assert shown["parent_checkpoint_id"] == full.checkpoint_id
    case.assert_restores(full.checkpoint_id)
    case.assert_restores(incremental.checkpoint_id)
