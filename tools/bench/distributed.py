"""The distributed benchmark: a plan on a jobboard, N conductors against one.

``python -m tools.bench.distributed [--volumes 9] [--size-mib 32]
[--conductors 3] [--workers 1] [--repeat 1]`` starts a local cloud in its
own process (its "GiB" shrunk to ``--size-mib`` MiB, so each volume is that
many MiB of random data), a Redis of its own
(:mod:`karbor_volume_glance.testing.jobboards`), makes the volumes, and then,
alternating, times ``plan protect PLAN --jobboard URL`` (from its start to
its exit: the checkpoint available) with one conductor of ``--workers 1``
and with ``--conductors`` conductors of ``--workers`` each, each round into a
fresh file bank. It prints the times and their ratio (the issue's target:
at most 0.5), and the CPU seconds (user + system) the conductors and the
command line spent in each round. Every conductor is a process of its own
on this machine, so on a machine of few cores the ratio measures how well
the conductors overlap the cloud's waits and each other's work, not more
hosts' bandwidth.

The CPU is told in three parts, so that 1 and N conductors are compared on
the same work: the conductors' start-up (imports, config, the board's
connection: from their start to their "ready" log line, before the clock
starts, read from ``/proc``), the command line's (``plan protect`` from its
start to its exit, which is the wall time's span), and the conductors'
during the plan (their claims, their jobs, their idle looks at the board
until the command line exits, and their stop). ``--profile DIR`` runs the
conductors and the command line under :mod:`cProfile` and leaves one
``.prof`` file per process and round in ``DIR`` (read them with
``python -m pstats``); the profiler's own cost is then in the times.
cProfile sees a process's main thread only, and a conductor works in
threads: ``--profiler py-spy`` samples every thread instead (py-spy
installed apart, it is no dependency), one collapsed-stacks ``.txt`` per
process, whose CPU parts are then py-spy's own.
"""

import argparse
import contextlib
import datetime
import glob
import io
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import yaml

from karbor_volume_glance import conf
from karbor_volume_glance.cloud import facade, factory
from karbor_volume_glance.testing import jobboards
from tools.bench.cloudproc import ADMIN_CLOUD, LocalCloudProcess

MiB = 1024 * 1024
TOOL = os.path.join(os.path.dirname(sys.executable), "karbor-volume-glance")
READY = "workers on the jobboard"


class ShrunkCloud(LocalCloudProcess):
    """The local cloud's process with a "GiB" of ``gib`` bytes."""

    def __init__(self, *args, gib, **kwargs):
        super().__init__(*args, **kwargs)
        self.gib = gib

    def command(self):
        return [*super().command(), "--gib", str(self.gib)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench.distributed",
        description="Time a plan protect on a jobboard with several "
        "conductors against one conductor of one worker.")
    parser.add_argument("--volumes", type=int, default=9)
    parser.add_argument("--size-mib", type=int, default=32,
                        help="each volume's size (random data), MiB")
    parser.add_argument("--conductors", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1,
                        help="workers of each of the --conductors")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of each, alternating")
    parser.add_argument("--status-delay", type=float, default=0.05)
    parser.add_argument("--jobboard-poll-interval", type=float, default=0.1,
                        help="the conductors' and the command line's "
                        "jobboard_poll_interval (the option's default: 1)")
    parser.add_argument("--profile", metavar="DIR",
                        help="run the conductors and the command line under "
                        "a profiler, one file each in DIR")
    parser.add_argument("--profiler", choices=("cprofile", "py-spy"),
                        default="cprofile",
                        help="with --profile: cProfile (the main thread) "
                        "or py-spy (every thread, sampled)")
    parser.add_argument("--keep", metavar="DIR",
                        help="work in DIR and keep it (logs, banks)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def _make_volumes(clouds_yaml, count, size):
    clients = factory.from_cloud_config(ADMIN_CLOUD, clouds_yaml)
    cloud = facade.Cloud(clients, factory.session_context(clients.session),
                         conf.load_settings(conf.make_config(poll_interval=0.05)))
    volume_ids = []
    for n in range(count):
        image_id = cloud.create_image(f"bench-{n}", "raw", "bare")
        try:
            data = os.urandom(size)
            cloud.upload_image(image_id, io.BytesIO(data), len(data))
            cloud.wait_image(image_id)
            volume_id = cloud.create_volume(1, f"bench-{n}", image_id=image_id)
            cloud.wait_volume(volume_id)
        finally:
            cloud.delete_image(image_id)
        volume_ids.append(volume_id)
    return volume_ids


def _profiled(profile, name, command, profiler="cprofile"):
    """``command`` under the profiler, its profile in ``profile`` (the
    command as it is without ``profile``)."""
    if not profile:
        return command
    os.makedirs(profile, exist_ok=True)
    if profiler == "py-spy":
        spy = shutil.which("py-spy") or os.path.join(
            os.path.dirname(sys.executable), "py-spy")
        return [spy, "record", "--threads", "--format", "raw", "--rate",
                "250", "--output", os.path.join(profile, f"{name}.txt"),
                "--", sys.executable, *command]
    return [sys.executable, "-m", "cProfile", "-o",
            os.path.join(profile, f"{name}.prof"), *command]


def _children(pid):
    """The child processes of ``pid`` (of any of its threads)."""
    children = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as stream:
                children += [int(child) for child in stream.read().split()]
        except OSError:
            continue
    return children


def _stop(process, signum=signal.SIGTERM):
    """``signum`` to a conductor (under py-spy: to the conductor, its child,
    so that py-spy sees it end and writes its profile)."""
    children = (_children(process.pid)
                if os.path.basename(process.args[0]) == "py-spy" else [])
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)
    if not children:
        process.send_signal(signum)


def _process_cpu(pid):
    """CPU seconds (user + system) a live process spent so far, by
    ``/proc`` (None where there is none)."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rpartition(")")[2].split()
    except OSError:
        return None
    # after the command's name: state is field 3, utime 14 and stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round(work, name, url, env, plan_doc, conductors, workers,
           profile=None, profiler="cprofile", servers=()):
    """(wall seconds, jobs' seconds, CPU seconds, CPU parts) of one plan
    protect with ``conductors`` x ``workers``; the parts are the
    conductors' start-up, the command line's and the conductors' during
    the plan."""
    directory = os.path.join(work, name)
    os.makedirs(directory)
    plan_path = os.path.join(directory, "plan.yaml")
    with open(plan_path, "w") as stream:
        yaml.safe_dump({**plan_doc, "bank": f"file://{directory}/bank"}, stream)
    config = plan_doc["sites"]["site"]["config_file"]
    processes, logs = [], []
    cpu_before = _children_cpu()
    try:
        for n in range(conductors):
            log_path = os.path.join(directory, f"conductor-{n}.log")
            logs.append(log_path)
            with open(log_path, "wb") as log:
                processes.append(subprocess.Popen(
                    _profiled(profile, f"{name}-conductor-{n}",
                              [TOOL, "conductor", "--jobboard", url,
                               "--workers", str(workers), "--config-file",
                               config], profiler), env=env,
                    stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL))
        pause = threading.Event()
        while not all(READY in open(path, errors="replace").read()
                      for path in logs):
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a conductor exited: see {directory}")
            pause.wait(0.05)
        start_up = [_process_cpu(p.pid) for p in processes]
        start_up = None if None in start_up else sum(start_up)
        cli_before = _children_cpu()
        servers_before = [_process_cpu(pid) for pid in servers]
        started_at = datetime.datetime.now()
        started = time.monotonic()
        done = subprocess.run(
            _profiled(profile, f"{name}-cli",
                      [TOOL, "--format", "json", "plan", "protect",
                       plan_path, "--jobboard", url], profiler),
            env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        ended_at = datetime.datetime.now()
        cli = _children_cpu() - cli_before
        servers_after = [_process_cpu(pid) for pid in servers]
        servers_cpu = (None if None in servers_before + servers_after
                       else sum(servers_after) - sum(servers_before))
        if done.returncode != 0:
            raise RuntimeError(f"plan protect failed: {done.stderr}")
        # py-spy says what it does on the same stdout
        result = json.loads("".join(
            line for line in done.stdout.splitlines(keepends=True)
            if not line.startswith("py-spy> ")))
        if result["status"] != "available":
            raise RuntimeError(f"plan protect ended {result['status']}")
    finally:
        for process in processes:
            _stop(process)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                _stop(process, signal.SIGKILL)
                process.kill()
                process.wait()
    # the conductors (reaped above) and the command line; not the cloud
    cpu = _children_cpu() - cpu_before
    first, last = _jobs_span(logs)
    parts = {"conductors_start_up": start_up, "cli": cli,
             "conductors_plan": None if start_up is None
             else cpu - cli - start_up,
             # the local cloud's and Redis's, from the command line's start
             # to its exit (they share the machine's cores)
             "cloud_and_redis": servers_cpu,
             # the wall time outside the jobs: the command line's start-up
             # and posting, and its end after the last job's
             "before_first_claim": (first - started_at).total_seconds(),
             "after_last_job": (ended_at - last).total_seconds()}
    return seconds, (last - first).total_seconds(), cpu, parts


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) .*"
                    r"Conductor \S+ (claimed|finished) job", re.MULTILINE)


def _jobs_span(logs):
    """The first claim and the last finished job, by the conductors' log
    lines (local times, as oslo.log writes them)."""
    stamps = [datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
              for path in logs for m in _STAMP.finditer(
                  open(path, errors="replace").read())]
    return min(stamps), max(stamps)


def _jobs_seconds(logs):
    """From the first claim to the last finished job, by the conductors'
    log lines (the command line's own start and end left out)."""
    first, last = _jobs_span(logs)
    return (last - first).total_seconds()


def run(args, out=sys.stdout):
    work = args.keep or tempfile.mkdtemp(prefix="kvg-bench-distributed-")
    os.makedirs(work, exist_ok=True)
    size = args.size_mib * MiB
    try:
        with ShrunkCloud(os.path.join(work, "cloud"),
                         os.path.join(work, "cloud.log"),
                         status_delay=args.status_delay, gib=size) as cloud, \
                jobboards.RedisServer(os.path.join(work, "redis")) as redis:
            clouds_yaml = cloud.write_clouds_yaml(
                os.path.join(work, "clouds.yaml"), api_timeout=120)
            env = dict(os.environ, OS_CLIENT_CONFIG_FILE=clouds_yaml)
            config = os.path.join(work, "plugin.conf")
            with open(config, "w") as stream:
                stream.write("[volume_glance_plugin]\npoll_interval = 0.1\n"
                             "jobboard_poll_interval = "
                             f"{args.jobboard_poll_interval}\n")
            volume_ids = _make_volumes(clouds_yaml, args.volumes, size)
            plan_doc = {"name": "bench", "sites": {"site": {
                "cloud": ADMIN_CLOUD, "config_file": config}},
                "resources": volume_ids}
            times = {"one": [], "many": []}
            for n in range(args.repeat):
                servers = [cloud.pid, redis.process.pid]
                times["one"].append(_round(work, f"one-{n}", redis.url, env,
                                           plan_doc, 1, 1, args.profile,
                                           args.profiler, servers))
                times["many"].append(_round(work, f"many-{n}", redis.url, env,
                                            plan_doc, args.conductors,
                                            args.workers, args.profile,
                                            args.profiler, servers))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    one, many = (statistics.median(t for t, _, _, _ in times[k])
                 for k in ("one", "many"))
    one_jobs, many_jobs = (statistics.median(j for _, j, _, _ in times[k])
                           for k in ("one", "many"))
    one_cpu, many_cpu = (statistics.median(c for _, _, c, _ in times[k])
                         for k in ("one", "many"))
    one_parts, many_parts = (_median_parts([p for _, _, _, p in times[k]])
                             for k in ("one", "many"))
    label = f"{args.conductors}_conductors_workers_{args.workers}"
    report = {"volumes": args.volumes, "size_mib": args.size_mib,
              "jobboard_poll_interval": args.jobboard_poll_interval,
              "one_conductor_workers_1_s": one, f"{label}_s": many,
              "ratio": many / one,
              "one_conductor_workers_1_jobs_s": one_jobs,
              f"{label}_jobs_s": many_jobs, "jobs_ratio": many_jobs / one_jobs,
              "one_conductor_workers_1_cpu_s": one_cpu,
              f"{label}_cpu_s": many_cpu,
              "one_conductor_workers_1_cpu_parts_s": one_parts,
              f"{label}_cpu_parts_s": many_parts, "rounds": times}
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        out.write(f"plan protect of {args.volumes} volumes of {args.size_mib} "
                  "MiB on a jobboard (jobboard_poll_interval "
                  f"{args.jobboard_poll_interval} s; median of {args.repeat}; "
                  "the command "
                  "line's wall time, the conductors' from the first claim "
                  "to the last job's end, and the CPU time of the conductors "
                  "and the command line):\n"
                  f"  1 conductor, --workers 1: {one:8.2f} s {one_jobs:8.2f} s"
                  f" {one_cpu:8.2f} s CPU\n"
                  f"  {args.conductors} conductors, --workers {args.workers}: "
                  f"{many:8.2f} s {many_jobs:8.2f} s {many_cpu:8.2f} s CPU\n"
                  f"  ratio: {many / one:.2f} (jobs {many_jobs / one_jobs:.2f})\n"
                  "  CPU parts (conductors' start-up, command line, "
                  "conductors during the plan; the servers' CPU, and what "
                  "ran while timed over the cores: the wall's floor):\n"
                  f"    1 conductor: {_parts_text(one_parts)}\n"
                  f"    {args.conductors} conductors: "
                  f"{_parts_text(many_parts)}\n"
                  "  wall outside the jobs (command line to first claim, "
                  "last job to the command line's exit):\n"
                  f"    1 conductor: {_outside_text(one_parts)}\n"
                  f"    {args.conductors} conductors: "
                  f"{_outside_text(many_parts)}\n")
    return report


def _median_parts(parts):
    """Each CPU part's median over the rounds (None when one is unknown)."""
    return {key: None if any(p[key] is None for p in parts)
            else statistics.median(p[key] for p in parts)
            for key in parts[0]}


def _parts_text(parts):
    text = " + ".join("?" if parts[key] is None else f"{parts[key]:.2f} s"
                      for key in ("conductors_start_up", "cli",
                                  "conductors_plan"))
    if parts["cloud_and_redis"] is None:
        return text
    # what ran while the clock ran, on this machine's cores: the wall time
    # can be no less than this CPU over the cores
    busy = parts["cli"] + parts["conductors_plan"] + parts["cloud_and_redis"]
    return (f"{text}; cloud and Redis {parts['cloud_and_redis']:.2f} s; "
            f"CPU while timed {busy:.2f} s, over {os.cpu_count()} cores "
            f"{busy / os.cpu_count():.2f} s")


def _outside_text(parts):
    return (f"{parts['before_first_claim']:.2f} s + "
            f"{parts['after_last_job']:.2f} s")


def main(argv=None):
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
