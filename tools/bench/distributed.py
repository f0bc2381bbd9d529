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
"""

import argparse
import datetime
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


def _round(work, name, url, env, plan_doc, conductors, workers):
    """(wall seconds, jobs' seconds, CPU seconds) of one plan protect with
    ``conductors`` x ``workers``."""
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
                    [TOOL, "conductor", "--jobboard", url, "--workers",
                     str(workers), "--config-file", config], env=env,
                    stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL))
        pause = threading.Event()
        while not all(READY in open(path, errors="replace").read()
                      for path in logs):
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a conductor exited: see {directory}")
            pause.wait(0.05)
        started = time.monotonic()
        done = subprocess.run(
            [TOOL, "--format", "json", "plan", "protect", plan_path,
             "--jobboard", url], env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"plan protect failed: {done.stderr}")
        result = json.loads(done.stdout)
        if result["status"] != "available":
            raise RuntimeError(f"plan protect ended {result['status']}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # the conductors (reaped above) and the command line; not the cloud
    return seconds, _jobs_seconds(logs), _children_cpu() - cpu_before


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) .*"
                    r"Conductor \S+ (claimed|finished) job", re.MULTILINE)


def _jobs_seconds(logs):
    """From the first claim to the last finished job, by the conductors'
    log lines (the command line's own start and end left out)."""
    stamps = [datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
              for path in logs for m in _STAMP.finditer(
                  open(path, errors="replace").read())]
    return (max(stamps) - min(stamps)).total_seconds()


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
                times["one"].append(_round(work, f"one-{n}", redis.url, env,
                                           plan_doc, 1, 1))
                times["many"].append(_round(work, f"many-{n}", redis.url, env,
                                            plan_doc, args.conductors,
                                            args.workers))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    one, many = (statistics.median(t for t, _, _ in times[k])
                 for k in ("one", "many"))
    one_jobs, many_jobs = (statistics.median(j for _, j, _ in times[k])
                           for k in ("one", "many"))
    one_cpu, many_cpu = (statistics.median(c for _, _, c in times[k])
                         for k in ("one", "many"))
    label = f"{args.conductors}_conductors_workers_{args.workers}"
    report = {"volumes": args.volumes, "size_mib": args.size_mib,
              "jobboard_poll_interval": args.jobboard_poll_interval,
              "one_conductor_workers_1_s": one, f"{label}_s": many,
              "ratio": many / one,
              "one_conductor_workers_1_jobs_s": one_jobs,
              f"{label}_jobs_s": many_jobs, "jobs_ratio": many_jobs / one_jobs,
              "one_conductor_workers_1_cpu_s": one_cpu,
              f"{label}_cpu_s": many_cpu, "rounds": times}
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
                  f"  ratio: {many / one:.2f} (jobs {many_jobs / one_jobs:.2f})\n")
    return report


def main(argv=None):
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
