"""The benchmark run: one local cloud process, a file bank, a child per case.

For each case the parent makes the source volume, runs the child (protect and
restore, bounded by the case's timeout), then measures what the child left:
the bytes stored in the bank, whether the restored volume's bytes equal the
source's, and the raw read and write speeds for the same volume. Unless
``--keep`` names a directory, each case's checkpoint and volumes are deleted
after it, and the work directory (cloud data, bank) at the end; the local
cloud's process is stopped whatever happens.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import types

from karbor_volume_glance import conf
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.bench import measure, options, report
from karbor_volume_glance.bench.child import CaseSpec, parse_case_output
from karbor_volume_glance.bench.cloudproc import ADMIN_CLOUD, LocalCloudProcess
from karbor_volume_glance.cloud import facade, factory
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner

#: Seconds any one HTTP call to the local cloud may take.
API_TIMEOUT = 300
#: Fewest seconds the parent waits for a resource, whatever ``--timeout`` says.
MIN_WAIT = 600


def empty_result(case):
    """A case's result before anything is measured: no figures, not exact."""
    result = dict.fromkeys(report.FIGURES)
    result.update(pattern=case.pattern, size_bytes=case.size,
                  volume_bytes=measure.volume_gib(case.size) * measure.GiB,
                  compression=case.compression, parallelism=case.parallelism,
                  restore_exact=False, error=None)
    return result


def child_command(spec):
    return [sys.executable, "-m", "karbor_volume_glance.bench",
            "--one-case", spec.to_json()]


def run_child(spec, log_path):
    """The child's figures; an ``error`` when it failed or ran out of time."""
    try:
        completed = subprocess.run(child_command(spec), capture_output=True,
                                   text=True, timeout=spec.timeout,
                                   stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        _save_log(log_path, exc.stderr)
        return {"error": f"the case took more than {spec.timeout:g} s"}
    _save_log(log_path, completed.stderr)
    if completed.returncode != 0:
        last = (completed.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"the case exited with {completed.returncode}: {last[0]}"}
    try:
        return parse_case_output(completed.stdout)
    except ValueError as exc:
        return {"error": f"the case's output is not a result: {exc}"}


def _save_log(path, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    with open(path, "w") as stream:
        stream.write(text or "")


class Bench:
    """The cases of one run against one local cloud and one bank."""

    def __init__(self, args, workdir, cloud_process, timeout):
        self.args = args
        self.workdir = workdir
        self.cloud_process = cloud_process
        self.timeout = timeout
        self.clouds_yaml = cloud_process.write_clouds_yaml(
            os.path.join(workdir, "clouds.yaml"), API_TIMEOUT)
        self.bank_path = os.path.join(workdir, "bank")
        self.bank_url = f"file://{self.bank_path}"
        waits = max(timeout, MIN_WAIT)
        self.config = conf.make_config(
            poll_interval=args.poll_interval, snapshot_timeout=waits,
            volume_timeout=waits, image_timeout=waits)
        self.settings = conf.load_settings(self.config)
        self.client_factory = factory.from_cloud_config(ADMIN_CLOUD,
                                                        self.clouds_yaml)
        self.context = types.SimpleNamespace(
            project_id=self.client_factory.session.get_project_id())
        self.cloud = facade.Cloud(self.client_factory, self.context, self.settings)
        self.cases_run = 0

    def spec(self, case, volume_id):
        return CaseSpec(clouds_yaml=self.clouds_yaml, cloud=ADMIN_CLOUD,
                        bank_url=self.bank_url, volume_id=volume_id,
                        compression=case.compression, parallelism=case.parallelism,
                        poll_interval=self.args.poll_interval,
                        timeout=case_timeout(self.args, case))

    def run(self, case):
        """Measure one case; its result (with ``error`` set if it failed)."""
        self.cases_run += 1
        result = empty_result(case)
        checkpoint = {}
        try:
            self._measure(case, result, checkpoint)
        except Exception as exc:  # one broken case must not hide the others
            add_error(result, f"{type(exc).__name__}: {exc}")
        finally:
            if not self.args.keep:
                self._remove(checkpoint.get("id"), result)
        return result

    def _measure(self, case, result, checkpoint):
        source_id = measure.create_source_volume(
            self.cloud, case.pattern, case.size, f"bench-{self.cases_run}")
        source_path = self.cloud_process.volume_path(source_id)
        result["volume_bytes"] = os.path.getsize(source_path)
        figures = run_child(self.spec(case, source_id), os.path.join(
            self.workdir, f"case-{self.cases_run}.log"))
        for key in ("protect_seconds", "restore_seconds", "peak_rss_bytes",
                    "rss_before_bytes", "ru_maxrss_bytes", "error",
                    "protect_stream_mib_per_s", "restore_stream_mib_per_s"):
            result[key] = figures.get(key)
        checkpoint["id"] = figures.get("checkpoint_id")
        if checkpoint["id"]:
            result["stored_bytes"] = measure.stored_chunk_bytes(
                measure.section_directory(self.bank_path, checkpoint["id"],
                                          source_id))
        if figures.get("new_volume_id"):
            result["restore_exact"] = measure.file_sha256(source_path) == (
                measure.file_sha256(self.cloud_process.volume_path(
                    figures["new_volume_id"])))
        if result["error"] is None:
            self._measure_raw(result, source_id, source_path)

    def _measure_raw(self, result, source_id, source_path):
        volume_bytes = result["volume_bytes"]
        seconds, size = measure.raw_read(self.cloud, source_id)
        _check_size("raw read", size, volume_bytes)
        result["raw_read_seconds"] = seconds
        seconds, size = measure.raw_write(
            source_path, os.path.join(self.workdir, "raw-write"),
            self.settings.backup_image_object_size)
        _check_size("raw write", size, volume_bytes)
        result["raw_write_seconds"] = seconds

    def _runner(self):
        plugin = VolumeGlanceProtectionPlugin(self.config,
                                              client_factory=self.client_factory)
        return Runner(plugin, open_bank(self.bank_url), self.context)

    def _remove(self, checkpoint_id, result):
        """Delete the case's checkpoint and every image, snapshot and volume.

        The local cloud is the benchmark's own, so whatever is in it is ours,
        also what a child that ran out of time left behind. A failure to
        clean up joins the case's error.
        """
        try:
            if checkpoint_id:
                deleted = self._runner().delete(checkpoint_id)
                if not deleted.ok:
                    raise RuntimeError(deleted.failures()[0].error)
            sweep(self.cloud)
        except Exception as exc:
            add_error(result, f"cleanup failed: {type(exc).__name__}: {exc}")


def sweep(cloud):
    """Delete every image, snapshot and volume the cloud holds, in that order."""
    for image in list(cloud.glance.images.list()):
        cloud.delete_image(image["id"])
    for snapshot in cloud.cinder.volume_snapshots.list():
        cloud.delete_snapshot(snapshot.id)
    for volume in cloud.cinder.volumes.list():
        cloud.delete_volume(volume.id)


def add_error(result, message):
    """Add ``message`` to the result's error (there may be one already)."""
    result["error"] = "; ".join(filter(None, [result.get("error"), message]))


def _check_size(what, size, expected):
    if size != expected:
        raise RuntimeError(f"{what} moved {size} bytes, not the volume's {expected}")


def case_timeout(args, case):
    return options.case_timeout(args, measure.volume_gib(case.size) * measure.GiB)


def make_workdir(keep):
    """``keep`` (created, and refused unless empty), or a new temporary directory."""
    if not keep:
        return tempfile.mkdtemp(prefix="kvg-bench-")
    os.makedirs(keep, exist_ok=True)
    if os.listdir(keep):
        raise SystemExit(f"--keep {keep}: the directory is not empty")
    return os.path.abspath(keep)


def is_good(result):
    return result["error"] is None and result["restore_exact"] is True


def emit(result, as_json, out):
    out.write((report.json_line(result) if as_json else report.table_row(result))
              + "\n")
    out.flush()


@contextlib.contextmanager
def sigterm_as_exit():
    """Let SIGTERM unwind the stack (so the cloud is stopped) instead of dying."""
    def exit_on_sigterm(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(args, out=sys.stdout):
    """Run every case; 0 when each restore was exact, 1 otherwise."""
    cases = options.build_cases(args)
    timeout = max(case_timeout(args, case) for case in cases)
    workdir = make_workdir(args.keep)
    cloud_process = LocalCloudProcess(os.path.join(workdir, "cloud"),
                                      os.path.join(workdir, "localcloud.log"),
                                      status_delay=args.status_delay)
    good = True
    try:
        with sigterm_as_exit(), cloud_process:
            bench = Bench(args, workdir, cloud_process, timeout)
            if not args.json:
                out.write(report.table_header() + "\n")
            for case in cases:
                result = bench.run(case)
                good = is_good(result) and good
                emit(result, args.json, out)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if good else 1
