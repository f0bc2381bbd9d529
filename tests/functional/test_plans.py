"""A two-site plan, end to end: ``plan protect`` at site-a, ``plan restore`` at
site-b, an incremental second protect and ``plan prune``, through the CLI.

Local clouds, the real clients, a file bank, and a plan file naming the
clouds.yaml entries of both sites. Volumes are changed between protects by
writing into the local cloud's file of the volume, as a guest would.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout

import pytest
import yaml

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.cli import commands
from tests.functional.sites import GIB, OBJECT_SIZE

SIZE = 2  # the volumes' size in the local clouds' "GiB" (see sites.GIB)
TOOL = os.path.join(os.path.dirname(sys.executable), "karbor-volume-glance")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def cli(*args, expect=0):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = commands.main(["--format", "json", *args])
    assert status == expect, err.getvalue()
    return json.loads(out.getvalue()) if out.getvalue() else None


@pytest.fixture
def plan(sites, tmp_path, config_file):
    """A plan of three volumes at site-a: (plan file, volume ids); both sites
    use the tests' plugin.conf, named relative to the plan file."""
    volume_ids = [
        sites.a.create_volume(os.urandom(3 * OBJECT_SIZE + 11), size=SIZE,
                              name=f"data-{n}")
        for n in range(3)
    ]
    path = tmp_path / "plans" / "nightly.yaml"
    path.parent.mkdir()
    relative = os.path.relpath(config_file, path.parent)  # ../plugin.conf
    path.write_text(yaml.safe_dump({
        "name": "nightly",
        "bank": f"file://{tmp_path}/bank",
        "parallelism": 2,
        "sites": {
            "site-a": {"cloud": "site-a", "config_file": relative},
            "site-b": {"cloud": "site-b", "config_file": relative},
        },
        "options": {"incremental": True},
        "resources": [
            volume_ids[0],
            {"id": volume_ids[1], "options": {"backup_name": "db",
                                              "compression": "zstd"},
             "restore": {"restore_name": "db-restored"}},
            {"id": volume_ids[2]},
        ],
    }))
    return str(path), volume_ids


def restore_at_b(sites, path, checkpoint):
    restored = cli("plan", "restore", path, "--checkpoint", checkpoint,
                   "--site", "site-b")
    assert restored["ok"] is True and restored["site"] == "site-b"
    return restored["new_volume_ids"]


def test_a_two_site_plan_protects_restores_increments_and_prunes(sites, plan):
    path, volume_ids = plan
    at_first = {v: sha256(sites.a.volume_bytes(v)) for v in volume_ids}

    first = cli("plan", "protect", path, "--site", "site-a")
    assert first["ok"] is True and first["status"] == "available"
    assert [row["volume_id"] for row in first["volumes"]] == volume_ids
    assert not any(row["incremental"] for row in first["volumes"])

    new_ids = restore_at_b(sites, path, first["checkpoint_id"])
    assert sorted(new_ids) == sorted(volume_ids)
    for original, new in new_ids.items():
        assert sha256(sites.b.volume_bytes(new)) == at_first[original]
    cinder_b = sites.b.clients.create_client("cinder", None)
    assert cinder_b.volumes.get(new_ids[volume_ids[1]]).name == "db-restored"

    # change two volumes, then protect again: incremental on the first
    for volume_id, offset in ((volume_ids[0], 5), (volume_ids[2], GIB + 3)):
        with open(sites.a.cloud.volume_path(volume_id), "r+b") as stream:
            stream.seek(offset)
            stream.write(os.urandom(4096))
    at_second = {v: sha256(sites.a.volume_bytes(v)) for v in volume_ids}
    assert at_second[volume_ids[1]] == at_first[volume_ids[1]]
    second = cli("plan", "protect", path, "--site", "site-a")
    assert second["ok"] is True
    assert all(row["incremental"] for row in second["volumes"])
    assert {row["parent_checkpoint_id"] for row in second["volumes"]} == {
        first["checkpoint_id"]}

    listed = cli("plan", "list", path)
    assert [(row["id"], row["status"]) for row in listed] == [
        (first["checkpoint_id"], "available"),
        (second["checkpoint_id"], "available")]
    assert listed[0]["incremental"] == []
    assert listed[1]["incremental"] == volume_ids

    # the survivor's chunks that live in the pruned parent are kept
    pruned = cli("plan", "prune", path, "--keep", "1")
    assert [(row["id"], row["ok"]) for row in pruned["deleted"]] == [
        (first["checkpoint_id"], True)]
    assert pruned["kept"] == [second["checkpoint_id"]]
    assert [row["id"] for row in cli("plan", "list", path)] == [
        second["checkpoint_id"]]

    new_ids = restore_at_b(sites, path, "latest")
    for original, new in new_ids.items():
        assert sha256(sites.b.volume_bytes(new)) == at_second[original]


def test_a_missing_volume_refuses_the_plan_before_its_checkpoint(sites, plan,
                                                                tmp_path):
    """Issue 14: a plan naming a volume that does not exist is refused
    before its checkpoint is made, naming the volume; without it, the plan
    protects and restores the rest."""
    path, volume_ids = plan
    document = yaml.safe_load(open(path))
    document["resources"].insert(1, "no-such-volume")
    with open(path, "w") as stream:
        yaml.safe_dump(document, stream)

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert commands.main(["--format", "json", "plan", "protect", path,
                              "--site", "site-a"]) == commands.FAILED
    assert "no-such-volume" in err.getvalue()
    assert "nothing was created" in err.getvalue()
    assert cli("plan", "list", path) == []

    document["resources"].remove("no-such-volume")
    with open(path, "w") as stream:
        yaml.safe_dump(document, stream)
    result = cli("plan", "protect", path, "--site", "site-a")
    assert result["status"] == "available"
    restored = cli("plan", "restore", path, "--checkpoint",
                   result["checkpoint_id"], "--site", "site-b")
    assert sorted(restored["new_volume_ids"]) == sorted(volume_ids)
    for original, new in restored["new_volume_ids"].items():
        assert sites.b.volume_bytes(new) == sites.a.volume_bytes(original)


def _statuses(bank):
    """Volume id -> the status of its section, of every checkpoint."""
    return {key.split("/")[-2]: bank.get_object(key)
            for key in bank.list_objects("/checkpoints/")
            if key.endswith("/status") and "/resource-data/" in key}


def test_a_killed_run_is_resumed_from_the_bank(sites, plan, tmp_path):
    """SIGKILL a plan protect once its first volume is protected; resume
    redoes the rest, and the checkpoint restores at the other site."""
    path, volume_ids = plan
    process = subprocess.Popen(
        [TOOL, "--format", "json", "plan", "protect", path, "--site",
         "site-a", "--parallelism", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bank = open_bank(f"file://{tmp_path}/bank")
    deadline = time.monotonic() + 120
    try:
        while "available" not in _statuses(bank).values():
            assert process.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no volume was protected"
            time.sleep(0.005)
    finally:
        process.kill()
        process.wait(timeout=30)
    [checkpoint_id] = {key.split("/")[2]
                       for key in bank.list_objects("/checkpoints/")}
    assert bank.get_object(f"/checkpoints/{checkpoint_id}/index.json")[
        "status"] == "protecting"
    done = [v for v, status in _statuses(bank).items() if status == "available"]
    assert 1 <= len(done) < len(volume_ids)

    resumed = cli("plan", "protect", path, "--site", "site-a", "--resume",
                  checkpoint_id)
    assert resumed["ok"] is True and resumed["status"] == "available"
    assert sorted(row["volume_id"] for row in resumed["volumes"]
                  if row.get("kept")) == sorted(done)
    new_ids = restore_at_b(sites, path, checkpoint_id)
    for original, new in new_ids.items():
        assert sites.b.volume_bytes(new) == sites.a.volume_bytes(original)
