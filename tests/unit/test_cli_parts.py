"""Pieces of the command line that need no cloud: options, tables, errors."""

import argparse
import json
import subprocess
import sys
import textwrap

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.cli import commands as cli
from karbor_volume_glance.cli import output


@pytest.mark.parametrize(
    "text, expected",
    [("compression=zstd", ("compression", "zstd")),
     ("incremental=true", ("incremental", True)),
     ("count=3", ("count", 3)),
     ("name=a=b", ("name", "a=b")),
     ('tags=["a"]', ("tags", ["a"]))],
)
def test_options_read_json_values_when_they_are_json(text, expected):
    assert cli._option(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=x"])
def test_malformed_options_are_usage_errors(text):
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        cli._option(text)


def test_table_lines_up_columns_and_shows_nested_values_as_json():
    text = output.table([{"id": "a", "n": 1}, {"id": "bbb", "extra": {"k": 2}}])
    lines = text.splitlines()
    assert lines[1] == "| id  | n | extra    |"
    assert lines[3] == "| a   | 1 |          |"
    assert lines[4] == '| bbb |   | {"k": 2} |'
    assert len({len(line) for line in lines}) == 1


def test_emit_json_is_parseable(capsys):
    output.emit({"checkpoint_id": "c", "volumes": {"a": "b"}}, "json")
    assert json.loads(capsys.readouterr().out) == {"checkpoint_id": "c",
                                                  "volumes": {"a": "b"}}


def test_empty_listing_says_so():
    assert output.table([]) == "(none)"


def test_without_a_bank_the_command_fails_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv("KARBOR_VOLUME_GLANCE_BANK", raising=False)
    assert cli.main(["list"]) == cli.FAILED
    err = capsys.readouterr().err
    assert err.strip() == ("karbor-volume-glance: no bank: give --bank URL or set "
                           "KARBOR_VOLUME_GLANCE_BANK")


def test_an_unknown_cloud_fails_in_one_line(capsys, tmp_path, monkeypatch):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    status = cli.main(["--bank", f"file://{tmp_path}/bank", "--os-cloud", "nope",
                       "list"])
    assert status == cli.FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Cloud nope was not found" in err[0]


# --- protect: --incremental, --parent, --snapshot ----------------------------

def protect_args(*argv):
    return cli.parse_args(["protect", *argv])


class RecordingRunner:
    """Stands in for the Runner: keeps what protect was asked to do."""

    def protect(self, volume_ids, parameters):
        self.volume_ids, self.parameters = volume_ids, parameters
        return "result"


def parameters_of(*argv):
    runner = RecordingRunner()
    assert cli._protect(runner, protect_args(*argv)) == "result"
    return runner.parameters


def test_protect_without_new_flags_keeps_its_options():
    assert parameters_of("v1", "v2", "--option", "compression=zstd") == {
        "v1": {"compression": "zstd", "backup_name": "v1"},
        "v2": {"compression": "zstd", "backup_name": "v2"},
    }


def test_incremental_flag_sets_the_option_for_every_volume():
    args = protect_args("v1", "v2", "--incremental")
    assert args.incremental is True and args.parent is None
    assert parameters_of("v1", "v2", "--incremental", "--name", "n") == {
        "v1": {"incremental": True, "backup_name": "n"},
        "v2": {"incremental": True, "backup_name": "n"},
    }


def test_parent_with_incremental_names_the_parent_checkpoint():
    assert parameters_of("v1", "--incremental", "--parent", "cp-1") == {
        "v1": {"incremental": True, "parent_checkpoint_id": "cp-1",
               "backup_name": "v1"},
    }
    # the option spelt out is as good as the flag
    assert cli.protect_options(protect_args(
        "v1", "--option", "incremental=true", "--parent", "cp-1")) == {
        "incremental": True, "parent_checkpoint_id": "cp-1"}


def test_snapshot_with_one_volume_names_the_snapshot():
    args = protect_args("--snapshot", "snap-1", "v1")
    assert args.snapshot == "snap-1" and args.volumes == ["v1"]
    assert parameters_of("v1", "--snapshot", "snap-1", "--incremental") == {
        "v1": {"incremental": True, "snapshot_id": "snap-1",
               "backup_name": "v1"},
    }


def test_the_new_options_pass_the_options_schema():
    from karbor_volume_glance import schemas

    for options in parameters_of("v1", "--snapshot", "s", "--incremental",
                                 "--parent", "cp").values():
        assert schemas.validate(schemas.OPTIONS_SCHEMA, options) == options


@pytest.mark.parametrize("argv, message", [
    (["v1", "--parent", "cp-1"], "--parent needs --incremental"),
    (["v1", "--parent", "cp-1", "--option", "incremental=false"],
     "--parent needs --incremental"),
    (["v1", "v2", "--snapshot", "snap-1"],
     "--snapshot needs exactly one VOLUME (the snapshot's volume), got 2"),
    (["v1", "v2", "--option", "snapshot_id=snap-1"],
     "snapshot_id needs exactly one VOLUME"),
    (["v1", "--incremental", "--option", "incremental=false"],
     "--incremental conflicts with --option incremental=false"),
    (["v1", "--snapshot", "a", "--option", "snapshot_id=b"],
     '--snapshot conflicts with --option snapshot_id="b"'),
])
def test_contradictory_protect_arguments_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as raised:
        protect_args(*argv)
    assert raised.value.code == cli.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("usage: karbor-volume-glance protect")
    assert f"karbor-volume-glance protect: error: {message}" in err


def test_a_usage_error_comes_before_needing_a_bank(capsys, monkeypatch):
    monkeypatch.delenv("KARBOR_VOLUME_GLANCE_BANK", raising=False)
    with pytest.raises(SystemExit) as raised:
        cli.main(["protect", "v1", "v2", "--snapshot", "s"])
    assert raised.value.code == cli.USAGE_ERROR
    assert "no bank" not in capsys.readouterr().err


def test_help_says_parent_needs_incremental(capsys):
    with pytest.raises(SystemExit):
        protect_args("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--parent CHECKPOINT" in text and "(needs --incremental)" in text
    assert "--snapshot SNAPSHOT" in text and "exactly one VOLUME" in text


# --- what show and protect tell of each backup --------------------------------

def _chunk(index, **extra):
    return {"index": index, "offset": index * 4, "length": 4, "sha256": "0" * 64,
            **extra}


MANIFEST = {
    "format_version": 3, "volume_id": "v1", "incremental": True,
    "parent_checkpoint_id": "cp-0", "full_reason": None,
    "data_timestamp": "2025-01-02T03:04:05.000006+00:00", "snapshot_id": "s1",
    "sources": {"cp-0": "/checkpoints/cp-0/resource-data/v1/"},
    "chunks": [
        _chunk(0, object="data_1", stored_size=4, compression="none",
               source="cp-0"),
        _chunk(1, zero=True),
        _chunk(2, object="data_3", stored_size=3, compression="zlib",
               delta_size=2, base={"source": "cp-0", "sha256": "1" * 64,
                                   "stored_size": 4, "compression": "none"}),
        _chunk(3, object="data_4", stored_size=4, compression="none"),
    ],
}


def test_backup_details_count_only_the_bytes_the_backup_stored():
    from karbor_volume_glance.standalone.runner import backup_details

    assert backup_details(MANIFEST) == {
        "incremental": True, "parent_checkpoint_id": "cp-0", "full_reason": None,
        "data_timestamp": "2025-01-02T03:04:05.000006+00:00",
        "snapshot_id": "s1", "backup_path": None, "backup_path_reason": None,
        "stored_bytes": 3 + 4,
    }


def test_backup_details_of_older_manifests():
    from karbor_volume_glance.standalone.runner import backup_details

    assert backup_details(None) == {}
    legacy = backup_details({"volume_id": "v", "chunks_num": 2})
    assert legacy["incremental"] is False and legacy["stored_bytes"] is None
    version_1 = backup_details({"format_version": 1, "chunks": [
        {"index": 0, "name": "data_1", "length": 5, "sha256": "0" * 64}]})
    assert version_1["stored_bytes"] == 5 and version_1["data_timestamp"] is None


def test_show_table_has_a_row_per_volume_with_its_lineage(capsys):
    shown = {"id": "cp-1", "status": "available", "volumes": {
        "v1": {"volume_id": "v1", "volume_size": 1, "image_size": 16,
               "backup_name": "b", "status": "available", "incremental": True,
               "parent_checkpoint_id": "cp-0", "full_reason": None,
               "data_timestamp": "t1", "snapshot_id": "s1", "stored_bytes": 7},
        "v2": {"status": None},
    }}
    cli._show(shown, "table")
    out = capsys.readouterr().out
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in out.splitlines() if line.startswith("|")]
    assert rows[:3] == [["field", "value"], ["id", "cp-1"],
                        ["status", "available"]]  # the volumes come below
    assert rows[3] == ["volume_id", "status", "backup_name", "image_size",
                       "incremental", "parent_checkpoint_id", "full_reason",
                       "data_timestamp", "snapshot_id", "stored_bytes",
                       "volume_size"]
    assert rows[4] == ["v1", "available", "b", "16", "True", "cp-0", "", "t1",
                       "s1", "7", "1"]
    assert rows[5][:2] == ["v2", ""] and len(rows) == 6


def test_show_json_keeps_volumes_by_id(capsys):
    shown = {"id": "cp-1", "volumes": {"v1": {"stored_bytes": 7}}}
    cli._show(shown, "json")
    assert json.loads(capsys.readouterr().out) == shown


def test_protect_report_adds_each_backups_details(capsys):
    from karbor_volume_glance.standalone.runner import Outcome, Result

    result = Result("cp-1", [Outcome("v1", True), Outcome("v2", False, "boom")])
    details = {"v1": {"incremental": False, "full_reason": "no parent",
                      "stored_bytes": 9}}
    assert cli._report(result, "json", details=details) is False
    data = json.loads(capsys.readouterr().out)
    assert data["volumes"] == [
        {"volume_id": "v1", "ok": True, "status": "ok", "incremental": False,
         "full_reason": "no parent", "stored_bytes": 9},
        {"volume_id": "v2", "ok": False, "status": "failed", "error": "boom"},
    ]
    cli._report(result, "table", details=details)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("|"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "volume_id", "ok", "status", "incremental", "full_reason",
        "stored_bytes", "error"]


def test_restore_server_flags_become_options():
    import types

    class Runner:
        def checkpoint(self, checkpoint_id):
            return types.SimpleNamespace(resources=[types.SimpleNamespace(id="v1"),
                                                    types.SimpleNamespace(id="v2")])

        def restore(self, checkpoint_id, parameters):
            return parameters

    args = cli.parse_args(["restore", "c1", "--server", "s1", "--replace-volume"])
    assert cli._restore(Runner(), args) == {
        volume: {"server_id": "s1", "replace_volume": True} for volume in ("v1", "v2")}


def test_replace_volume_needs_a_server(capsys):
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["restore", "c1", "--replace-volume"])
    assert info.value.code == 2
    assert "--replace-volume needs --server" in capsys.readouterr().err


def test_the_demo_without_the_localcloud_extra_names_it():
    """waitress is the [localcloud] extra's; without it the demo says so."""
    script = textwrap.dedent("""
        import sys
        sys.modules["waitress"] = None
        from karbor_volume_glance.cli import commands
        sys.exit(commands.main(["demo"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == cli.FAILED, done.stderr
    assert "pip install 'karbor-volume-glance[localcloud]'" in done.stderr
    assert "waitress" in done.stderr
    assert "Traceback" not in done.stderr


# --- global options before or after the command (D7) -------------------------

#: Every command line, as far as its own arguments go.
COMMAND_LINES = [
    ["demo"], ["check"], ["list"], ["protect", "v1"], ["restore", "c1"],
    ["verify", "c1"], ["delete", "c1"], ["show", "c1"], ["sweep"],
    ["sweep", "--dry-run"], ["plan", "protect", "p.yaml"],
    ["plan", "restore", "p.yaml", "--checkpoint", "latest"],
    ["plan", "list", "p.yaml"], ["plan", "prune", "p.yaml", "--keep", "1"],
]
#: (the flag and its arguments, attribute, value) twice: before and after
#: differ so that "both" shows which one wins.
GLOBALS = [
    (["--format", "json"], ["--format", "table"], "format", "json", "table"),
    (["--bank", "file:///b1"], ["--bank", "file:///b2"], "bank", "file:///b1",
     "file:///b2"),
    (["--os-cloud", "c1"], ["--os-cloud", "c2"], "os_cloud", "c1", "c2"),
    (["--config-file", "f1"], ["--config-file", "f2"], "config_file", "f1",
     "f2"),
    (["--wait-ready", "3"], ["--wait-ready", "4.5"], "wait_ready", 3.0, 4.5),
    (["--debug"], ["--debug"], "debug", True, True),
]
DEFAULTS = {"format": "table", "bank": None, "os_cloud": None,
            "config_file": None, "wait_ready": 0.0, "debug": False}


@pytest.fixture
def no_environment(monkeypatch):
    monkeypatch.delenv("OS_CLOUD", raising=False)
    monkeypatch.delenv("KARBOR_VOLUME_GLANCE_BANK", raising=False)


@pytest.mark.parametrize("line", COMMAND_LINES, ids=" ".join)
@pytest.mark.parametrize("before, after, attribute, first, second", GLOBALS,
                         ids=[g[2] for g in GLOBALS])
def test_global_options_work_before_after_and_both(
        no_environment, line, before, after, attribute, first, second):
    given_before = cli.build_parser().parse_args([*before, *line])
    given_after = cli.build_parser().parse_args([*line, *before])
    given_both = cli.build_parser().parse_args([*before, *line, *after])
    assert getattr(given_before, attribute) == first  # not clobbered
    assert getattr(given_after, attribute) == first
    assert getattr(given_both, attribute) == second  # the later one wins
    for args in (given_before, given_after, given_both):
        others = {key: value for key, value in DEFAULTS.items()
                  if key != attribute}
        assert {key: getattr(args, key) for key in others} == others


def test_global_options_default_from_the_environment(monkeypatch):
    monkeypatch.setenv("OS_CLOUD", "env-cloud")
    monkeypatch.setenv("KARBOR_VOLUME_GLANCE_BANK", "file:///env-bank")
    args = cli.parse_args(["protect", "v1"])
    assert (args.os_cloud, args.bank) == ("env-cloud", "file:///env-bank")
    args = cli.parse_args(["protect", "v1", "--os-cloud", "c", "--bank", "b"])
    assert (args.os_cloud, args.bank) == ("c", "b")


def test_a_bad_global_option_after_the_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["protect", "v1", "--format", "xml"])
    assert info.value.code == cli.USAGE_ERROR
    assert "invalid choice: 'xml'" in capsys.readouterr().err


# --- every volume in the output, failed ones with their reason (D6) ----------

@pytest.fixture
def fake_sites(tmp_path, monkeypatch):
    """Two FakeClouds behind the clouds.yaml names site-a and site-b, and the
    command line's common options for them."""
    from karbor_volume_glance.testing import FakeCloud
    from tests.unit.harness import OBJECT_SIZE

    found = {"site-a": FakeCloud(project_id="project-a", project_name="team"),
             "site-b": FakeCloud(project_id="project-b", project_name="team")}

    def connect(args):
        cloud = found[args.os_cloud]
        return cloud.client_factory(), cloud.context()

    monkeypatch.setattr(cli, "_connect", connect)
    config = tmp_path / "plugin.conf"
    config.write_text("[volume_glance_plugin]\npoll_interval = 0.001\n"
                      f"backup_image_object_size = {OBJECT_SIZE}\n")
    common = ["--bank", f"file://{tmp_path}/bank", "--config-file", str(config)]
    return found, common


def run_json(capsys, argv, expect=0):
    """``argv`` with ``--format json`` after the command: (JSON, stderr)."""
    status = cli.main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert status == expect, err
    return json.loads(out), err


def test_a_failed_protect_names_each_volume_and_its_reason(capsys, fake_sites):
    clouds, common = fake_sites
    bad = clouds["site-a"].add_volume(data=b"b" * 1000)
    good = clouds["site-a"].add_volume(data=b"a" * 1000)
    # the first volume's upload, whichever path it takes
    clouds["site-a"].inject("volume.upload_to_image", "error")
    data, err = run_json(capsys, [*common, "--os-cloud", "site-a", "protect",
                                  bad, good], expect=cli.FAILED)
    assert data["ok"] is False
    rows = {row["volume_id"]: row for row in data["volumes"]}
    assert list(rows) == [bad, good]
    assert rows[good]["status"] == "ok" and rows[good]["ok"] is True
    assert "error" not in rows[good]
    assert rows[bad]["status"] == "failed" and rows[bad]["ok"] is False
    assert "'killed'" in rows[bad]["error"]  # the image's status, as Cinder says
    assert f"karbor-volume-glance: volume {bad}: {rows[bad]['error']}" in err


def _checkpoints(capsys, common):
    listed, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "list"])
    return listed


@pytest.mark.parametrize("case", ["unknown option", "wrong type",
                                  "missing volume", "volume in error",
                                  "another volume's snapshot",
                                  "snapshot in error"])
def test_a_refused_protect_names_why_and_leaves_nothing(capsys, fake_sites, case):
    """Issue 14: the options, the volumes and a named snapshot are checked
    before a checkpoint is created; every volume refused is named, and
    nothing is left in the bank or the cloud."""
    clouds, common = fake_sites
    cloud = clouds["site-a"]
    good = cloud.add_volume(data=b"a" * 1000)
    other = cloud.add_volume(data=b"o" * 1000)
    missing = "8f0c5a52-52c9-4c1f-9a55-0d1b2b3c4d5e"
    if case == "missing volume":
        volumes, extra, named = [good, missing, other], [], [missing]
    elif case == "volume in error":
        failed = cloud.add_volume(data=b"e" * 1000, status="error")
        volumes, extra, named = [failed, good, missing], [], [failed, missing]
    elif case == "another volume's snapshot":
        snapshot = cloud.add_snapshot(other)
        volumes, extra, named = [good], ["--snapshot", snapshot], [other]
    elif case == "snapshot in error":
        snapshot = cloud.add_snapshot(good, status="error")
        volumes, extra, named = [good], ["--snapshot", snapshot], [snapshot]
    else:
        volumes, extra, named = {
            "unknown option": ([good], ["--option", "colour=blue"], ["colour"]),
            "wrong type": ([good], ["--option", "incremental=maybe"],
                           ["incremental"]),
        }[case]
    before = cloud.created()
    status = cli.main([*common, "--os-cloud", "site-a", "protect", *volumes,
                       *extra, "--format", "json"])
    out, err = capsys.readouterr()
    assert status == cli.FAILED
    for name in named:
        assert name in err
    assert "nothing was created" in err
    if case.endswith("volume") or case == "volume in error":
        rows = json.loads(out)["volumes"]
        assert [row["volume_id"] for row in rows] == volumes
        assert {row["volume_id"] for row in rows
                if row["status"] == "refused"} == set(named)
    assert _checkpoints(capsys, common) == []
    assert cloud.created() == before


def test_a_failed_restore_names_each_volume_and_its_reason(capsys, fake_sites):
    clouds, common = fake_sites
    volumes = [clouds["site-a"].add_volume(data=bytes([i]) * 1000)
               for i in range(2)]
    protected, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "protect",
                                     *volumes])
    clouds["site-b"].inject("volume.create", "http", status=413)
    data, err = run_json(capsys, [*common, "--os-cloud", "site-b", "restore",
                                  protected["checkpoint_id"]],
                         expect=cli.FAILED)
    assert data["ok"] is False
    rows = {row["volume_id"]: row for row in data["volumes"]}
    assert sorted(rows) == sorted(volumes)
    [failed] = [row for row in rows.values() if not row["ok"]]
    [restored] = [row for row in rows.values() if row["ok"]]
    assert failed["status"] == "failed" and "413" in failed["error"]
    assert "new_volume_id" not in failed
    assert restored["status"] == "ok"
    assert data["new_volume_ids"] == {
        restored["volume_id"]: restored["new_volume_id"]}
    assert (clouds["site-b"].volume_data(restored["new_volume_id"])[:1000]
            == clouds["site-a"].volume_data(restored["volume_id"])[:1000])
    assert (f"karbor-volume-glance: volume {failed['volume_id']}: "
            f"{failed['error']}") in err

    status = cli.main([*common, "--os-cloud", "site-b", "restore",
                       protected["checkpoint_id"]])  # and as a table
    table = capsys.readouterr().out
    assert status == 0 and all(volume in table for volume in volumes)


@pytest.mark.parametrize("command", ["verify", "delete"])
def test_verify_and_delete_list_every_volume(capsys, fake_sites, command):
    clouds, common = fake_sites
    volume = clouds["site-a"].add_volume(data=b"v" * 1000)
    protected, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "protect",
                                     volume])
    data, _ = run_json(capsys, [*common, "--os-cloud", "site-a", command,
                                protected["checkpoint_id"]])
    assert data["volumes"] == [{"volume_id": volume, "ok": True, "status": "ok"}]


def test_a_reason_never_shows_a_secret():
    from karbor_volume_glance.cli import results
    from karbor_volume_glance.standalone.runner import Outcome

    row = results.volume_row(Outcome(
        "v1", False, "refused https://admin:s3cr3t@keystone:5000/v3 "
        "with password=hunter2 and {'auth_token': 'tok123'}"))
    assert row["status"] == "failed" and row["error"].startswith("refused ")
    for secret in ("s3cr3t", "hunter2", "tok123"):
        assert secret not in row["error"]


def test_a_command_error_never_shows_a_secret(capsys, monkeypatch):
    def refuse(args):
        raise cli.CommandError("bank swift://user:hunter2@swift/c refused")

    monkeypatch.setattr(cli, "_runner", refuse)
    assert cli.main(["list", "--bank", "file:///b"]) == cli.FAILED
    err = capsys.readouterr().err
    assert err.strip() == ("karbor-volume-glance: bank swift://user:***@swift/c "
                           "refused")


def test_a_restore_that_leaves_its_image_says_so_and_succeeds(capsys, fake_sites):
    """D1: Glance on Cinder's Ceph (direct URLs): the restored volume is a
    clone of the temporary image, which Glance then keeps; the restore
    succeeds (exit 0) and its row and stderr name the image."""
    from karbor_volume_glance.testing import FakeCloud

    clouds, common = fake_sites
    clouds["site-b"] = FakeCloud(project_id="project-b", project_name="team",
                                 glance_rbd_direct_url=True)
    volume = clouds["site-a"].add_volume(data=b"v" * 1000)
    protected, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "protect",
                                     volume])
    data, err = run_json(capsys, [*common, "--os-cloud", "site-b", "restore",
                                  protected["checkpoint_id"]])
    [row] = data["volumes"]
    assert row["ok"] is True and data["ok"] is True
    [(kind, image_id, name)] = clouds["site-b"].leftovers(
        keep=[row["new_volume_id"]])
    assert kind == "image" and name.startswith("temporary_image_for_restore_of_")
    assert image_id in row["warning"]
    assert f"karbor-volume-glance: volume {volume}: warning: " in err


# --- sweep's report (issue 13) ------------------------------------------------

SWEPT = {"dry_run": False, "bank": "b", "lease_seconds": 3, "resources": [
    {"kind": "image", "id": "i1", "name": "temporary_image_of_v",
     "run_id": "r", "checkpoint_id": "c", "found_by": "journal",
     "action": "deleted"},
    {"kind": "run", "id": "r", "operation": "protect", "volume_id": "v",
     "checkpoint_id": "c", "host": "h", "pid": 1, "action": "removed"}]}


def test_sweep_prints_a_row_per_thing_and_succeeds(capsys):
    assert cli._sweep_report(SWEPT, "table") is True
    out = capsys.readouterr().out
    assert out.startswith("sweep: 2 found\n")
    assert "temporary_image_of_v" in out and "removed" in out
    assert cli._sweep_report(SWEPT, "json") is True
    assert json.loads(capsys.readouterr().out) == SWEPT


def test_sweep_fails_when_something_could_not_be_deleted(capsys):
    failed = dict(SWEPT, resources=[dict(SWEPT["resources"][0],
                                         action="failed: CloudError: 500")])
    assert cli._sweep_report(failed, "json") is False
    assert ("karbor-volume-glance: image i1: failed: CloudError: 500"
            in capsys.readouterr().err)


# --- owners: authentication before any change (issue 14) ----------------------

def test_delete_without_authentication_deletes_nothing(capsys, fake_sites,
                                                       monkeypatch):
    clouds, common = fake_sites
    volume = clouds["site-a"].add_volume(data=b"v" * 1000)
    made, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "protect",
                                volume])
    connect = cli._connect

    def refused(args):
        if args.os_cloud == "wrong":
            raise exceptions.NotReady("cloud 'wrong': cannot authenticate: "
                                      "Unauthorized: 401")
        return connect(args)

    monkeypatch.setattr(cli, "_connect", refused)
    for flags in ([], ["--bank-only"]):
        status = cli.main([*common, "--os-cloud", "wrong", "delete",
                           made["checkpoint_id"], *flags])
        _, err = capsys.readouterr()
        assert status == cli.FAILED
        assert err.strip() == (
            "karbor-volume-glance: not authorized: cloud 'wrong': cannot "
            "authenticate: Unauthorized: 401; delete needs an authenticated "
            "caller (an operator with the admin role can use delete "
            "--bank-only)")
    # not an admin: --bank-only is refused, the owner's plain delete works
    status = cli.main([*common, "--os-cloud", "site-a", "delete", "--bank-only",
                       made["checkpoint_id"]])
    assert status == cli.FAILED
    assert "delete --bank-only needs credentials with the admin role" in (
        capsys.readouterr().err)
    shown, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "show",
                                 made["checkpoint_id"]])
    assert shown["status"] == "available"
    deleted, _ = run_json(capsys, [*common, "--os-cloud", "site-a", "delete",
                                   made["checkpoint_id"]])
    assert deleted["ok"] is True


def test_the_console_script_freezes_the_collector_before_the_exit(
        capsys, monkeypatch):
    """The console script (not commands.main, which tests call) leaves the
    process's objects to its end rather than to a last collection."""
    import gc
    import importlib.metadata

    import karbor_volume_glance.cli as package

    [script] = [entry for entry in importlib.metadata.entry_points(
        group="console_scripts") if entry.name == "karbor-volume-glance"]
    assert script.load() is package.main
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.delenv("KARBOR_VOLUME_GLANCE_BANK", raising=False)
    assert package.main(["list"]) == cli.FAILED
    assert frozen == [True]
    assert "no bank" in capsys.readouterr().err
    frozen.clear()
    assert cli.main(["list"]) == cli.FAILED and frozen == []
