"""The distributed benchmark's own parts: its defaults and how it reads the
conductors' logs (the run itself needs Redis: ``python -m
tools.bench.distributed``)."""

from tools.bench import distributed

PREFIX = "INFO karbor_volume_glance.plans.jobboard [-]"


def line(stamp, pid, text):
    return f"2026-11-29 {stamp} {pid} {PREFIX} {text}\n"


LOGS = {
    "c0.log": [
        line("23:02:24.493", 670, "Conductor vm:670:0 claimed job a: protect "
             "volume v1 of checkpoint c"),
        line("23:02:25.000", 670, "Volume v1: swept {}"),
        line("23:02:27.846", 670, "Conductor vm:670:0 finished job a: protect "
             "volume v1: ok"),
    ],
    "c1.log": [
        line("23:02:16.302", 671, "Conductor vm:671: 1 workers on the "
             "jobboard, claims of 60 s"),
        line("23:02:26.000", 671, "Conductor vm:671:0 claimed job b: protect "
             "volume v2 of checkpoint c"),
        line("23:02:30.500", 671, "Conductor vm:671:0 finished job b: protect "
             "volume v2: ok"),
    ],
}


def test_the_jobs_time_runs_from_the_first_claim_to_the_last_end(tmp_path):
    logs = []
    for name, lines in LOGS.items():
        (tmp_path / name).write_text("".join(lines))
        logs.append(str(tmp_path / name))
    assert round(distributed._jobs_seconds(logs), 3) == 6.007


def test_the_defaults_are_the_issues_measure():
    args = distributed.parse_args([])
    assert (args.volumes, args.conductors, args.workers) == (9, 3, 1)
    command = distributed.ShrunkCloud("d", "l", gib=5).command()
    assert command[-2:] == ["--gib", "5"]


def test_a_process_cpu_is_read_from_proc_or_none():
    import os
    import time

    before = distributed._process_cpu(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn a little CPU
        pass
    after = distributed._process_cpu(os.getpid())
    assert before is not None and after >= before + 0.03
    assert distributed._process_cpu(2 ** 22 + 12345) is None  # no such pid


def test_the_cpu_parts_are_medians_and_none_stays_unknown():
    rounds = [{"cli": 1.0, "cloud_and_redis": None},
              {"cli": 3.0, "cloud_and_redis": 2.0},
              {"cli": 2.0, "cloud_and_redis": 1.0}]
    assert distributed._median_parts(rounds) == {"cli": 2.0,
                                                 "cloud_and_redis": None}


def test_the_cpu_while_timed_is_put_over_the_cores(monkeypatch):
    monkeypatch.setattr(distributed.os, "cpu_count", lambda: 2)
    parts = {"conductors_start_up": 3.0, "cli": 1.0, "conductors_plan": 4.0,
             "cloud_and_redis": 5.0}
    assert distributed._parts_text(parts) == (
        "3.00 s + 1.00 s + 4.00 s; cloud and Redis 5.00 s; CPU while timed "
        "10.00 s, over 2 cores 5.00 s")
    parts["cloud_and_redis"] = None
    assert distributed._parts_text(parts) == "3.00 s + 1.00 s + 4.00 s"


def test_a_profiled_command_runs_under_the_profiler(tmp_path):
    command = ["tool", "conductor"]
    assert distributed._profiled(None, "c", command) == command
    profiled = distributed._profiled(str(tmp_path), "c", command)
    assert profiled[1:4] == ["-m", "cProfile", "-o"]
    assert profiled[4] == str(tmp_path / "c.prof") and profiled[5:] == command
    spied = distributed._profiled(str(tmp_path), "c", command, "py-spy")
    assert spied[1] == "record" and spied[-2:] == command
    assert str(tmp_path / "c.txt") in spied


def test_a_process_children_are_found_from_any_of_its_threads():
    import os
    import subprocess
    import sys
    import threading

    started = []

    def spawn():  # from another thread than the main one
        started.append(subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE))

    thread = threading.Thread(target=spawn)
    thread.start()
    thread.join()
    [child] = started
    try:
        assert child.pid in distributed._children(os.getpid())
    finally:
        child.stdin.close()
        child.wait()
    assert distributed._children(2 ** 22 + 12345) == []
