"""verify --deep and --read-data-subset, as restic's check --read-data
(issue 14, item 7): every damaged chunk named, random subsets that differ
from run to run, and what was checked in the output."""

import json
import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.cli import commands as cli
from karbor_volume_glance.operations import verify
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE
from tests.unit.test_cli_parts import fake_sites, run_json  # noqa: F401

CHUNKS = 8


def names(count=CHUNKS):
    return [f"data_{index}" for index in range(1, count + 1)]


@pytest.fixture
def protected(harness):
    """A volume of CHUNKS incompressible chunks, protected: its id and section."""
    volume_id = harness.cloud.add_volume(data=os.urandom(CHUNKS * OBJECT_SIZE))
    harness.protect(volume_id)
    return volume_id, harness.section(volume_id)


def flip(section, name, at=7):
    data = bytearray(section.get_object(name))
    data[at] ^= 1
    section.update_object(name, bytes(data))


def swap(section, one, two):
    first, second = section.get_object(one), section.get_object(two)
    section.update_object(one, second)
    section.update_object(two, first)


def deep_failure(harness, volume_id, **params):
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, params={"deep": True, **params})
    damaged = info.value.cause
    assert isinstance(damaged, exceptions.BackupDamaged)
    return damaged


def test_deep_verify_of_a_good_backup_reports_every_chunk(harness, protected):
    volume_id, _ = protected
    report = harness.verify(volume_id, params={"deep": True})
    assert report == {"deep": True, "objects": CHUNKS, "chunks": CHUNKS,
                      "bytes": CHUNKS * OBJECT_SIZE, "checked": names(),
                      "bad": []}


def test_shallow_verify_keeps_its_result_and_misses_flips_and_swaps(
        harness, protected):
    volume_id, section = protected
    flip(section, "data_3")
    swap(section, "data_5", "data_6")  # same stored sizes: incompressible
    assert harness.verify(volume_id) == {"deep": False, "objects": CHUNKS,
                                         "bytes": CHUNKS * OBJECT_SIZE}


def test_deep_verify_names_every_damaged_chunk_not_only_the_first(
        harness, protected):
    volume_id, section = protected
    flip(section, "data_2")
    swap(section, "data_5", "data_6")
    section.delete_object("data_8")
    damaged = deep_failure(harness, volume_id)
    assert [item["object"] for item in damaged.bad] == [
        "data_2", "data_5", "data_6", "data_8"]
    reasons = {item["object"]: item["reason"] for item in damaged.bad}
    assert "sha256" in reasons["data_2"] and "sha256" in reasons["data_5"]
    assert reasons["data_8"] == "is missing from the bank"
    for name in ("data_2", "data_5", "data_6", "data_8"):
        assert f"{name}: " in str(damaged)
    assert damaged.report["checked"] == names()  # all of them, in order


def edit_manifest(section, edit):
    manifest = section.get_object("metadata")
    edit(manifest)
    section.update_object("metadata", manifest)


def test_deep_verify_names_an_edited_manifest(harness, protected):
    """The image's sha256 changed in the manifest: every chunk is fine, the
    manifest is named."""
    volume_id, section = protected

    def other_hash(manifest):
        manifest["sha256"] = "0" * 64

    edit_manifest(section, other_hash)
    assert harness.verify(volume_id)["objects"] == CHUNKS  # shallow: fine
    damaged = deep_failure(harness, volume_id)
    [item] = damaged.bad
    assert item["object"] == "metadata"
    assert "differs from the manifest's " + "0" * 64 in item["reason"]


def test_deep_verify_names_the_chunk_an_edited_manifest_lies_about(
        harness, protected):
    volume_id, section = protected

    def other_chunk_hash(manifest):
        manifest["chunks"][3]["sha256"] = "f" * 64

    edit_manifest(section, other_chunk_hash)
    damaged = deep_failure(harness, volume_id)
    assert [item["object"] for item in damaged.bad] == ["data_4"]
    assert "does not match the recorded " + "f" * 64 in damaged.bad[0]["reason"]


def test_a_subset_checks_the_share_asked_and_reports_its_seed(harness, protected):
    volume_id, _ = protected
    report = harness.verify(volume_id, params={"read_data_subset": 25})
    assert report["deep"] is False and report["percent"] == 25
    assert isinstance(report["seed"], int)
    assert len(report["checked"]) == 2 and set(report["checked"]) <= set(names())
    assert report["bytes"] == 2 * OBJECT_SIZE and report["bad"] == []
    again = harness.verify(volume_id, params={"read_data_subset": 25,
                                              "seed": report["seed"]})
    assert again["checked"] == report["checked"]  # a seed repeats a run


def test_subsets_differ_from_run_to_run_and_cover_everything(harness, protected):
    volume_id, _ = protected
    runs = [harness.verify(volume_id, params={"read_data_subset": 12.5})
            for _ in range(40)]
    assert all(len(run["checked"]) == 1 for run in runs)
    assert len({run["seed"] for run in runs}) == 40
    # 40 runs of one chunk in 8 miss one with a chance of 8 * (7/8)**40 ~ 0.04:
    # the choice is by seed, so test it by seed, not by luck
    assert {verify.choose(CHUNKS, 12.5, seed, volume_id)[0]
            for seed in range(64)} == set(range(CHUNKS))
    assert len({tuple(run["checked"]) for run in runs}) > 1
    full = harness.verify(volume_id, params={"read_data_subset": 100})
    assert full["checked"] == names() and full["chunks"] == CHUNKS


def test_a_subset_names_the_damaged_chunks_it_reads(harness, protected):
    volume_id, section = protected
    for name in names():
        flip(section, name)
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, params={"read_data_subset": 50, "seed": 7})
    chosen = [names()[i] for i in verify.choose(CHUNKS, 50, 7, volume_id)]
    assert [item["object"] for item in info.value.cause.bad] == chosen


@pytest.mark.parametrize("count, percent, expected", [
    (8, 12.5, 1), (8, 1, 1), (8, 13, 2), (8, 100, 8), (1, 0.01, 1), (0, 5, 0)])
def test_a_subset_is_at_least_one_chunk_and_rounds_up(count, percent, expected):
    chosen = verify.choose(count, percent, 3, "v")
    assert len(chosen) == expected and chosen == sorted(set(chosen))


@pytest.mark.parametrize("params, field", [
    ({"deep": True, "read_data_subset": 5}, "read_data_subset"),
    ({"seed": 3}, "seed"), ({"read_data_subset": 0}, "read_data_subset"),
    ({"read_data_subset": 101}, "read_data_subset")])
def test_contradicting_options_are_refused(harness, protected, params, field):
    volume_id, _ = protected
    with pytest.raises(exceptions.InvalidParameters, match=field):
        harness.verify(volume_id, params=params)


def test_deep_verify_of_an_incremental_names_a_damaged_parent_chunk(harness):
    """A chunk the incremental shares with its parent is named with the
    parent's checkpoint; the delta whose base it is fails with it."""
    volume_id = harness.cloud.add_volume(data=chains.random_data(6))
    full = chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 4096, b"\x04" * 4096)  # data_1: delta
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    report = harness.verify(volume_id, checkpoint=point.checkpoint,
                            params={"deep": True})
    shared = [f"data_{i} of checkpoint {full.id}" for i in range(2, 9)]
    assert report["bad"] == [] and report["checked"] == ["data_1", *shared]
    flip(harness.section(volume_id, full.checkpoint), "data_1")  # the base
    flip(harness.section(volume_id, full.checkpoint), "data_5")
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, checkpoint=point.checkpoint,
                       params={"deep": True})
    bad = {item["object"]: item["reason"] for item in info.value.cause.bad}
    assert list(bad) == ["data_1", f"data_5 of checkpoint {full.id}"]
    assert f"data_1 of checkpoint {full.id}" in bad["data_1"]  # its base


# --- the command line ---------------------------------------------------------

def protect_cli(capsys, fake_sites, chunks=CHUNKS):  # noqa: F811
    clouds, common = fake_sites
    site = [*common, "--os-cloud", "site-a"]
    volume = clouds["site-a"].add_volume(data=os.urandom(chunks * OBJECT_SIZE))
    protected, _ = run_json(capsys, [*site, "protect", volume])
    return site, volume, protected["checkpoint_id"]


def bank_section(common, checkpoint, volume):
    from karbor_volume_glance.bank import open_bank
    from karbor_volume_glance.standalone.checkpoints import CheckpointStore

    bank = open_bank(common[1])
    return CheckpointStore(bank).get(checkpoint).get_resource_bank_section(volume)


def test_cli_deep_verify_fails_naming_each_bad_chunk(capsys, fake_sites):  # noqa: F811
    site, volume, checkpoint = protect_cli(capsys, fake_sites)
    section = bank_section(fake_sites[1], checkpoint, volume)
    flip(section, "data_2")
    swap(section, "data_4", "data_7")

    shallow, _ = run_json(capsys, [*site, "verify", checkpoint])
    assert shallow["volumes"] == [{"volume_id": volume, "ok": True,
                                   "status": "ok"}]  # as before

    data, err = run_json(capsys, [*site, "verify", checkpoint, "--deep"],
                         expect=cli.FAILED)
    [row] = data["volumes"]
    assert row["ok"] is False and row["checked"] == names()
    assert [item["object"] for item in row["bad"]] == ["data_2", "data_4",
                                                       "data_7"]
    for name in ("data_2", "data_4", "data_7"):
        assert f"{name}: sha256 " in row["error"] and f"{name}: sha256 " in err

    assert cli.main([*site, "verify", checkpoint, "--deep"]) == cli.FAILED
    table = capsys.readouterr().out
    assert "data_2, data_4, data_7" in table and f"| {CHUNKS} " in table


def test_cli_subset_differs_across_runs_and_is_all_at_100(capsys, fake_sites):  # noqa: F811
    site, volume, checkpoint = protect_cli(capsys, fake_sites)
    seen, seeds = set(), set()
    for _ in range(6):
        data, _ = run_json(capsys, [*site, "verify", checkpoint,
                                    "--read-data-subset", "25%"])
        [row] = data["volumes"]
        assert row["ok"] and row["percent"] == 25 and len(row["checked"]) == 2
        seen.add(tuple(row["checked"]))
        seeds.add(row["seed"])
    assert len(seeds) == 6
    again, _ = run_json(capsys, [*site, "verify", checkpoint,
                                 "--read-data-subset", "25", "--seed",
                                 str(row["seed"])])
    assert again["volumes"][0]["checked"] == row["checked"]
    full, _ = run_json(capsys, [*site, "verify", checkpoint,
                                "--read-data-subset", "100%"])
    assert full["volumes"][0]["checked"] == names()
    # six runs of 2 chunks in 8 are all the same with a chance of 28**-5
    assert len(seen) > 1


@pytest.mark.parametrize("argv, words", [
    (["--deep", "--read-data-subset", "5%"], "not allowed with argument"),
    (["--read-data-subset", "0%"], "above 0 and at most 100"),
    (["--read-data-subset", "150"], "above 0 and at most 100"),
    (["--read-data-subset", "lots"], "above 0 and at most 100"),
    (["--seed", "3"], "--seed needs --read-data-subset"),
    (["--deep", "--seed", "3"], "--seed needs --read-data-subset"),
])
def test_cli_verify_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        cli.parse_args(["verify", "c1", *argv])
    assert info.value.code == cli.USAGE_ERROR
    assert words in capsys.readouterr().err


def test_cli_verify_options():
    def options(*argv):
        return cli.verify_options(cli.parse_args(["verify", "c1", *argv]))

    assert options() == {}
    assert options("--deep") == {"deep": True}
    assert options("--read-data-subset", "5%", "--seed", "9") == {
        "read_data_subset": 5.0, "seed": 9}
    assert json.dumps(options("--read-data-subset", "2.5"))


def test_deep_verify_of_a_karbor_layout_backup_names_what_is_wrong(harness):
    """Karbor's layout has no chunk hashes: missing objects are named, and
    otherwise the whole image's md5 (the manifest)."""
    from tests.unit.test_manifest import karbor_layout

    volume_id = "karbor-made-volume"
    section = harness.section(volume_id)
    karbor_layout(section, volume_id, [b"a", b"b", b"c"])
    report = harness.verify(volume_id, params={"read_data_subset": 1})
    assert report["checked"] == ["data_1", "data_2", "data_3"]  # all of them
    section.update_object("data_2", b"x")
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, params={"deep": True})
    [item] = info.value.cause.bad
    assert item["kind"] == "manifest" and "md5 hash" in item["reason"]
    section.delete_object("data_1")
    section.delete_object("data_3")
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, params={"deep": True})
    assert [item["object"] for item in info.value.cause.bad] == ["data_1",
                                                                "data_3"]
