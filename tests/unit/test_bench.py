"""The benchmark's parts that need no cloud: options, patterns, output, RSS."""

import argparse
import json
import os
import subprocess
import sys
import types
import zlib

import pytest

from karbor_volume_glance.bench import (
    child,
    cloudproc,
    measure,
    options,
    parent,
    report,
)
from karbor_volume_glance.bench import patterns as pat

MiB = 1024 * 1024
GiB = 1024 * MiB


# --- options ---------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("1G", GiB), ("256M", 256 * MiB), ("4g", 4 * GiB), ("512MiB", 512 * MiB),
    ("64K", 64 * 1024), ("1T", 1024 * GiB), ("1000", 1000), (" 2G ", 2 * GiB),
])
def test_sizes_take_binary_units(text, expected):
    assert options.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "1.5G", "-1M", "0", "0G", "1X", "1 G B"])
def test_bad_sizes_are_usage_errors(text):
    with pytest.raises(argparse.ArgumentTypeError, match="size"):
        options.parse_size(text)


def test_lists_are_comma_separated():
    assert options.parse_sizes("256M,1G") == [256 * MiB, GiB]
    assert options.parse_patterns("text, zeros") == ["text", "zeros"]
    assert options.parse_compressions("none,default") == ["none", "default"]
    assert options.parse_parallelisms("1,8,default") == [1, 8, "default"]


@pytest.mark.parametrize("parse, text", [
    (options.parse_patterns, "random,noise"),
    (options.parse_compressions, "lzma"),
    (options.parse_parallelisms, "0"),
    (options.parse_parallelisms, "two"),
    (options.parse_sizes, "1G,,2G"),
])
def test_unknown_items_are_usage_errors(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_defaults_are_one_gib_of_every_pattern_with_the_plugins_settings():
    args = options.parse_args([])
    assert args.size == [GiB]
    assert args.pattern == ["random", "zeros", "half-zeros", "text"]
    assert args.compression == ["default"] and args.parallelism == ["default"]
    assert not args.json and args.keep is None and args.one_case is None


def test_a_bad_argument_exits_with_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        options.parse_args(["--pattern", "noise"])
    assert exit_info.value.code == 2
    assert "unknown pattern noise" in capsys.readouterr().err


def test_cases_are_every_combination_with_defaults_resolved_once():
    args = options.parse_args(["--size", "256M,1G", "--pattern", "zeros,text",
                               "--compression", "zstd,default,none",
                               "--parallelism", "default"])
    cases = options.build_cases(args, defaults=("zstd", 4))
    assert len(cases) == 2 * 2 * 2
    assert cases[0] == options.Case("zeros", 256 * MiB, "zstd", 4)
    assert cases[1] == options.Case("zeros", 256 * MiB, "none", 4)
    assert cases[-1] == options.Case("text", GiB, "none", 4)


def test_default_compression_and_parallelism_are_the_plugins():
    compression, parallelism = options.plugin_defaults()
    args = options.parse_args(["--pattern", "zeros"])
    assert options.build_cases(args) == [
        options.Case("zeros", GiB, compression, parallelism)]


def test_a_case_may_take_longer_for_a_bigger_volume_unless_told():
    args = options.parse_args([])
    assert options.case_timeout(args, 4 * GiB) > options.case_timeout(args, GiB)
    assert options.case_timeout(options.parse_args(["--timeout", "30"]), GiB) == 30


# --- patterns --------------------------------------------------------------


def _data(pattern, size, seed=0):
    return b"".join(pat.pattern_pieces(pattern, size, seed))


@pytest.mark.parametrize("pattern", pat.PATTERNS)
def test_every_pattern_yields_exactly_the_size_in_bounded_pieces(pattern):
    size = 9 * MiB + 3
    pieces = list(pat.pattern_pieces(pattern, size))
    assert sum(map(len, pieces)) == size
    assert all(0 < len(piece) <= pat.BLOCK for piece in pieces)


@pytest.mark.parametrize("pattern", pat.PATTERNS)
def test_patterns_repeat_for_a_seed(pattern):
    assert _data(pattern, MiB, seed=7) == _data(pattern, MiB, seed=7)


def test_random_data_differs_by_seed_and_does_not_compress():
    data = _data("random", MiB)
    assert data != _data("random", MiB, seed=1)
    assert len(zlib.compress(data)) > len(data) * 0.99


def test_zeros_are_zeros():
    assert _data("zeros", 5 * MiB + 1) == bytes(5 * MiB + 1)


def test_half_zeros_alternate_four_mib_of_random_and_of_zeros():
    data = _data("half-zeros", 16 * MiB)
    quarters = [data[i:i + 4 * MiB] for i in range(0, 16 * MiB, 4 * MiB)]
    assert quarters[1] == quarters[3] == bytes(4 * MiB)
    for random_part in (quarters[0], quarters[2]):
        assert len(zlib.compress(random_part[:MiB])) > MiB * 0.99
    assert quarters[0] != quarters[2]


def test_text_is_words_of_the_list_and_compresses_like_prose():
    data = _data("text", MiB)
    words = set(data.decode("ascii").replace(",", " ").replace(".", " ").split())
    assert words <= set(pat.WORDS)
    assert len(words) > 200
    ratio = len(data) / len(zlib.compress(data, 6))
    assert 2 < ratio < 6


def test_text_is_not_one_line_repeated():
    data = _data("text", MiB)
    assert data.count(data[:64]) == 1
    assert data.count(data[-4096:-4000]) == 1


def test_the_word_list_gives_every_16_bit_number_a_pair():
    assert len(pat.WORDS) == len(set(pat.WORDS)) == 256
    assert len(pat._PAIRS) == 65536


def test_later_text_is_cut_from_the_pool_at_random_places():
    rng = pat.random.Random(3)
    pool = pat.word_text(rng, 256 * 1024)
    text = pat.resliced_text(rng, pool, 300_000)
    assert len(text) == 300_000
    assert text[:pat.TEXT_SLICE_MIN] in pool
    assert text != pool[:300_000]


def test_an_unknown_pattern_is_refused():
    with pytest.raises(ValueError, match="unknown pattern"):
        next(pat.pattern_pieces("noise", 1))


# --- report ----------------------------------------------------------------


def _result(**changes):
    result = {
        "pattern": "half-zeros", "size_bytes": 256 * MiB, "volume_bytes": GiB,
        "compression": "zstd", "parallelism": 4, "protect_seconds": 8.0,
        "restore_seconds": 10.0, "raw_read_seconds": 2.0,
        "raw_write_seconds": 1.6, "stored_bytes": 128 * MiB,
        "peak_rss_bytes": 200 * MiB, "rss_before_bytes": 160 * MiB,
        "restore_exact": True, "error": None,
    }
    result.update(changes)
    return result


@pytest.mark.parametrize("size, text", [
    (256 * MiB, "256M"), (GiB, "1G"), (4 * GiB, "4G"), (1536 * MiB, "1536M"),
    (1000, "1000"), (2048, "2K"), (None, "-"),
])
def test_sizes_are_shown_in_the_largest_whole_unit(size, text):
    assert report.format_size(size) == text


def test_rates_are_mib_of_volume_per_second():
    rated = report.with_rates(_result())
    assert rated["protect_mib_per_s"] == 128.0
    assert rated["restore_mib_per_s"] == 102.4
    assert rated["raw_read_mib_per_s"] == 512.0
    assert rated["raw_write_mib_per_s"] == 640.0
    assert report.with_rates(_result(protect_seconds=None))[
        "protect_mib_per_s"] is None


def test_a_table_row_lines_up_under_the_header():
    header, row = report.table_header(), report.table_row(_result())
    assert row.split() == ["half-zeros", "256M", "1G", "zstd", "4", "8.00", "128.0",
                           "-", "10.00", "102.4", "-", "2.00", "512.0", "1.60",
                           "640.0", "128.0", "200.0", "yes"]
    for title, value in (("protect s", "8.00"), ("raw write s", "1.60"),
                         ("peak RSS MiB", "200.0")):
        assert header.index(title) + len(title) == row.index(value) + len(value)


def test_a_failed_case_shows_dashes_and_its_error():
    row = report.table_row(_result(protect_seconds=None, restore_seconds=None,
                                   restore_exact=False, error="boom"))
    assert " - " in row
    assert "NO" in row and row.endswith("error: boom")


def test_json_has_the_figures_the_rates_and_rounded_floats():
    line = report.json_line(_result(protect_seconds=8.123456))
    assert "\n" not in line
    data = json.loads(line)
    for key in ("pattern", "size_bytes", "protect_seconds", "restore_seconds",
                "raw_read_seconds", "raw_write_seconds", "stored_bytes",
                "peak_rss_bytes", "restore_exact", "protect_mib_per_s"):
        assert key in data
    assert data["protect_seconds"] == 8.123
    assert data["restore_exact"] is True


def test_emit_writes_one_line_per_case():
    out = _Out()
    parent.emit(_result(), True, out)
    parent.emit(_result(), False, out)
    lines = out.text.splitlines()
    assert json.loads(lines[0])["pattern"] == "half-zeros"
    assert lines[1].startswith("half-zeros")


class _Out:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


# --- RSS and the child's output ----------------------------------------------


def test_ru_maxrss_is_kilobytes_on_linux_and_bytes_on_macos():
    assert child.rss_bytes(2048, "linux") == 2048 * 1024
    assert child.rss_bytes(2048, "darwin") == 2048


STATUS = """Name:\tpython
VmPeak:\t  600000 kB
VmHWM:\t  204800 kB
VmRSS:\t  102400 kB
"""


def test_the_peak_rss_is_read_from_vmhwm():
    assert child.parse_vmhwm(STATUS) == 200 * MiB
    assert child.parse_vmhwm("Name:\tpython\nVmRSS:\t 1 kB\n") is None


def test_the_peak_rss_of_this_process_is_plausible():
    assert 10 * MiB < child.peak_rss_bytes() < 64 * 1024 * MiB
    assert child.peak_rss_bytes() <= child.ru_maxrss_bytes()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc")
def test_the_peak_rss_is_this_programs_own_not_its_parents():
    code = ("from karbor_volume_glance.bench import child; "
            "print(child.peak_rss_bytes(), child.ru_maxrss_bytes())")
    held = bytearray(256 * MiB)
    held[::4096] = b"\1" * len(held[::4096])
    output = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True).stdout
    del held
    peak, maxrss = map(int, output.split())
    assert maxrss >= 256 * MiB > peak  # ru_maxrss carries our 256 MiB over


def test_the_result_is_the_last_line_of_the_childs_output():
    stdout = 'noise\n{"protect_seconds": 1.5}\n\n'
    assert child.parse_case_output(stdout) == {"protect_seconds": 1.5}


@pytest.mark.parametrize("stdout", ["", "\n", "[1, 2]\n", "not json\n"])
def test_output_without_a_result_is_refused(stdout):
    with pytest.raises(ValueError):
        child.parse_case_output(stdout)


def test_a_case_spec_travels_as_json():
    spec = child.CaseSpec("/c.yaml", "localcloud-admin", "file:///b", "v", "zlib",
                          2, 0.5, 60.0)
    assert child.CaseSpec.from_json(spec.to_json()) == spec
    assert parent.child_command(spec)[-2:] == ["--one-case", spec.to_json()]


def _spec(timeout=30.0):
    return child.CaseSpec("/c.yaml", "x", "file:///b", "v", "none", 1, 0.5, timeout)


def _fake_child(monkeypatch, code):
    monkeypatch.setattr(parent, "child_command",
                        lambda spec: [sys.executable, "-c", code])


def test_run_child_reads_the_childs_result(monkeypatch, tmp_path):
    _fake_child(monkeypatch, "print('{\"protect_seconds\": 2.0}')")
    assert parent.run_child(_spec(), tmp_path / "log") == {"protect_seconds": 2.0}


def test_run_child_reports_a_crash_with_its_last_words(monkeypatch, tmp_path):
    _fake_child(monkeypatch, "raise SystemExit('broken bank')")
    figures = parent.run_child(_spec(), tmp_path / "log")
    assert figures["error"] == "the case exited with 1: broken bank"
    assert "broken bank" in (tmp_path / "log").read_text()


def test_run_child_stops_a_child_that_runs_out_of_time(monkeypatch, tmp_path):
    _fake_child(monkeypatch, "import time; time.sleep(30)")
    figures = parent.run_child(_spec(timeout=0.5), tmp_path / "log")
    assert figures == {"error": "the case took more than 0.5 s"}


# --- results ------------------------------------------------------------------


def test_a_result_starts_empty_and_collects_errors():
    result = parent.empty_result(options.Case("text", 256 * MiB, "zlib", 2))
    assert result["volume_bytes"] == GiB and result["protect_seconds"] is None
    assert not parent.is_good(result)
    parent.add_error(result, "first")
    parent.add_error(result, "second")
    assert result["error"] == "first; second"
    assert parent.is_good(_result())


def test_keep_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "old").write_text("x")
    with pytest.raises(SystemExit, match="not empty"):
        parent.make_workdir(str(tmp_path))
    assert parent.make_workdir(str(tmp_path / "new")) == str(tmp_path / "new")


# --- the local cloud's banner -------------------------------------------------


def _banner():
    from karbor_volume_glance.testing.localcloud.__main__ import _banner

    stub = types.SimpleNamespace(
        url="http://127.0.0.1:4321", auth_url="http://127.0.0.1:4321/identity/v3",
        data_dir="/tmp/d",
        cloud_config=lambda project: {"auth": {"username": project}})
    return _banner(stub).splitlines()


def test_the_banner_gives_the_url_and_the_clouds():
    url, clouds = cloudproc.parse_banner(_banner())
    assert url == "http://127.0.0.1:4321"
    assert clouds["clouds"]["localcloud-admin"] == {"auth": {"username": "admin"}}


@pytest.mark.parametrize("lines", [
    [],
    ["something else"],
    ["localcloud serving at http://x:1", "Press Ctrl-C to stop."],
])
def test_a_banner_that_is_not_whole_is_refused(lines):
    with pytest.raises(cloudproc.CloudProcessError):
        cloudproc.parse_banner(lines)


def test_the_clouds_yaml_bounds_every_call(tmp_path):
    process = cloudproc.LocalCloudProcess(str(tmp_path / "d"), str(tmp_path / "log"))
    process.clouds = cloudproc.parse_banner(_banner())[1]
    path = process.write_clouds_yaml(str(tmp_path / "clouds.yaml"), 123)
    text = open(path).read()
    assert "api_timeout: 123" in text and "localcloud-admin" in text
    assert process.volume_path("v") == str(tmp_path / "d" / "volumes" / "v")


def test_the_local_cloud_command_is_runnable():
    command = cloudproc.localcloud_command()
    assert os.path.exists(command[0])


# --- measurements on files ----------------------------------------------------


@pytest.mark.parametrize("size, gib", [(1, 1), (256 * MiB, 1), (GiB, 1),
                                       (GiB + 1, 2), (4 * GiB, 4)])
def test_the_volume_is_the_size_rounded_up_to_gib(size, gib):
    assert measure.volume_gib(size) == gib


def test_stored_bytes_count_only_chunk_objects(tmp_path):
    section = measure.section_directory(str(tmp_path), "cp", "vol")
    os.makedirs(section)
    for name, size in (("data_1~obj", 100), ("data_2~obj", 50), ("metadata~obj", 7),
                       ("status~obj", 3)):
        with open(os.path.join(section, name), "wb") as stream:
            stream.write(bytes(size))
    assert section.endswith(os.path.join("objects", "checkpoints", "cp",
                                         "resource-data", "vol"))
    assert measure.stored_chunk_bytes(section) == 150
    assert measure.stored_chunk_bytes(str(tmp_path / "missing")) == 0


def test_raw_write_writes_every_byte_in_objects_and_cleans_up(tmp_path):
    source = tmp_path / "volume"
    source.write_bytes(os.urandom(300_000))
    scratch = tmp_path / "scratch"
    seconds, size = measure.raw_write(str(source), str(scratch), 65536)
    assert size == 300_000 and seconds > 0
    assert not scratch.exists()


def test_write_durably_leaves_only_the_object(tmp_path):
    measure.write_durably(str(tmp_path), "data_1", b"abc")
    assert os.listdir(tmp_path) == ["data_1"]
    assert (tmp_path / "data_1").read_bytes() == b"abc"
    assert measure.file_sha256(str(tmp_path / "data_1")) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_stream_rate_is_the_steady_rate_between_progress_reports(monkeypatch):
    from karbor_volume_glance.bench import child

    clock = iter([10.0, 11.0, 12.0])
    monkeypatch.setattr(child.time, "perf_counter", lambda: next(clock))
    rate = child.StreamRate()
    assert rate.mib_per_s() is None
    for done in (32, 64, 96):
        rate("v", done * child.MiB, 96 * child.MiB)
    assert rate.mib_per_s() == 32.0
