"""The Karbor comparison's parts that need neither Karbor nor a cloud: its
options, the order of the runs, the medians and ratios, the targets and the
report."""

import json

import pytest

from tools.bench import karbor_compare as kc
from tools.bench import options


def _run(contestant, protect, restore, exact=True, error=None, number=1,
         poll=None):
    plugin = "ours" if contestant == kc.OURS else "karbor"
    result = kc.run_result(number, kc.Contestant(contestant, plugin), poll)
    result.update(protect_seconds=protect, restore_seconds=restore,
                  restore_exact=exact, error=error)
    return result


def test_compare_and_rounds_are_options():
    args = options.parse_args(["--compare", "karbor", "--rounds", "3",
                               "--size", "256M"])
    assert (args.compare, args.rounds) == ("karbor", 3)
    assert kc.compare_case(args) == (256 * 1024**2, kc.DEFAULT_PATTERN)
    args = options.parse_args(["--compare", "karbor", "--pattern", "text,random"])
    assert kc.compare_case(args) == (1024**3, "text")
    assert options.parse_args([]).compare is None


@pytest.mark.parametrize("argv", [["--compare", "cinder"], ["--rounds", "0"],
                                  ["--rounds", "x"]])
def test_bad_compare_options_are_usage_errors(argv):
    with pytest.raises(SystemExit):
        options.parse_args(argv)


def test_the_incremental_case_is_no_volume_to_compare_on():
    args = options.parse_args(["--compare", "karbor", "--pattern", "incremental"])
    with pytest.raises(SystemExit, match="data pattern"):
        kc.compare_case(args)


def test_rounds_alternate_karbor_default_karbor_at_1_s_then_ours():
    players = kc.contestants(0.5)
    assert [(p.name, p.plugin, p.poll_interval) for p in players] == [
        ("karbor-default", "karbor", None), ("karbor-poll-1", "karbor", 1),
        ("ours", "ours", 0.5)]
    order = [(number, p.name) for number, p in kc.schedule(players, 2)]
    assert order == [(1, "karbor-default"), (1, "karbor-poll-1"), (1, "ours"),
                     (2, "karbor-default"), (2, "karbor-poll-1"), (2, "ours")]


def test_the_summary_takes_medians_and_karbors_times_over_ours():
    runs = [_run("karbor-default", 60.0, 20.0, poll=15),
            _run("karbor-poll-1", 12.0, 6.0, poll=1),
            _run("ours", 3.0, 1.0, poll=0.5),
            _run("karbor-default", 70.0, 30.0, number=2, poll=15),
            _run("karbor-poll-1", 14.0, 4.0, number=2, poll=1),
            _run("ours", 5.0, 3.0, number=2, poll=0.5),
            _run("karbor-default", 80.0, 40.0, number=3, poll=15),
            _run("karbor-poll-1", 10.0, 8.0, number=3, poll=1),
            _run("ours", 4.0, 2.0, number=3, poll=0.5)]
    summary = {row["contestant"]: row for row in kc.summarize(runs)}
    assert list(summary) == ["karbor-default", "karbor-poll-1", "ours"]
    default, poll_1, ours = (summary[name] for name in summary)
    assert (default["protect_seconds"], default["restore_seconds"],
            default["total_seconds"]) == (70.0, 30.0, 100.0)
    assert (ours["protect_seconds"], ours["restore_seconds"],
            ours["total_seconds"]) == (4.0, 2.0, 6.0)
    assert default["vs_ours_protect"] == pytest.approx(17.5)
    assert default["vs_ours_restore"] == pytest.approx(15.0)
    assert default["vs_ours_total"] == pytest.approx(100 / 6)
    assert poll_1["total_seconds"] == 18.0  # the median of totals, not a sum
    assert poll_1["vs_ours_total"] == pytest.approx(3.0)
    assert ours["vs_ours_total"] is None
    assert (default["runs"], default["good_runs"], default["all_exact"]) == (
        3, 3, True)
    assert [met for _text, met in kc.targets(kc.summarize(runs))] == [True, True]


def test_failed_or_inexact_runs_are_left_out_of_the_medians():
    runs = [_run("karbor-default", 1.0, 1.0, exact=False),
            _run("karbor-default", 90.0, 10.0, number=2),
            _run("karbor-poll-1", 2.0, None, error="RestoreResourceFailed"),
            _run("ours", 10.0, 10.0)]
    summary = {row["contestant"]: row for row in kc.summarize(runs)}
    assert summary["karbor-default"]["total_seconds"] == 100.0
    assert summary["karbor-default"]["all_exact"] is False
    assert summary["karbor-default"]["good_runs"] == 1
    assert summary["karbor-poll-1"]["total_seconds"] is None
    assert summary["karbor-poll-1"]["vs_ours_total"] is None
    texts = [text for text, _met in kc.targets(kc.summarize(runs))]
    assert texts == [
        "ours >= 5x faster than Karbor's plugin at its defaults: yes (5.00x)",
        "ours faster than Karbor's plugin at poll_interval = 1: unknown (-)"]


@pytest.mark.parametrize("karbor_total, met", [(49.9, False), (50.0, True)])
def test_the_defaults_target_is_five_times_ours(karbor_total, met):
    runs = [_run("karbor-default", karbor_total - 1, 1.0),
            _run("ours", 5.0, 5.0)]
    [(text, found), _poll_1] = kc.targets(kc.summarize(runs))
    assert found is met
    assert text.endswith(("yes" if met else "NO") + f" ({karbor_total / 10:.2f}x)")


def test_slower_than_karbor_at_1_s_misses_the_second_target():
    runs = [_run("karbor-poll-1", 5.0, 5.0), _run("ours", 6.0, 4.0)]
    [_default, (text, met)] = kc.targets(kc.summarize(runs))
    assert (met, text.endswith("NO (1.00x)")) == (False, True)


def test_the_table_shows_every_run_the_medians_and_the_targets():
    runs = [_run("karbor-default", 61.234, 16.0, poll=15),
            _run("karbor-poll-1", 7.0, 3.0, poll=1, exact=False,
                 error="RestoreResourceFailed: checksum"),
            _run("ours", 2.0, 1.0, poll=0.5)]
    lines = kc.table_lines(runs, kc.summarize(runs))
    assert lines[0].split() == list(kc.RUN_HEADER)
    assert lines[1].split() == ["1", "karbor-default", "15", "61.23", "16.00",
                                "77.23", "yes"]
    assert lines[2].split()[-3:] == ["NO", "RestoreResourceFailed:", "checksum"]
    summary_start = lines.index("") + 1
    assert lines[summary_start].split() == list(kc.SUMMARY_HEADER)
    assert lines[summary_start + 1].split() == [
        "karbor-default", "15", "1/1", "61.23", "16.00", "77.23", "30.62x",
        "16.00x", "25.74x"]
    assert lines[summary_start + 2].split()[:3] == ["karbor-poll-1", "1", "0/1"]
    assert lines[-2] == ("target: ours >= 5x faster than Karbor's plugin at "
                         "its defaults: yes (25.74x)")
    assert lines[-1].startswith("target: ours faster than Karbor's plugin at "
                                "poll_interval = 1: unknown")


def test_json_lines_are_the_runs_then_the_summary():
    runs = [_run("karbor-poll-1", 4.0, 2.0, poll=1), _run("ours", 1.0, 1.0)]
    objects = [json.loads(line) for line in kc.json_lines(runs, kc.summarize(runs))]
    assert [(o["kind"], o["contestant"]) for o in objects] == [
        ("run", "karbor-poll-1"), ("run", "ours"),
        ("summary", "karbor-poll-1"), ("summary", "ours")]
    assert objects[2]["vs_ours_total"] == 3.0


def test_the_note_names_the_piece_size_karbor_runs_with():
    note = kc.chunksize_note(1048576)
    assert "CHUNKSIZE = 65536" in note and "1048576" in note
    assert "one sixteenth" in note


def test_the_machine_note_names_the_cores_and_the_load():
    assert kc.machine_note(2, (6.5, 7.25, 7.0)) == (
        "machine: 2 cores, load average 6.50 7.25 7.00 at the start (other "
        "work on it slows every contestant)")
