"""The benchmark's parts that need no cloud: options, patterns, output, RSS."""

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import subprocess
import sys
import types
import urllib.parse
import zlib

import pytest

from karbor_volume_glance import conf
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.testing import objstores
from tools.bench import (
    banks,
    child,
    cloudproc,
    incremental,
    measure,
    options,
    parent,
    report,
)
from tools.bench import patterns as pat

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
    assert options.parse_patterns("random,incremental") == ["random", "incremental"]
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


def test_defaults_are_one_gib_of_every_pattern_and_the_incremental_case():
    args = options.parse_args([])
    assert args.size == [GiB]
    assert args.pattern == ["random", "zeros", "half-zeros", "text", "incremental"]
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


def test_streams_caps_and_paths_are_case_dimensions():
    args = options.parse_args(["--pattern", "random", "--download-streams",
                               "1,default,8", "--stream-cap", "none,100",
                               "--backup-from-snapshot", "auto,true"])
    cases = options.build_cases(args, defaults=("zstd", 3))
    assert len(cases) == 3 * 2 * 2
    assert [case.stream_cap for case in cases] == [None] * 6 + [100.0] * 6
    assert [(case.backup_from_snapshot, case.download_streams)
            for case in cases[:6]] == [
        ("auto", 1), ("auto", options.DEFAULT_STREAMS), ("auto", 8),
        ("true", 1), ("true", options.DEFAULT_STREAMS), ("true", 8)]


@pytest.mark.parametrize("option, text", [
    ("--download-streams", "0"), ("--download-streams", "33"),
    ("--stream-cap", "0"), ("--stream-cap", "fast"),
    ("--backup-from-snapshot", "maybe")])
def test_bad_streams_caps_and_paths_are_usage_errors(option, text):
    with pytest.raises(SystemExit):
        options.parse_args([option, text])


def test_a_capped_cloud_is_started_with_its_cap(tmp_path):
    process = cloudproc.LocalCloudProcess(str(tmp_path), str(tmp_path / "log"),
                                          stream_cap=100.0)
    assert process.command()[-2:] == ["--stream-cap", "100.0"]
    assert "--stream-cap" not in cloudproc.LocalCloudProcess(
        str(tmp_path), str(tmp_path / "log")).command()
    assert parent.cloud_name(None) == "cloud"
    assert parent.cloud_name(100.0) == "cloud-cap-100"


def test_the_table_shows_streams_cap_and_path():
    row = report.table_row(_result(download_streams=4, stream_cap=100.0,
                                   backup_from_snapshot="auto",
                                   backup_path="temporary_snapshot"))
    assert row.split()[6:10] == ["4", "100", "auto", "snapshot"]


def test_the_child_sets_streams_and_path_only_when_asked():
    spec = child.CaseSpec("/c.yaml", "x", "file:///b", "v", "none", 1, 0.5,
                          30.0, download_streams=8, backup_from_snapshot="true")
    settings = conf.load_settings(child._config(spec))
    assert (settings.download_streams, settings.backup_from_snapshot) == (8, True)
    plain = conf.load_settings(child._config(_spec()))
    assert plain.download_streams == conf.Settings().download_streams


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
        "bank": "file", "pattern": "half-zeros", "size_bytes": 256 * MiB,
        "volume_bytes": GiB,
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
    # issue 16 added dl, cap, bfs and path after par
    assert row.split() == ["file", "half-zeros", "256M", "1G", "zstd", "4",
                           "-", "none", "-", "-", "8.00",
                           "128.0", "-", "-", "10.00", "102.4", "-", "-", "2.00",
                           "512.0", "1.60",
                           "640.0", "128.0", "-", "-", "-", "-", "200.0", "yes"]
    for title, value in (("bank", "file"), ("protect s", "8.00"),
                         ("raw write s", "1.60"), ("peak RSS MiB", "200.0")):
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
    assert lines[1].startswith("file   half-zeros")


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
    code = ("from tools.bench import child; "
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
    from tools.bench import child

    clock = iter([10.0, 11.0, 12.0])
    monkeypatch.setattr(child.time, "perf_counter", lambda: next(clock))
    rate = child.StreamRate()
    assert rate.mib_per_s() is None
    for done in (32, 64, 96):
        rate("v", done * child.MiB, 96 * child.MiB)
    assert rate.mib_per_s() == 32.0


# --- the incremental case -----------------------------------------------------


def test_incremental_is_a_case_pattern_of_random_data():
    assert incremental.NAME in options.CASE_PATTERNS
    assert options.DEFAULT_PATTERNS[-1] == incremental.NAME
    assert incremental.NAME not in pat.PATTERNS  # not a data pattern
    assert parent.data_pattern(options.Case("incremental", GiB, "zstd", 3)) == "random"
    assert parent.data_pattern(options.Case("text", GiB, "zstd", 3)) == "text"
    args = options.parse_args(["--pattern", "incremental", "--size", "1G"])
    assert options.build_cases(args, defaults=("zstd", 3)) == [
        options.Case("incremental", GiB, "zstd", 3)]


@pytest.mark.parametrize("size, count", [
    (GiB, 2622),               # 1 % is 2621.44 blocks: rounded up
    (400 * 4096, 4),           # exactly 1 %: not one more
    (100 * 4096, 1),
    (4096, 1),
    (4095, 0),                 # no whole block to change
    (0, 0),
])
def test_the_change_is_one_percent_in_whole_blocks_rounded_up(size, count):
    assert incremental.change_count(size) == count


def test_the_writes_are_distinct_aligned_4k_blocks_of_one_percent_of_the_data():
    offsets = incremental.scattered_offsets(GiB)
    assert len(offsets) == 2622
    assert offsets == sorted(set(offsets))                    # distinct, ascending
    assert all(offset % 4096 == 0 for offset in offsets)       # aligned
    assert 0 <= offsets[0] and offsets[-1] + 4096 <= GiB       # within the data
    changed = len(offsets) * 4096
    assert GiB // 100 <= changed < GiB // 100 + 4096           # 1 %, no more
    assert incremental.BLOCK == 4096 and incremental.FRACTION == 0.01


def test_the_writes_are_scattered_over_the_whole_data():
    offsets = incremental.scattered_offsets(GiB)
    chunks = {offset // (32 * MiB) for offset in offsets}
    assert len(chunks) == 32                                   # every 32 MiB chunk
    adjacent = sum(1 for a, b in itertools.pairwise(offsets) if b - a == 4096)
    assert adjacent < len(offsets) // 20                       # not runs


def test_the_writes_repeat_for_a_seed_and_differ_by_seed():
    assert incremental.scattered_offsets(GiB, seed=5) == (
        incremental.scattered_offsets(GiB, seed=5))
    assert incremental.scattered_offsets(GiB, seed=5) != (
        incremental.scattered_offsets(GiB, seed=6))
    assert incremental.scattered_offsets(GiB) == (
        incremental.scattered_offsets(GiB, seed=incremental.SEED))


def test_the_writes_stay_within_a_data_size_smaller_than_the_volume():
    offsets = incremental.scattered_offsets(256 * MiB + 100)
    assert len(offsets) == incremental.change_count(256 * MiB + 100) == 656
    assert offsets[-1] + 4096 <= 256 * MiB


def _changed_blocks(before, after, block=4096):
    return [offset for offset in range(0, len(before), block)
            if before[offset:offset + block] != after[offset:offset + block]]


def test_change_file_overwrites_exactly_the_planned_blocks(tmp_path):
    size = 4 * MiB
    before = os.urandom(size) + bytes(MiB)     # data, then a tail of zeros
    path = tmp_path / "volume"
    path.write_bytes(before)
    written = incremental.change_file(str(path), size)
    after = path.read_bytes()
    planned = incremental.scattered_offsets(size)
    assert written == len(planned) * 4096 == incremental.change_count(size) * 4096
    assert len(after) == len(before)                          # not grown, not cut
    assert _changed_blocks(before, after) == planned
    assert after[size:] == bytes(MiB)


def test_change_file_writes_the_same_bytes_for_a_seed(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for path in (first, second):
        path.write_bytes(bytes(2 * MiB))
        incremental.change_file(str(path), 2 * MiB, seed=9)
    assert first.read_bytes() == second.read_bytes() != bytes(2 * MiB)


def test_change_file_refuses_a_file_shorter_than_the_data(tmp_path):
    path = tmp_path / "volume"
    path.write_bytes(bytes(4096))
    with pytest.raises(ValueError, match="fewer than"):
        incremental.change_file(str(path), 100 * MiB)
    assert path.read_bytes() == bytes(4096)


def test_change_file_holds_only_a_block_at_a_time(tmp_path):
    import tracemalloc

    path = tmp_path / "volume"
    with open(path, "wb") as stream:            # 1 GiB, sparse
        stream.truncate(GiB)
    tracemalloc.start()
    try:
        written = incremental.change_file(str(path), GiB)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == 2622 * 4096
    assert peak < MiB
    assert os.path.getsize(path) == GiB


def _manifest():
    def record(index, **extra):
        return {"index": index, "offset": index * 32 * MiB, "length": 32 * MiB,
                "sha256": "0" * 64, **extra}

    return {
        "incremental": True, "parent_checkpoint_id": "cp-full", "full_reason": None,
        "chunks": [
            record(0, zero=True),
            record(1, object="data_1", stored_size=32 * MiB, compression="none",
                   source="cp-full"),                          # referenced
            record(2, object="data_2", stored_size=300_000, compression="none",
                   delta_size=300_000, base={"source": "cp-full"}),  # a delta
            record(3, object="data_3", stored_size=32 * MiB, compression="none"),
            record(4, object="data_4", stored_size=1000, compression="zstd",
                   source="cp-older", delta_size=1000,
                   base={"source": "cp-older"}),               # another's delta
        ],
    }


def test_the_backup_summary_counts_only_what_the_backup_stored_itself():
    assert incremental.backup_summary(_manifest()) == {
        "incremental": True, "parent_checkpoint_id": "cp-full",
        "full_reason": None, "stored_bytes": 300_000 + 32 * MiB, "chunks": 5,
        "zero_chunks": 1, "referenced_chunks": 2, "delta_chunks": 1,
    }


def test_the_backup_summary_of_a_full_backup_says_why():
    summary = incremental.backup_summary(
        {"incremental": False, "parent_checkpoint_id": None,
         "full_reason": "no available backup", "chunks": _manifest()["chunks"][3:4]})
    assert summary["incremental"] is False
    assert summary["full_reason"] == "no available backup"
    assert summary["stored_bytes"] == 32 * MiB


def test_the_incremental_child_protects_with_incremental_and_may_skip_restore():
    spec = child.CaseSpec("/c.yaml", "x", "file:///b", "v", "none", 1, 0.5, 60.0,
                          incremental=True, restore=False)
    assert child.CaseSpec.from_json(spec.to_json()) == spec
    assert child.protect_options(spec) == {"backup_name": "bench-incremental",
                                           "incremental": True}
    assert child.protect_options(_spec()) == {"backup_name": "bench"}
    assert _spec().restore and not _spec().incremental


def _incremental_result(**changes):
    result = _result(pattern="incremental", size_bytes=GiB, protect_seconds=16.0,
                     stored_bytes=GiB, changed_bytes=2622 * 4096,
                     incremental_seconds=20.0, incremental_stored_bytes=11 * MiB)
    result.update(changes)
    return result


def test_the_incremental_ratios_are_of_the_data_size_and_the_full_protect():
    rated = report.with_rates(_incremental_result())
    assert rated["incremental_stored_ratio"] == 11 / 1024
    assert rated["incremental_vs_full"] == 1.25
    assert rated["incremental_mib_per_s"] == 1024 / 20
    other = report.with_rates(_result())
    assert other["incremental_stored_ratio"] is other["incremental_vs_full"] is None
    assert report.with_rates(_incremental_result(protect_seconds=None))[
        "incremental_vs_full"] is None


def test_an_incremental_row_shows_its_time_ratio_bytes_and_share():
    header = report.table_header()
    row = report.table_row(_incremental_result())
    cells = row.split()
    assert cells[:2] == ["file", "incremental"]
    # issue 16 added four columns (dl, cap, bfs, path) before these, issue
    # 15 two (protect's and restore's cpu s)
    assert cells[22:27] == ["1024.0", "20.00", "1.25", "11.0", "1.07"]
    for title, value in (("incr s", "20.00"), ("x full", "1.25"),
                         ("incr MiB", "11.0"), ("incr %", "1.07")):
        assert header.index(title) + len(title) == row.index(value) + len(value)


def test_incremental_figures_are_in_the_json():
    data = json.loads(report.json_line(_incremental_result()))
    for key in ("incremental_seconds", "incremental_stored_bytes",
                "incremental_stored_ratio", "incremental_vs_full",
                "changed_bytes", "protect_seconds", "restore_seconds",
                "stored_bytes", "restore_exact"):
        assert key in data
    assert data["incremental_stored_ratio"] == 0.010742   # 6 decimals, not 3
    assert data["incremental_vs_full"] == 1.25
    empty = json.loads(report.json_line(parent.empty_result(
        options.Case("random", GiB, "zstd", 3))))
    assert empty["incremental_seconds"] is None and "incremental_vs_full" in empty


def _backup(**changes):
    backup = {"incremental": True, "parent_checkpoint_id": "cp-full",
              "full_reason": None, "stored_bytes": 11 * MiB, "chunks": 32,
              "zero_chunks": 0, "referenced_chunks": 0, "delta_chunks": 32}
    backup.update(changes)
    return backup


def _take(second_changes=None, backup=None):
    result = parent.empty_result(options.Case("incremental", GiB, "zstd", 3))
    full = {"checkpoint_id": "cp-full", "protect_seconds": 16.0,
            "protect_stream_mib_per_s": 200.0, "peak_rss_bytes": 260 * MiB,
            "rss_before_bytes": 60 * MiB, "ru_maxrss_bytes": 270 * MiB,
            "error": None}
    second = {"checkpoint_id": "cp-incr", "protect_seconds": 20.0,
              "protect_stream_mib_per_s": 150.0, "restore_seconds": 12.0,
              "restore_stream_mib_per_s": 190.0, "peak_rss_bytes": 300 * MiB,
              "rss_before_bytes": 61 * MiB, "ru_maxrss_bytes": 250 * MiB,
              "new_volume_id": "new", "error": None,
              "backup": _backup(**(backup or {}))}
    second.update(second_changes or {})
    parent.take_incremental(result, full, second, "cp-full")
    return result


def test_an_incremental_result_takes_the_full_protect_and_the_second_restore():
    result = _take()
    assert result["protect_seconds"] == 16.0
    assert result["protect_stream_mib_per_s"] == 200.0
    assert result["incremental_seconds"] == 20.0
    assert result["incremental_stream_mib_per_s"] == 150.0
    assert result["restore_seconds"] == 12.0
    assert result["restore_stream_mib_per_s"] == 190.0
    assert result["incremental_stored_bytes"] == 11 * MiB
    assert result["incremental_delta_chunks"] == 32
    assert result["peak_rss_bytes"] == 300 * MiB           # the higher of the two
    assert result["ru_maxrss_bytes"] == 270 * MiB
    assert result["rss_before_bytes"] == 60 * MiB
    assert result["error"] is None


def test_a_second_backup_that_is_not_incremental_on_the_full_one_is_an_error():
    result = _take(backup={"incremental": False, "parent_checkpoint_id": None,
                           "full_reason": "the volume grew"})
    assert result["error"] == ("the second protect made a full backup: "
                               "the volume grew")
    assert result["incremental_full_reason"] == "the volume grew"
    assert "not the full backup" in _take(
        backup={"parent_checkpoint_id": "cp-other"})["error"]


def test_a_failed_second_protect_is_the_cases_error():
    result = _take({"error": "boom", "backup": None, "restore_seconds": None})
    assert result["error"] == "boom"
    assert result["incremental_stored_bytes"] is None
    assert result["protect_seconds"] == 16.0


def _fake_bench(tmp_path, sites=None):
    bench = parent.Bench.__new__(parent.Bench)  # no cloud, no clients
    bench.args = options.parse_args([])
    bench.workdir = str(tmp_path)
    bench.sites = sites or {"file": banks.FileSite(str(tmp_path))}
    bench.clouds_yaml = "/c.yaml"
    bench.cases_run = 1
    return bench


def _file_place(tmp_path):
    return banks.FileSite(str(tmp_path)).place(1)


def test_the_incremental_case_changes_the_volume_between_its_children(
        monkeypatch, tmp_path):
    volume = tmp_path / "volume"
    volume.write_bytes(os.urandom(2 * MiB))
    seen = []

    def run_child(spec, log_path, env=None):
        seen.append((spec, measure.file_sha256(str(volume)), log_path))
        if not spec.incremental:
            return {"checkpoint_id": "cp-full", "protect_seconds": 16.0,
                    "error": None}
        return {"checkpoint_id": "cp-incr", "protect_seconds": 20.0,
                "restore_seconds": 12.0, "new_volume_id": "new", "error": None,
                "backup": _backup()}

    monkeypatch.setattr(parent, "run_child", run_child)
    case = options.Case("incremental", 2 * MiB, "zstd", 3)
    result, checkpoints = parent.empty_result(case), []
    second = _fake_bench(tmp_path)._protect_twice(
        case, _file_place(tmp_path), result, checkpoints, "vol", str(volume))
    (full_spec, before, full_log), (incr_spec, after, incr_log) = seen
    assert not full_spec.incremental and not full_spec.restore
    assert incr_spec.incremental and incr_spec.restore
    assert before != after                     # changed in between
    assert full_log != incr_log
    assert checkpoints == ["cp-full", "cp-incr"]
    assert second["new_volume_id"] == "new"
    assert result["changed_bytes"] == incremental.change_count(2 * MiB) * 4096
    assert result["incremental_seconds"] == 20.0 and result["error"] is None


def test_a_failed_full_protect_leaves_the_volume_unchanged(monkeypatch, tmp_path):
    volume = tmp_path / "volume"
    volume.write_bytes(bytes(MiB))
    calls = []
    monkeypatch.setattr(parent, "run_child", lambda spec, log, env: calls.append(
        spec) or {"checkpoint_id": "cp-full", "error": "no snapshot"})
    case = options.Case("incremental", MiB, "zstd", 3)
    result, checkpoints = parent.empty_result(case), []
    assert _fake_bench(tmp_path)._protect_twice(
        case, _file_place(tmp_path), result, checkpoints, "vol",
        str(volume)) == {}
    assert len(calls) == 1 and checkpoints == ["cp-full"]
    assert result["error"] == "no snapshot" and result["changed_bytes"] is None
    assert volume.read_bytes() == bytes(MiB)


def test_a_cases_checkpoints_are_deleted_newest_first(monkeypatch, tmp_path):
    deleted = []

    class Runner:
        def __init__(self, place):
            assert place is bench_place

        def delete(self, checkpoint_id):
            deleted.append(checkpoint_id)
            return types.SimpleNamespace(ok=True)

    bench = _fake_bench(tmp_path)
    bench.cloud = None
    bench_place = types.SimpleNamespace(remove=lambda: deleted.append("place"))
    monkeypatch.setattr(bench, "_runner", Runner, raising=False)
    monkeypatch.setattr(parent, "sweep", lambda cloud: deleted.append("sweep"))
    result = parent.empty_result(options.Case("incremental", GiB, "zstd", 3))
    bench._remove(bench_place, ["cp-full", None, "cp-incr"], result)
    assert deleted == ["cp-incr", "cp-full", "place", "sweep"]
    assert result["error"] is None


# --- banks: the option, the cases, the report ---------------------------------


def test_the_bank_is_file_unless_told():
    assert options.parse_args([]).bank == ["file"]
    assert options.parse_args(["--bank", "file,s3,swift"]).bank == [
        "file", "s3", "swift"]
    assert options.parse_banks("swift, s3,swift") == ["swift", "s3"]
    assert options.Case("zeros", GiB, "zstd", 3).bank == "file"


@pytest.mark.parametrize("text", ["nfs", "s3,,swift", "", "S3"])
def test_an_unknown_bank_is_a_usage_error(text):
    with pytest.raises(argparse.ArgumentTypeError):
        options.parse_banks(text)


def test_an_unknown_bank_on_the_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        options.parse_args(["--bank", "file,ceph"])
    assert exit_info.value.code == 2
    assert "unknown bank ceph" in capsys.readouterr().err


def test_cases_are_every_bank_by_parallelism_by_size_by_pattern_bank_by_bank():
    args = options.parse_args(["--bank", "file,s3,swift", "--parallelism", "1,4,8",
                               "--size", "256M,1G", "--pattern", "random,zeros",
                               "--compression", "none"])
    cases = options.build_cases(args, defaults=("zstd", 3))
    assert len(cases) == 3 * 3 * 2 * 2
    assert len(set(cases)) == len(cases)
    assert [case.bank for case in cases] == (
        ["file"] * 12 + ["s3"] * 12 + ["swift"] * 12)
    assert cases[:4] == [options.Case("random", 256 * MiB, "none", par, "file")
                         for par in (1, 4, 8)] + [
        options.Case("zeros", 256 * MiB, "none", 1, "file")]
    assert cases[-1] == options.Case("zeros", GiB, "none", 8, "swift")
    assert {(case.bank, case.parallelism, case.size, case.pattern)
            for case in cases} == set(itertools.product(
                ("file", "s3", "swift"), (1, 4, 8), (256 * MiB, GiB),
                ("random", "zeros")))


def test_the_benchmarks_own_command_is_file_cases_only():
    cases = options.build_cases(options.parse_args(
        ["--size", "256M", "--pattern", "random", "--parallelism", "1,4,8"]),
        defaults=("zstd", 3))
    assert [(case.bank, case.parallelism) for case in cases] == [
        ("file", 1), ("file", 4), ("file", 8)]
    assert banks.banks_of(cases) == ["file"]


def test_the_banks_of_the_cases_are_in_a_fixed_order():
    cases = [options.Case("random", GiB, "none", 1, bank)
             for bank in ("swift", "file", "swift", "s3")]
    assert banks.banks_of(cases) == ["file", "s3", "swift"]


def test_a_result_names_its_bank_first_in_the_table_and_in_the_json():
    result = parent.empty_result(options.Case("random", GiB, "zstd", 4, "swift"))
    assert result["bank"] == "swift" and report.FIGURES[0] == "bank"
    header = report.table_header()
    assert header.split()[:2] == ["bank", "pattern"]
    row = report.table_row(_result(bank="swift"))
    assert row.split()[:2] == ["swift", "half-zeros"]
    assert header.index("pattern") == row.index("half-zeros")
    assert json.loads(report.json_line(_result(bank="s3")))["bank"] == "s3"


def test_notes_go_before_the_table_or_beside_the_json():
    out, err = _Out(), _Out()
    parent.emit_notes(["s3: here"], False, out, err)
    assert out.text == "# s3: here\n" and err.text == ""
    out, err = _Out(), _Out()
    parent.emit_notes(["s3: here"], True, out, err)
    assert out.text == "" and err.text == "# s3: here\n"
    parent.emit_notes([], False, out, err)
    assert out.text == ""


def test_the_notes_say_what_each_raw_write_measured():
    sites = {"file": types.SimpleNamespace(notes=lambda: ["file: f"]),
             "s3": types.SimpleNamespace(notes=lambda: ["s3: s"])}
    lines = banks.notes(sites)
    assert lines[:2] == ["file: f", "s3: s"]
    assert any(line.startswith("raw read:") for line in lines)
    assert f"raw write (file): {banks.RAW_WRITE_NOTES['file']}" in lines
    assert f"raw write (s3): {banks.RAW_WRITE_NOTES['s3']}" in lines
    assert not any("swift" in line for line in lines)


# --- banks: places -------------------------------------------------------------


def test_a_file_place_is_the_runs_one_bank(tmp_path):
    site = banks.FileSite(str(tmp_path))
    first, second = site.place(1), site.place(2)
    assert first.url == second.url == f"file://{tmp_path}/bank"
    assert first.env is None                  # the child inherits ours
    section = measure.section_directory(first.path, "cp", "vol")
    os.makedirs(section)
    (tmp_path / "bank" / "objects" / "checkpoints" / "cp" / "resource-data" / "vol"
     / "data_1~obj").write_bytes(bytes(10))
    assert first.stored_bytes("cp", "vol") == 10
    first.remove()
    assert os.path.exists(section)            # the checkpoints are deleted instead


def test_chunk_bytes_count_only_data_objects():
    assert banks.chunk_bytes([("bench/checkpoints/c/resource-data/v/data_1", 100),
                              ("bench/checkpoints/c/resource-data/v/data_2", 50),
                              ("bench/checkpoints/c/resource-data/v/metadata", 7),
                              ("bench/checkpoints/c/resource-data/v/status", 3)]
                             ) == 150
    assert banks.section_prefix("c", "v") == "checkpoints/c/resource-data/v/"


def test_each_case_gets_a_fresh_bucket_or_container_name():
    names = {banks.place_name(3) for _ in range(20)}
    assert len(names) == 20
    assert all(name.startswith("kvg-bench-3-") and len(name) <= 63
               for name in names)


def test_the_s3_childs_environment_holds_only_our_credentials():
    base = {"PATH": "/bin", "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "t",
            "aws_endpoint_url": "http://elsewhere", "AWS_CA_BUNDLE": "/x"}
    env = banks.aws_environment(base, "ak", "sk", "us-east-1")
    assert env == {"PATH": "/bin", "AWS_ACCESS_KEY_ID": "ak",
                   "AWS_SECRET_ACCESS_KEY": "sk", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_CONFIG_FILE": os.devnull,
                   "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    assert base["AWS_PROFILE"] == "prod"      # not changed


def test_the_swift_childs_environment_has_the_key():
    env = banks.swift_environment({"PATH": "/bin"}, "k")
    assert env == {"PATH": "/bin", "KVG_SWIFT_KEY": "k"}


class _FakeS3:
    """Enough of a boto3 S3 client for the places: objects in a dict."""

    def __init__(self):
        self.buckets, self.calls = {}, []

    def create_bucket(self, Bucket):
        self.buckets[Bucket] = {}

    def put_object(self, Bucket, Key, Body, ContentMD5):
        assert ContentMD5 == banks.content_md5(Body)
        self.calls.append(("put", Key, len(Body)))
        self.buckets[Bucket][Key] = len(Body)

    def delete_object(self, Bucket, Key):
        self.calls.append(("delete", Key))
        del self.buckets[Bucket][Key]

    def delete_bucket(self, Bucket):
        assert not self.buckets[Bucket]
        del self.buckets[Bucket]

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        client = self

        class Paginator:
            def paginate(self, Bucket, Prefix=""):
                names = sorted(key for key in client.buckets[Bucket]
                               if key.startswith(Prefix))
                for start in range(0, max(len(names), 1), 2):  # pages of 2
                    page = names[start:start + 2]
                    yield {"Contents": [{"Key": key,
                                         "Size": client.buckets[Bucket][key]}
                                        for key in page]} if page else {}
        return Paginator()


def _s3_site(client):
    server = types.SimpleNamespace(endpoint_url="http://127.0.0.1:8333",
                                   name="SeaweedFS", data_directory="/d",
                                   version=lambda: "4.48")
    return banks.S3Site(server, client=client, environ={"PATH": "/bin"})


def test_an_s3_place_is_a_new_bucket_the_childs_url_opens(monkeypatch):
    from karbor_volume_glance.bank.s3 import S3Backend

    client = _FakeS3()
    place = _s3_site(client).place(2)
    assert list(client.buckets) == [place.bucket]
    assert place.url == (f"s3://{place.bucket}/bench?endpoint=http://127.0.0.1:8333"
                         "&region=us-east-1")
    for name, value in place.env.items():
        monkeypatch.setenv(name, value)
    backend = S3Backend.from_url(urllib.parse.urlsplit(place.url))  # no request
    assert (backend.bucket, backend.prefix) == (place.bucket, "bench/")
    assert backend.describe()[1] == (f"s3://{place.bucket}/bench?endpoint="
                                     "http%3A%2F%2F127.0.0.1%3A8333&region=us-east-1")
    assert place.env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert place.open_bank().backend.client is client


def test_an_s3_place_counts_the_chunks_of_one_section(tmp_path):
    client = _FakeS3()
    place = _s3_site(client).place(1)
    objects = client.buckets[place.bucket]
    section = "bench/checkpoints/cp/resource-data/vol/"
    objects.update({section + "data_1": 100, section + "data_2": 60,
                    section + "data_3": 5, section + "metadata": 9,
                    "bench/checkpoints/cp/resource-data/other/data_1": 1000,
                    "bench/checkpoints/cp2/resource-data/vol/data_1": 1000})
    assert place.stored_bytes("cp", "vol") == 165


def test_the_s3_raw_write_puts_each_object_once_and_removes_them(tmp_path):
    client = _FakeS3()
    place = _s3_site(client).place(1)
    source = tmp_path / "volume"
    source.write_bytes(os.urandom(250_000))
    seconds, size = place.raw_write(str(source), str(tmp_path / "scratch"), 100_000)
    assert size == 250_000 and seconds > 0
    assert [call for call in client.calls if call[0] == "put"] == [
        ("put", "raw-write/data_1", 100_000), ("put", "raw-write/data_2", 100_000),
        ("put", "raw-write/data_3", 50_000)]
    assert client.buckets[place.bucket] == {}
    assert not (tmp_path / "scratch").exists()


def test_removing_an_s3_place_empties_and_deletes_its_bucket():
    client = _FakeS3()
    site = _s3_site(client)
    place, other = site.place(1), site.place(2)
    client.buckets[place.bucket].update({f"bench/k{index}": 1 for index in range(5)})
    place.remove()
    assert list(client.buckets) == [other.bucket]


class _FakeSwift:
    """Enough of a swiftclient Connection for the places."""

    def __init__(self):
        from swiftclient.exceptions import ClientException

        self.missing = ClientException
        self.containers, self.calls = {}, []

    def _container(self, name):
        if name not in self.containers:
            raise self.missing("not found", http_status=404)
        return self.containers[name]

    def put_container(self, name):
        self.containers.setdefault(name, {})

    def delete_container(self, name):
        assert not self._container(name)
        del self.containers[name]

    def get_container(self, name, prefix=None, full_listing=False):
        assert full_listing
        objects = self._container(name)
        return {}, [{"name": key, "bytes": objects[key]} for key in sorted(objects)
                    if key.startswith(prefix or "")]

    def put_object(self, container, name, contents, content_length, etag,
                   content_type):
        data = contents.read()
        assert len(data) == content_length and etag == banks._md5_hex(data)
        self.calls.append(("put", name, content_length))
        self._container(container)[name] = content_length

    def delete_object(self, container, name):
        del self._container(container)[name]


def _swift_site(connection):
    server = types.SimpleNamespace(auth_url="http://127.0.0.1:8080/auth/v1.0",
                                   name="Swift", version=lambda: "2.38.3",
                                   devices_note="devices in /d (ext4)")
    return banks.SwiftSite(server, connection=connection,
                           environ={"PATH": "/bin"})


def test_a_swift_place_is_a_new_container_the_childs_url_opens(monkeypatch):
    from karbor_volume_glance.bank.swift import SwiftBackend

    connection = _FakeSwift()
    place = _swift_site(connection).place(4)
    assert sorted(connection.containers) == [place.container,
                                             place.container + "_segments"]
    assert place.url == (f"swift://{place.container}/bench?auth_url=http://"
                         "127.0.0.1:8080/auth/v1.0&user=test:tester"
                         "&create_container=false")
    assert place.env == {"PATH": "/bin", "KVG_SWIFT_KEY": objstores.SWIFT_KEY}
    monkeypatch.setenv("KVG_SWIFT_KEY", place.env["KVG_SWIFT_KEY"])
    backend = SwiftBackend.from_url(urllib.parse.urlsplit(place.url))  # no request
    assert (backend.container, backend.prefix) == (place.container, "bench/")
    assert objstores.SWIFT_KEY not in repr(backend)


def test_a_swift_place_counts_chunks_writes_raw_and_is_removed(tmp_path):
    connection = _FakeSwift()
    place = _swift_site(connection).place(1)
    objects = connection.containers[place.container]
    section = "bench/checkpoints/cp/resource-data/vol/"
    objects.update({section + "data_1": 70, section + "data_2": 30,
                    section + "metadata": 9, "bench/other": 500})
    assert place.stored_bytes("cp", "vol") == 100
    source = tmp_path / "volume"
    source.write_bytes(os.urandom(150_000))
    seconds, size = place.raw_write(str(source), str(tmp_path / "s"), 100_000)
    assert size == 150_000 and seconds > 0
    assert connection.calls == [("put", "raw-write/data_1", 100_000),
                                ("put", "raw-write/data_2", 50_000)]
    assert not any(name.startswith("raw-write/") for name in objects)
    del connection.containers[place.segment_container]   # never made: no error
    place.remove()
    assert connection.containers == {}


# --- banks: the servers, without starting them ---------------------------------


def _services(tmp_path, monkeypatch, weed=True, swift=True):
    root = tmp_path / "services"
    if weed:
        binary = root / "seaweedfs-venv" / "bin" / "weed"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    if swift:
        proxy = root / "swift-venv" / "bin" / "swift-proxy-server"
        proxy.parent.mkdir(parents=True)
        proxy.write_text("")
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("KVG_TEST_SERVICES", str(root))
    return root


def test_missing_servers_are_named_for_the_banks_that_need_them(tmp_path,
                                                                 monkeypatch):
    _services(tmp_path, monkeypatch, weed=False, swift=False)
    monkeypatch.setattr(objstores.swift, "memcached_binary",
                        lambda: "/usr/bin/memcached")
    assert objstores.missing_services(["file"]) == []
    missing = objstores.missing_services(["file", "s3", "swift"])
    assert len(missing) == 2
    assert "SeaweedFS is not installed" in missing[0]
    assert "Swift is not installed" in missing[1]
    assert all("tools/install-test-services" in message for message in missing)


def test_installed_servers_are_found(tmp_path, monkeypatch):
    root = _services(tmp_path, monkeypatch)
    monkeypatch.setattr(objstores.swift, "memcached_binary",
                        lambda: "/usr/bin/memcached")
    assert objstores.missing_services(["s3", "swift"]) == []
    assert objstores.weed_binary() == root / "seaweedfs-venv" / "bin" / "weed"


def test_the_run_refuses_before_starting_anything_when_a_server_is_missing(
        monkeypatch, tmp_path):
    monkeypatch.setattr(objstores, "missing_services",
                        lambda names: [f"no {name}" for name in names
                                       if name != "file"])
    monkeypatch.setattr(parent, "make_workdir", lambda keep: pytest.fail("made"))
    args = options.parse_args(["--bank", "file,swift", "--pattern", "zeros"])
    with pytest.raises(SystemExit, match="no swift"):
        parent.main(args, out=_Out(), err=_Out())


def test_seaweedfs_binds_loopback_without_telemetry(tmp_path, monkeypatch):
    _services(tmp_path, monkeypatch)
    ports = {name: 20000 + index
             for index, name in enumerate(objstores.SeaweedFS.PORTS)}
    server = objstores.SeaweedFS(tmp_path / "weed", ports=ports)
    (tmp_path / "weed").mkdir()
    command = server.command()
    assert command[1] == "mini"
    for flag in ("-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                 "-s3.autoCreateBucket=false", "-webdav=false",
                 "-s3.port.iceberg=0", "-s3.port.lance=0",
                 f"-s3.port={ports['s3.port']}",
                 f"-master.port.grpc={ports['master.port.grpc']}"):
        assert flag in command
    assert len([word for word in command if ".port" in word]) == len(ports) + 2
    assert server.endpoint_url == f"http://127.0.0.1:{ports['s3.port']}"
    identities = json.loads((tmp_path / "weed" / "s3.json").read_text())
    (identity,) = identities["identities"]
    assert identity["credentials"] == [{"accessKey": objstores.ACCESS_KEY,
                                        "secretKey": objstores.SECRET_KEY}]


def test_the_weed_version_is_read_from_its_output():
    weed_version = objstores.seaweedfs.weed_version
    assert weed_version("version 8000GB 4.48 pypi linux amd64") == "4.48"
    assert weed_version("") == "?"


def _swift_ports():
    return {"proxy": 30000, "memcached": 30001, "account": 30002,
            "container": 30003, "object": 30004}


def test_swift_binds_loopback_with_tempauth_and_its_own_memcached(tmp_path):
    server = objstores.SwiftServer(tmp_path / "swift", ports=_swift_ports())
    server.devices = tmp_path / "swift" / "devices"
    server.write_configuration()
    etc = tmp_path / "swift" / "etc"
    for name, port in (("proxy", 30000), ("account", 30002), ("container", 30003),
                       ("object", 30004)):
        text = (etc / f"{name}-server.conf").read_text()
        assert "bind_ip = 127.0.0.1\n" in text and f"bind_port = {port}\n" in text
        assert f"devices = {server.devices}\n" in text
    proxy = (etc / "proxy-server.conf").read_text()
    assert "memcache_servers = 127.0.0.1:30001\n" in proxy
    assert f"user_test_tester = {objstores.SWIFT_KEY} .admin\n" in proxy
    assert (server.devices / "d1").is_dir()
    assert server.auth_url == "http://127.0.0.1:30000/auth/v1.0"


def test_swift_keeps_its_devices_on_the_work_directorys_disk_if_it_can(
        tmp_path, monkeypatch):
    server = objstores.SwiftServer(tmp_path / "swift", ports=_swift_ports())
    monkeypatch.setattr(objstores.swift, "has_xattr_room",
                        lambda directory, room: True)
    assert server.choose_devices() == tmp_path / "swift" / "devices"
    monkeypatch.setattr(objstores.swift, "has_xattr_room",
                        lambda directory, room: False)
    with pytest.raises(objstores.ServiceError, match="extended attributes"):
        server.choose_devices()


def test_the_xattr_probe_leaves_nothing_behind(tmp_path):
    assert objstores.swift.has_xattr_room(tmp_path, 0) is True
    objstores.swift.has_xattr_room(tmp_path, objstores.swift.XATTR_ROOM)
    assert list(tmp_path.iterdir()) == []


MOUNTS = """/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw 0 0
/dev/vdb /srv/my\\040data xfs rw 0 0
"""


@pytest.mark.parametrize("path, kind", [
    ("/tmp/kvg-bench-x/bank", "ext4"), ("/dev/shm/kvg", "tmpfs"), ("/dev/shm", "tmpfs"),
    ("/dev/shmx", "ext4"), ("/srv/my data/bank", "xfs"),
])
def test_the_filesystem_of_a_path_is_its_longest_mount(path, kind):
    assert objstores.filesystem_type(path, MOUNTS) == kind


def test_only_the_file_bank_starts_no_server(tmp_path):
    import contextlib

    with contextlib.ExitStack() as stack:
        sites = banks.start_sites(["file"], str(tmp_path), stack)
    assert list(sites) == ["file"]
    assert sites["file"].url == f"file://{tmp_path}/bank"


def test_the_parent_never_asks_for_instance_metadata(monkeypatch):
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    with banks.no_instance_metadata():
        assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert "AWS_EC2_METADATA_DISABLED" not in os.environ
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    with banks.no_instance_metadata():
        assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "false"


# --- banks: a case end to end, without a cloud ---------------------------------


def test_run_child_gives_the_child_its_environment(monkeypatch, tmp_path):
    _fake_child(monkeypatch, "import json, os; "
                "print(json.dumps({'key': os.environ.get('KVG_SWIFT_KEY')}))")
    env = {**os.environ, "KVG_SWIFT_KEY": "sekrit"}
    assert parent.run_child(_spec(), tmp_path / "log", env) == {"key": "sekrit"}
    assert parent.run_child(_spec(), tmp_path / "log")["key"] == os.environ.get(
        "KVG_SWIFT_KEY")


class _Place:
    url = "s3://bucket/bench?endpoint=http://127.0.0.1:1&region=us-east-1"
    env = {"AWS_ACCESS_KEY_ID": "ak"}

    def __init__(self, log):
        self.log = log

    def stored_bytes(self, checkpoint_id, volume_id):
        self.log.append(("stored", checkpoint_id, volume_id))
        return 123

    def raw_write(self, source_path, scratch, object_size):
        self.log.append(("raw_write", object_size))
        return 2.0, os.path.getsize(source_path)

    def remove(self):
        self.log.append("remove")


def _case_bench(monkeypatch, tmp_path, log, place_error=None):
    volume = tmp_path / "cloud" / "vol"
    volume.parent.mkdir()
    volume.write_bytes(b"v" * 4096)

    def place(number):
        log.append(("place", number))
        if place_error:
            raise place_error
        return _Place(log)

    def run_child(spec, log_path, env):
        log.append(("child", spec.bank_url, env))
        return {"checkpoint_id": "cp", "protect_seconds": 1.0,
                "restore_seconds": 1.0, "new_volume_id": "vol", "error": None}

    bench = _fake_bench(tmp_path, {"s3": types.SimpleNamespace(place=place)})
    bench.cloud = None
    bench.settings = types.SimpleNamespace(backup_image_object_size=32 * MiB)
    bench.cloud_process = types.SimpleNamespace(
        volume_path=lambda volume_id: str(tmp_path / "cloud" / volume_id))
    bench.cases_run = 0
    monkeypatch.setattr(measure, "create_source_volume",
                        lambda cloud, pattern, size, name: "vol")
    monkeypatch.setattr(measure, "raw_read", lambda cloud, volume_id: (1.0, 4096))
    monkeypatch.setattr(parent, "run_child", run_child)
    monkeypatch.setattr(parent, "sweep", lambda cloud: log.append("sweep"))
    monkeypatch.setattr(bench, "_delete_checkpoints",
                        lambda place, ids: log.append(("delete", ids)),
                        raising=False)
    return bench


def test_a_case_runs_in_its_own_place_of_its_bank(monkeypatch, tmp_path):
    log = []
    bench = _case_bench(monkeypatch, tmp_path, log)
    result = bench.run(options.Case("random", 4096, "none", 4, "s3"))
    assert result["error"] is None and result["restore_exact"] is True
    assert result["bank"] == "s3" and result["parallelism"] == 4
    assert result["stored_bytes"] == 123 and result["raw_write_seconds"] == 2.0
    assert log == [("place", 1), ("child", _Place.url, _Place.env),
                   ("stored", "cp", "vol"), ("raw_write", 32 * MiB),
                   ("delete", ["cp"]), "remove", "sweep"]


def test_a_place_that_cannot_be_made_is_the_cases_error(monkeypatch, tmp_path):
    log = []
    bench = _case_bench(monkeypatch, tmp_path, log,
                        place_error=RuntimeError("no bucket"))
    result = bench.run(options.Case("random", 4096, "none", 1, "s3"))
    assert result["error"] == "RuntimeError: no bucket"
    assert not parent.is_good(result)
    assert log == [("place", 1), ("delete", []), "sweep"]


def test_a_failed_cleanup_still_removes_the_place_and_sweeps(monkeypatch, tmp_path):
    log = []
    bench = _case_bench(monkeypatch, tmp_path, log)

    def fail(place, ids):
        raise RuntimeError("bank down")

    monkeypatch.setattr(bench, "_delete_checkpoints", fail, raising=False)
    result = bench.run(options.Case("random", 4096, "none", 1, "s3"))
    assert result["error"] == "cleanup failed: RuntimeError: bank down"
    assert log[-2:] == ["remove", "sweep"]


def test_keep_leaves_the_place_and_the_checkpoints(monkeypatch, tmp_path):
    log = []
    bench = _case_bench(monkeypatch, tmp_path, log)
    bench.args = options.parse_args(["--keep", str(tmp_path / "kept")])
    bench.run(options.Case("random", 4096, "none", 1, "s3"))
    assert "remove" not in log and "sweep" not in log


def test_encrypt_runs_cases_encrypted_or_each_plain_then_encrypted():
    plain = options.build_cases(options.parse_args(["--pattern", "zeros"]),
                                defaults=("zstd", 4))
    assert [case.encrypt for case in plain] == [False]
    on = options.build_cases(options.parse_args(["--pattern", "zeros",
                                                 "--encrypt"]),
                             defaults=("zstd", 4))
    assert on == [options.Case("zeros", GiB, "zstd", 4, encrypt=True)]
    both = options.build_cases(
        options.parse_args(["--pattern", "zeros,text", "--encrypt", "off,on"]),
        defaults=("zstd", 4))
    assert [(case.pattern, case.encrypt) for case in both] == [
        ("zeros", False), ("zeros", True), ("text", False), ("text", True)]
    with pytest.raises(SystemExit):
        options.parse_args(["--encrypt", "maybe"])


def test_an_encrypted_case_shows_in_the_table_and_the_json():
    row = report.table_row(_result(encrypt=True))
    assert "zstd+enc" in row.split()
    assert json.loads(report.json_line(_result(encrypt=True)))["encrypt"] is True


def test_an_encrypted_case_reads_its_key_from_a_file_not_the_command_line(
        tmp_path):
    key = MasterKey.generate()
    path = tmp_path / "key"
    path.write_bytes(key.material)
    spec = dataclasses.replace(_spec(), key_file=str(path))
    assert child.master_key(spec) == key
    assert key.material.hex() not in " ".join(parent.child_command(spec))
    assert child.master_key(_spec()) is None


def test_a_timed_call_reports_its_wall_and_cpu_seconds():
    result, wall, cpu = child._timed(
        lambda: hashlib.sha256(bytes(64 * MiB)).hexdigest())
    assert result == hashlib.sha256(bytes(64 * MiB)).hexdigest()
    assert wall > 0 and cpu > 0


def test_an_incremental_result_takes_the_cpu_seconds_of_each_protect():
    result = _take({"protect_cpu_seconds": 3.5, "restore_cpu_seconds": 2.5})
    assert result["incremental_cpu_seconds"] == 3.5
    assert result["restore_cpu_seconds"] == 2.5
    assert "cpu s" in report.table_header()
