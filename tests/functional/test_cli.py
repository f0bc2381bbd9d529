"""The ``karbor-volume-glance`` command against local clouds, as a person runs it."""

import io
import json
import os
import signal
import subprocess
import sys
import threading

import yaml
from cinderclient import client as cinder_client
from glanceclient import Client as GlanceClient
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.functional.sites import OBJECT_SIZE, cli

BIN = os.path.dirname(sys.executable)


def test_protect_list_show_verify_restore_delete(sites, tmp_path, config_file):
    data = os.urandom(2 * OBJECT_SIZE + 5)
    volume_id = sites.a.create_volume(data)
    common = ["--os-cloud", "site-a", "--bank", f"file://{tmp_path}/bank",
              "--config-file", config_file]

    protected, _ = cli(*common, "protect", volume_id, "--name", "nightly",
                       "--option", "description=db")
    checkpoint_id = protected["checkpoint_id"]
    assert protected["ok"] is True

    listed, _ = cli(*common, "list")
    assert [c["id"] for c in listed] == [checkpoint_id]
    shown, _ = cli(*common, "show", checkpoint_id)
    assert shown["status"] == "available"
    assert shown["volumes"][volume_id]["backup_name"] == "nightly"
    verified, _ = cli(*common, "verify", checkpoint_id)
    assert verified["ok"] is True

    b_common = ["--os-cloud", "site-b", *common[2:]]
    restored, _ = cli(*b_common, "restore", checkpoint_id, "--name", "back")
    new_id = restored["new_volume_ids"][volume_id]
    assert sites.b.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)

    deleted, _ = cli(*common, "delete", checkpoint_id)
    assert deleted["ok"] is True
    assert cli(*common, "list")[0] == []


def test_failures_exit_non_zero_with_one_line_each(sites, tmp_path, config_file):
    common = ["--os-cloud", "site-a", "--bank", f"file://{tmp_path}/bank",
              "--config-file", config_file]
    result, err = cli(*common, "protect", "no-such-volume", expect=1)
    assert result["ok"] is False and result["checkpoint_id"] is None
    line, refused = err.strip().splitlines()  # refused before a checkpoint
    assert line.startswith("karbor-volume-glance: volume no-such-volume: ")
    assert "not found" in line
    assert refused == ("karbor-volume-glance: protect refused, nothing was "
                       "created")
    _, err = cli(*common, "restore", "no-such-checkpoint", expect=1)
    assert err.strip() == ("karbor-volume-glance: checkpoint no-such-checkpoint "
                           "could not be found")
    _, err = cli(*common, "protect", sites.a.create_volume(b"x"),
                 "--option", "bogus=1", expect=1)
    assert "bogus: Additional properties are not allowed" in err
    assert "Traceback" not in err


def _serve(data_dir):
    """Start the localcloud console command; return (process, url, watchdog)."""
    process = subprocess.Popen(
        [os.path.join(BIN, "karbor-volume-glance-localcloud"), "--port", "0",
         "--data-dir", str(data_dir), "--status-delay", "0.01",
         "--gib", str(1024 * 1024)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    first = process.stdout.readline().split()
    assert first[:3] == ["localcloud", "serving", "at"], first
    return process, first[-1], watchdog


def test_a_person_points_clouds_yaml_at_the_local_cloud(tmp_path, config_file):
    """Start the console command, make a volume with the openstack clients,
    protect and restore it with the CLI, each in its own process."""
    process, url, watchdog = _serve(tmp_path / "cloud")
    try:
        auth = {"auth_url": f"{url}/identity/v3", "username": "admin",
                "password": "secret", "project_name": "admin",
                "user_domain_name": "Default", "project_domain_name": "Default"}
        clouds = tmp_path / "clouds.yaml"
        clouds.write_text(yaml.safe_dump({"clouds": {"local": {
            "auth": auth, "region_name": "RegionOne", "identity_api_version": 3}}}))
        session = ks_session.Session(auth=v3.Password(**auth))
        glance = GlanceClient("2", session=session)
        cinder = cinder_client.Client("3.1", session=session)
        data = os.urandom(300_000)
        image = glance.images.create(name="src", disk_format="raw",
                                     container_format="bare")
        glance.images.upload(image["id"], io.BytesIO(data))
        volume = cinder.volumes.create(1, name="mine", imageRef=image["id"])
        _wait(lambda: cinder.volumes.get(volume.id).status == "available")

        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD="local",
                   KARBOR_VOLUME_GLANCE_BANK=f"file://{tmp_path}/bank")
        tool = [os.path.join(BIN, "karbor-volume-glance"), "--format", "json",
                "--config-file", config_file]
        protected = json.loads(subprocess.run(
            [*tool, "protect", volume.id], env=env, check=True,
            capture_output=True, text=True, timeout=120).stdout)
        restored = json.loads(subprocess.run(
            [*tool, "restore", protected["checkpoint_id"]], env=env, check=True,
            capture_output=True, text=True, timeout=120).stdout)
        new_id = restored["new_volume_ids"][volume.id]
        with open(tmp_path / "cloud" / "volumes" / new_id, "rb") as stream:
            assert stream.read(len(data)) == data
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        watchdog.cancel()
        process.stdout.close()


def _wait(condition, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_check_reports_each_component(sites, tmp_path, config_file):
    common = ["--os-cloud", "site-a", "--config-file", config_file]
    found, _ = cli(*common, "--bank", f"file://{tmp_path}/bank", "check")
    assert found["ready"] is True
    assert [c["name"] for c in found["components"]] == [
        "configuration", "bank", "cinder", "glance", "nova"]
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the bank should be")
    found, _ = cli(*common, "--bank", f"file://{blocked}", "check", expect=1)
    assert found["ready"] is False
    [bank] = [c for c in found["components"] if c["name"] == "bank"]
    assert bank["ready"] is False and str(blocked) in bank["detail"]


def test_commands_fail_fast_when_not_ready(sites, tmp_path, config_file):
    volume_id = sites.a.create_volume(os.urandom(OBJECT_SIZE))
    before = sites.a.inventory()
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("x")
    _, err = cli("--os-cloud", "site-a", "--config-file", config_file,
                 "--bank", f"file://{blocked}", "protect", volume_id, expect=1)
    assert err.startswith("karbor-volume-glance: not ready: bank: ")
    _, err = cli("--os-cloud", "no-such-cloud", "--config-file", config_file,
                 "--bank", f"file://{tmp_path}/bank", "protect", volume_id,
                 expect=1)
    assert "not ready: cloud 'no-such-cloud': cannot authenticate" in err
    assert sites.a.inventory() == before


def _tool(*args, expect):
    """The console command in its own process; (JSON output, stderr)."""
    done = subprocess.run([os.path.join(BIN, "karbor-volume-glance"), *args],
                          capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == expect, done.stderr
    return json.loads(done.stdout), done.stderr


def test_failed_volumes_are_in_the_json_with_their_reason(sites, tmp_path,
                                                          config_file):
    """A failed protect and a failed restore, run as a person runs them (the
    options after the command), name every volume; failed ones with the
    reason, which stderr repeats."""
    common = ["--os-cloud", "site-a", "--bank", f"file://{tmp_path}/bank",
              "--config-file", config_file]
    volumes = [sites.a.create_volume(bytes([i]) * OBJECT_SIZE) for i in range(2)]
    protected, err = _tool("protect", *volumes, "no-such-volume", *common,
                           "--format", "json", expect=1)
    assert protected["ok"] is False and protected["checkpoint_id"] is None
    assert [(row["volume_id"], row["status"]) for row in protected["volumes"]] == [
        (volumes[0], "not run"), (volumes[1], "not run"),
        ("no-such-volume", "refused")]  # checked before a checkpoint (#14)
    failed = protected["volumes"][2]
    assert "not found" in failed["error"] and failed["ok"] is False
    assert f"karbor-volume-glance: volume no-such-volume: {failed['error']}" in err
    assert f"volume {volumes[0]}" not in err

    protected, _ = _tool(*common, "protect", *volumes, "--format", "json",
                         expect=0)
    sites.b.cloud.inject("volume.create", "http", status=413)
    restored, err = _tool("--format", "table", "restore",
                          protected["checkpoint_id"], "--os-cloud", "site-b",
                          *common[2:], "--format", "json", expect=1)
    assert restored["ok"] is False
    rows = {row["volume_id"]: row for row in restored["volumes"]}
    assert sorted(rows) == sorted(volumes)
    [failed] = [row for row in rows.values() if row["status"] == "failed"]
    [done] = [row for row in rows.values() if row["status"] == "ok"]
    assert "413" in failed["error"] and "new_volume_id" not in failed
    assert restored["new_volume_ids"] == {done["volume_id"]: done["new_volume_id"]}
    assert (sites.b.volume_bytes(done["new_volume_id"])[:OBJECT_SIZE]
            == sites.a.volume_bytes(done["volume_id"])[:OBJECT_SIZE])
    assert (f"karbor-volume-glance: volume {failed['volume_id']}: "
            f"{failed['error']}") in err


def test_hostile_names_are_shown_escaped_and_deep_verify_names_each_chunk(
        sites, tmp_path, config_file):
    """Issue 14, items 6 and 7, through the local clouds over HTTP: a backup
    named to take a terminal over is shown escaped; a flipped byte passes
    the plain verify and fails --deep and --read-data-subset 100%, named."""
    from karbor_volume_glance.bank import open_bank
    from karbor_volume_glance.safetext import escape
    from karbor_volume_glance.standalone.checkpoints import CheckpointStore

    hostile = "\x1b[2J\x1b]8;;https://evil.example/\x1b\\x\x1b]8;;\x1b\\\u202eexe"
    volume_id = sites.a.create_volume(os.urandom(3 * OBJECT_SIZE))
    bank = f"file://{tmp_path}/bank"
    common = ["--os-cloud", "site-a", "--bank", bank, "--config-file",
              config_file]
    protected, _ = cli(*common, "protect", volume_id, "--name", hostile)
    checkpoint_id = protected["checkpoint_id"]
    shown, _ = cli(*common, "show", checkpoint_id)
    assert shown["volumes"][volume_id]["backup_name"] == escape(hostile)

    section = CheckpointStore(open_bank(bank)).get(
        checkpoint_id).get_resource_bank_section(volume_id)
    chunk = bytearray(section.get_object("data_2"))
    chunk[3] ^= 1
    section.update_object("data_2", bytes(chunk))
    assert cli(*common, "verify", checkpoint_id)[0]["ok"] is True
    for flags in (["--deep"], ["--read-data-subset", "100%"]):
        verified, err = cli(*common, "verify", checkpoint_id, *flags, expect=1)
        [row] = verified["volumes"]
        assert row["checked"] == [f"data_{i}"
                                  for i in range(1, row["chunks"] + 1)]
        assert [item["object"] for item in row["bad"]] == ["data_2"]
        assert f"volume {volume_id}: chunk data_2: sha256 " in err
