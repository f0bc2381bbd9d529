"""``karbor-volume-glance plan ...`` over the FakeCloud: arguments, output, exit."""

import json
import os

import pytest
import yaml

from karbor_volume_glance.cli import commands as cli
from karbor_volume_glance.plans import protection
from karbor_volume_glance.testing import FakeCloud
from tests.unit.harness import OBJECT_SIZE, fail_after


@pytest.fixture
def clouds(monkeypatch):
    """Two fake clouds behind the clouds.yaml names cloud-a and cloud-b."""
    found = {"cloud-a": FakeCloud(project_id="project-a", project_name="team"),
             "cloud-b": FakeCloud(project_id="project-b", project_name="team")}

    def connect(args):
        cloud = found[args.os_cloud]
        return cloud.client_factory(), cloud.context()

    monkeypatch.setattr(cli, "_connect", connect)
    return found


@pytest.fixture
def plan_file(tmp_path, clouds):
    (tmp_path / "plugin.conf").write_text(
        "[volume_glance_plugin]\npoll_interval = 0.001\n"
        f"backup_image_object_size = {OBJECT_SIZE}\n")
    cloud = clouds["cloud-a"]
    volume_ids = [cloud.add_volume(data=os.urandom(OBJECT_SIZE + i))
                  for i in range(2)]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({
        "name": "nightly", "bank": f"file://{tmp_path}/bank",
        "sites": {"site-a": {"cloud": "cloud-a", "config_file": "plugin.conf"},
                  "site-b": {"cloud": "cloud-b", "config_file": "plugin.conf"}},
        "resources": volume_ids,
    }))
    return str(path), volume_ids


def run(capsys, *argv, fmt="json", expect=0):
    status = cli.main(["--format", fmt, *argv])
    out, err = capsys.readouterr()
    assert status == expect, err
    return (json.loads(out) if fmt == "json" and out else out), err


def test_protect_restore_list_prune(capsys, clouds, plan_file):
    path, volume_ids = plan_file
    protected, _ = run(capsys, "plan", "protect", path, "--site", "site-a")
    assert protected["ok"] is True and protected["status"] == "available"
    assert protected["plan"] == "nightly" and protected["site"] == "site-a"
    assert [row["volume_id"] for row in protected["volumes"]] == volume_ids
    assert protected["volumes"][0]["incremental"] is False  # protect's details
    first = protected["checkpoint_id"]

    restored, _ = run(capsys, "plan", "restore", path, "--checkpoint", first,
                      "--site", "site-b")
    mapping = restored["new_volume_ids"]
    assert sorted(mapping) == sorted(volume_ids)
    for original, new in mapping.items():
        assert (clouds["cloud-b"].volume_data(new)
                == clouds["cloud-a"].volume_data(original))

    second = run(capsys, "plan", "protect", path, "--site", "site-a",
                 "--parallelism", "1")[0]["checkpoint_id"]
    listed, _ = run(capsys, "plan", "list", path)
    assert [row["id"] for row in listed] == [first, second]
    assert listed[0]["status"] == "available"

    dry, _ = run(capsys, "plan", "prune", path, "--keep", "1", "--dry-run")
    assert [row["id"] for row in dry["deleted"]] == [first]
    assert dry["dry_run"] is True
    pruned, _ = run(capsys, "plan", "prune", path, "--keep", "1")
    assert [(row["id"], row["ok"]) for row in pruned["deleted"]] == [
        (first, True)]
    assert [row["id"] for row in run(capsys, "plan", "list", path)[0]] == [second]
    restored, _ = run(capsys, "plan", "restore", path, "--checkpoint", "latest",
                      "--site", "site-b")
    assert restored["checkpoint_id"] == second and restored["ok"] is True


def test_a_failed_volume_exits_1_and_says_how_to_resume(capsys, clouds,
                                                        plan_file, monkeypatch):
    path, volume_ids = plan_file
    cloud = clouds["cloud-a"]
    fail_after(monkeypatch, protection, "_create", cloud, volume_ids[1])
    result, err = run(capsys, "plan", "protect", path, "--site", "site-a",
                      expect=cli.FAILED)
    checkpoint_id = result["checkpoint_id"]
    assert result["status"] == "error"
    assert [row["ok"] for row in result["volumes"]] == [True, False]
    assert [row["status"] for row in result["volumes"]] == ["ok", "failed"]
    assert "error" in result["volumes"][1]["error"]  # the volume's status
    lines = err.strip().splitlines()
    assert lines[0] == (f"karbor-volume-glance: volume {volume_ids[1]}: "
                        f"{result['volumes'][1]['error']}")
    assert lines[1] == (f"karbor-volume-glance: checkpoint {checkpoint_id} is "
                        f"error; redo its failed volumes with: plan protect "
                        f"{path} --site site-a --resume {checkpoint_id}")

    with cloud.lock:
        cloud.state.volumes[volume_ids[1]].status = "available"
    out, err = run(capsys, "plan", "protect", path, "--site", "site-a",
                   "--resume", checkpoint_id, fmt="table")
    assert out.splitlines()[0] == (f"plan nightly: checkpoint {checkpoint_id} "
                                   "(available) at site site-a")
    assert "| volume_id" in out and err == ""


def test_table_output_of_list_and_prune(capsys, plan_file):
    path, _ = plan_file
    checkpoint_id = run(capsys, "plan", "protect", path, "--site",
                        "site-a")[0]["checkpoint_id"]
    out, _ = run(capsys, "plan", "restore", path, "--checkpoint", "latest",
                 "--site", "site-b", fmt="table")
    assert out.splitlines()[0] == (f"plan nightly: restored checkpoint "
                                   f"{checkpoint_id} (available) at site site-b")
    out, _ = run(capsys, "plan", "list", path, fmt="table")
    header = [cell.strip() for cell in out.splitlines()[1].split("|")[1:-1]]
    assert header == ["id", "created_at", "status", "site", "volumes",
                      "incremental", "failed"]
    out, _ = run(capsys, "plan", "prune", path, "--keep", "1", fmt="table")
    assert out.splitlines()[0] == "plan nightly: deleted 0, kept 1"


def test_plan_errors_are_one_line(capsys, tmp_path, plan_file):
    path, _ = plan_file
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbank: file:///b\nsites: {a: a}\n"
                   "resources: [{id: v, options: {compression: lz4}}]\n")
    _, err = run(capsys, "plan", "list", str(bad), expect=cli.FAILED)
    assert err.strip() == (f"karbor-volume-glance: {bad}: "
                           "resources[0].options.compression: 'lz4' is not one "
                           "of ['none', 'zlib', 'zstd']")
    _, err = run(capsys, "plan", "protect", path, expect=cli.FAILED)
    assert err.strip() == (f"karbor-volume-glance: {path}: the plan has several "
                           "sites (site-a, site-b): give --site")
    _, err = run(capsys, "plan", "restore", path, "--checkpoint", "nope",
                 "--site", "site-b", expect=cli.FAILED)
    assert err.strip() == ("karbor-volume-glance: checkpoint nope could not "
                           "be found")


def test_not_ready_creates_nothing(capsys, clouds, plan_file):
    path, _ = plan_file
    clouds["cloud-a"].inject("volume.list", "exception")
    _, err = run(capsys, "plan", "protect", path, "--site", "site-a",
                 expect=cli.FAILED)
    assert err.startswith("karbor-volume-glance: not ready: cinder: ")
    assert clouds["cloud-a"].created() == []
    assert run(capsys, "plan", "list", path)[0] == []


@pytest.mark.parametrize("argv, message", [
    (["prune", "p.yaml", "--keep", "0"], "expected an integer >= 1, got '0'"),
    (["prune", "p.yaml"], "the following arguments are required: --keep"),
    (["protect", "p.yaml", "--parallelism", "0"],
     "expected an integer from 1 to 64, got '0'"),
    (["restore", "p.yaml"], "the following arguments are required: "
     "--checkpoint"),
    (["nothing"], "invalid choice: 'nothing'"),
])
def test_usage_errors_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as caught:
        cli.parse_args(["plan", *argv])
    assert caught.value.code == cli.USAGE_ERROR
    assert message in capsys.readouterr().err


def test_a_delete_that_fails_is_reported_and_exits_1(capsys, plan_file,
                                                     monkeypatch):
    from karbor_volume_glance.standalone.runner import Outcome, Result, Runner

    path, volume_ids = plan_file
    first = run(capsys, "plan", "protect", path, "--site",
                "site-a")[0]["checkpoint_id"]
    run(capsys, "plan", "protect", path, "--site", "site-a")
    monkeypatch.setattr(Runner, "delete", lambda self, checkpoint_id: Result(
        checkpoint_id, [Outcome(volume_ids[0], False, "bank said no")]))
    pruned, err = run(capsys, "plan", "prune", path, "--keep", "1",
                      expect=cli.FAILED)
    assert pruned["deleted"] == [{
        "id": first, "created_at": pruned["deleted"][0]["created_at"],
        "status": "available", "reason": "older than the newest 1 available",
        "ok": False, "error": f"volume {volume_ids[0]}: bank said no"}]
    assert err.strip() == (f"karbor-volume-glance: checkpoint {first}: volume "
                           f"{volume_ids[0]}: bank said no")


def test_a_failed_plan_restore_lists_the_volume_with_its_reason(
        capsys, clouds, plan_file):
    path, volume_ids = plan_file
    protected, _ = run(capsys, "plan", "protect", path, "--site", "site-a")
    clouds["cloud-b"].inject("volume.create", "http", status=413)
    status = cli.main(["plan", "restore", path, "--checkpoint", "latest",
                       "--site", "site-b", "--parallelism", "1",
                       "--format", "json"])  # the format after the command
    out, err = capsys.readouterr()
    assert status == cli.FAILED, err
    restored = json.loads(out)
    assert restored["ok"] is False
    assert sorted(row["volume_id"] for row in restored["volumes"]) == sorted(
        volume_ids)
    [failed] = [row for row in restored["volumes"] if row["status"] == "failed"]
    assert "413" in failed["error"] and failed["ok"] is False
    assert failed["volume_id"] not in restored["new_volume_ids"]
    assert len(restored["new_volume_ids"]) == 1
    assert (f"karbor-volume-glance: volume {failed['volume_id']}: "
            f"{failed['error']}") in err


@pytest.mark.usefixtures("fast_kdfs")
def test_a_plan_turns_its_bank_encrypted_with_its_sites_key_files(
        capsys, clouds, plan_file, tmp_path):
    """``options: {encrypt: true}`` is the plan's bank's option; each site's
    ``key_file`` (relative to the plan file) opens it there. A site without
    a key source is refused before it makes anything."""
    from karbor_volume_glance.bank import open_bank
    from karbor_volume_glance.operations import keys

    path, volume_ids = plan_file
    (tmp_path / "bank.key").write_bytes(os.urandom(32))
    document = yaml.safe_load(open(path))
    document["options"] = {"encrypt": True}
    document["sites"]["site-a"]["key_file"] = "bank.key"
    document["sites"]["site-b"]["key_file"] = str(tmp_path / "bank.key")
    document["sites"]["site-c"] = {"cloud": "cloud-b",
                                   "config_file": "plugin.conf"}
    with open(path, "w") as stream:
        yaml.safe_dump(document, stream)
    protected, _ = run(capsys, "plan", "protect", path, "--site", "site-a")
    assert protected["ok"] is True
    bank = open_bank(document["bank"])
    assert keys.encryption_record(bank)["encrypted"] is True
    [copy] = keys.list_copies(bank)
    assert copy["kind"] == "key_file"
    restored, _ = run(capsys, "plan", "restore", path, "--checkpoint",
                      protected["checkpoint_id"], "--site", "site-b")
    for original, new in restored["new_volume_ids"].items():
        assert (clouds["cloud-b"].volume_data(new)
                == clouds["cloud-a"].volume_data(original))
    before = set(clouds["cloud-b"].state.volumes)
    failed, err = run(capsys, "plan", "restore", path, "--checkpoint",
                      protected["checkpoint_id"], "--site", "site-c",
                      expect=cli.FAILED)
    assert failed == ""  # refused by the readiness check, before any work
    assert "not ready: encryption: bank" in err
    assert "is encrypted: no passphrase" in err
    assert set(clouds["cloud-b"].state.volumes) == before


def test_a_plan_without_encrypt_leaves_the_bank_plain(capsys, plan_file):
    from karbor_volume_glance.bank import open_bank
    from karbor_volume_glance.operations import keys

    path, _ = plan_file
    run(capsys, "plan", "protect", path, "--site", "site-a")
    bank = open_bank(yaml.safe_load(open(path))["bank"])
    assert keys.encryption_record(bank)["encrypted"] is False
