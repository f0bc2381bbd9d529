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
