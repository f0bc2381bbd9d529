"""The benchmark run: one local cloud process, the banks, a child per case.

The banks (:mod:`.banks`): a file bank in the work directory, and for
``--bank s3`` or ``swift`` a SeaweedFS or a Swift started once for the run
(:mod:`karbor_volume_glance.testing.objstores`), with a bucket or container
per case. For each case the parent makes the source volume, runs the child
(protect and restore, bounded by the case's timeout) with the bank's URL and
the environment it needs, then measures what the child left: the bytes stored
in the bank, whether the restored volume's bytes equal the source's, and the
raw read and write speeds for the same volume (the write into the case's
bank's store). Unless ``--keep`` names a directory, each case's checkpoints,
volumes and bucket or container are deleted after it, and the work directory
(cloud data, banks, servers' data) at the end; the local cloud's and the
servers' processes are stopped whatever happens.

The ``incremental`` case (:mod:`.incremental`) runs two children on one
volume of random data: the first only protects (the full backup); the parent
then changes 1 % of the volume's file in the local cloud in scattered 4 KiB
writes; the second protects with ``incremental`` and restores, and the
restored bytes are compared with the changed volume's.
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
from karbor_volume_glance.cloud import facade, factory
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing import objstores
from tools.bench import (
    banks,
    incremental,
    measure,
    options,
    report,
)
from tools.bench.child import CaseSpec, parse_case_output
from tools.bench.cloudproc import ADMIN_CLOUD, LocalCloudProcess

#: Seconds any one HTTP call to the local cloud may take.
API_TIMEOUT = 300
#: Fewest seconds the parent waits for a resource, whatever ``--timeout`` says.
MIN_WAIT = 600


def empty_result(case):
    """A case's result before anything is measured: no figures, not exact."""
    result = dict.fromkeys(report.FIGURES)
    result.update(bank=case.bank, pattern=case.pattern, size_bytes=case.size,
                  volume_bytes=measure.volume_gib(case.size) * measure.GiB,
                  compression=case.compression, parallelism=case.parallelism,
                  encrypt=case.encrypt,
                  download_streams=case.download_streams,
                  stream_cap=case.stream_cap,
                  backup_from_snapshot=case.backup_from_snapshot,
                  restore_exact=False, error=None)
    return result


#: What the parent takes over from a child's figures as they are.
CHILD_FIGURES = ("protect_seconds", "restore_seconds", "peak_rss_bytes",
                 "rss_before_bytes", "ru_maxrss_bytes",
                 "protect_stream_mib_per_s", "restore_stream_mib_per_s",
                 "protect_cpu_seconds", "restore_cpu_seconds",
                 "backup_path")


def data_pattern(case):
    """The data the case's volume starts with."""
    return incremental.DATA_PATTERN if case.pattern == incremental.NAME \
        else case.pattern


def take_figures(result, figures):
    """Copy a child's figures into the result (its error joins the result's)."""
    for key in CHILD_FIGURES:
        result[key] = figures.get(key)
    if figures.get("error"):
        add_error(result, figures["error"])


def take_incremental(result, full, second, full_checkpoint_id):
    """Fill the result of an incremental case from its two children's figures.

    ``full`` protected the volume in full; ``second`` protected it again with
    ``incremental`` and restored that. The full protect is the result's
    ``protect_seconds``; the restore and the second protect's figures are
    the second's; the peak RSS is the higher of the two. A second backup that
    is not incremental on ``full_checkpoint_id`` is an error.
    """
    take_figures(result, full)
    for key in ("restore_seconds", "restore_stream_mib_per_s",
                "restore_cpu_seconds"):
        result[key] = second.get(key)
    result["incremental_seconds"] = second.get("protect_seconds")
    result["incremental_cpu_seconds"] = second.get("protect_cpu_seconds")
    result["incremental_stream_mib_per_s"] = second.get("protect_stream_mib_per_s")
    for key in ("peak_rss_bytes", "ru_maxrss_bytes"):
        values = [value for value in (full.get(key), second.get(key))
                  if value is not None]
        result[key] = max(values, default=None)
    if second.get("error"):
        add_error(result, second["error"])
    backup = second.get("backup")
    if backup is None:
        return
    result.update(
        incremental_stored_bytes=backup["stored_bytes"],
        incremental_chunks=backup["chunks"],
        incremental_delta_chunks=backup["delta_chunks"],
        incremental_referenced_chunks=backup["referenced_chunks"],
        incremental_full_reason=backup["full_reason"])
    if not backup["incremental"]:
        add_error(result, "the second protect made a full backup: "
                  f"{backup['full_reason']}")
    elif backup["parent_checkpoint_id"] != full_checkpoint_id:
        add_error(result, f"the incremental's parent is "
                  f"{backup['parent_checkpoint_id']}, not the full backup "
                  f"{full_checkpoint_id}")


#: The checkout's root: where ``python -m tools.bench`` finds this package.
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def child_command(spec):
    return [sys.executable, "-m", __package__, "--one-case", spec.to_json()]


def run_child(spec, log_path, env=None):
    """The child's figures; an ``error`` when it failed or ran out of time.

    ``env`` is the child's whole environment (None: this process's).
    """
    try:
        completed = subprocess.run(child_command(spec), capture_output=True,
                                   text=True, timeout=spec.timeout,
                                   stdin=subprocess.DEVNULL, env=env,
                                   cwd=CHECKOUT)
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
    """The cases of one run against one local cloud and its banks.

    ``sites`` maps each bank a case may name to its :mod:`.banks` site (a
    file bank in ``workdir`` only, unless given).
    """

    def __init__(self, args, workdir, cloud_process, timeout, sites=None):
        self.args = args
        self.workdir = workdir
        self.cloud_process = cloud_process
        self.timeout = timeout
        self.sites = sites or {"file": banks.FileSite(workdir)}
        self.clouds_yaml = cloud_process.write_clouds_yaml(
            os.path.join(workdir, "clouds.yaml"), API_TIMEOUT)
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

    def spec(self, case, place, volume_id, **changes):
        return CaseSpec(clouds_yaml=self.clouds_yaml, cloud=ADMIN_CLOUD,
                        bank_url=place.url, volume_id=volume_id,
                        compression=case.compression, parallelism=case.parallelism,
                        poll_interval=self.args.poll_interval,
                        timeout=case_timeout(self.args, case),
                        key_file=self.key_file() if case.encrypt else None,
                        download_streams=case.download_streams,
                        backup_from_snapshot=case.backup_from_snapshot,
                        **changes)

    def key_file(self):
        """The run's master key for encrypted cases, in a file of the work
        directory only its owner reads (made on first use)."""
        path = os.path.join(self.workdir, "master-key")
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(MasterKey.generate().material)
        return path

    def run(self, case):
        """Measure one case; its result (with ``error`` set if it failed)."""
        self.cases_run += 1
        result = empty_result(case)
        checkpoints, place = [], None
        try:
            place = self.sites[case.bank].place(self.cases_run)
            self._measure(case, place, result, checkpoints)
        except Exception as exc:  # one broken case must not hide the others
            add_error(result, f"{type(exc).__name__}: {exc}")
        finally:
            if not self.args.keep:
                self._remove(place, checkpoints, result)
        return result

    def _log(self, suffix=""):
        return os.path.join(self.workdir, f"case-{self.cases_run}{suffix}.log")

    def _measure(self, case, place, result, checkpoints):
        source_id = measure.create_source_volume(
            self.cloud, data_pattern(case), case.size, f"bench-{self.cases_run}")
        source_path = self.cloud_process.volume_path(source_id)
        result["volume_bytes"] = os.path.getsize(source_path)
        if case.pattern == incremental.NAME:
            figures = self._protect_twice(case, place, result, checkpoints,
                                          source_id, source_path)
        else:
            figures = run_child(self.spec(case, place, source_id), self._log(),
                                place.env)
            take_figures(result, figures)
            checkpoints.append(figures.get("checkpoint_id"))
            if checkpoints[-1]:
                result["stored_bytes"] = place.stored_bytes(checkpoints[-1],
                                                            source_id)
        if figures.get("new_volume_id"):
            result["restore_exact"] = measure.file_sha256(source_path) == (
                measure.file_sha256(self.cloud_process.volume_path(
                    figures["new_volume_id"])))
        if result["error"] is None:
            self._measure_raw(place, result, source_id, source_path)

    def _protect_twice(self, case, place, result, checkpoints, source_id,
                       source_path):
        """The incremental case's children; the second's figures."""
        full = run_child(self.spec(case, place, source_id, restore=False),
                         self._log("-full"), place.env)
        full_id = full.get("checkpoint_id")
        checkpoints.append(full_id)
        if full_id:
            result["stored_bytes"] = place.stored_bytes(full_id, source_id)
        if full.get("error") or not full_id:
            take_figures(result, full)
            return {}
        result["changed_bytes"] = incremental.change_file(source_path, case.size)
        second = run_child(self.spec(case, place, source_id, incremental=True),
                           self._log(), place.env)
        checkpoints.append(second.get("checkpoint_id"))
        take_incremental(result, full, second, full_id)
        if checkpoints[-1]:
            result["incremental_object_bytes"] = place.stored_bytes(
                checkpoints[-1], source_id)
        return second

    def _measure_raw(self, place, result, source_id, source_path):
        volume_bytes = result["volume_bytes"]
        seconds, size = measure.raw_read(self.cloud, source_id)
        _check_size("raw read", size, volume_bytes)
        result["raw_read_seconds"] = seconds
        seconds, size = place.raw_write(
            source_path, os.path.join(self.workdir, "raw-write"),
            self.settings.backup_image_object_size)
        _check_size("raw write", size, volume_bytes)
        result["raw_write_seconds"] = seconds

    def _runner(self, place):
        plugin = VolumeGlanceProtectionPlugin(self.config,
                                              client_factory=self.client_factory)
        return Runner(plugin, place.open_bank(), self.context)

    def _remove(self, place, checkpoint_ids, result):
        """Delete the case's checkpoints (newest first), every image,
        snapshot and volume, and the case's place in its bank (a bucket or
        a container with everything left in it).

        The local cloud is the benchmark's own, so whatever is in it is ours,
        also what a child that ran out of time left behind. A failure to
        clean up joins the case's error.
        """
        steps = [lambda: self._delete_checkpoints(place, checkpoint_ids)]
        if place is not None:
            steps.append(place.remove)
        steps.append(lambda: sweep(self.cloud))
        for step in steps:
            try:
                step()
            except Exception as exc:
                add_error(result, f"cleanup failed: {type(exc).__name__}: {exc}")

    def _delete_checkpoints(self, place, checkpoint_ids):
        """Delete the checkpoints, newest first, through the standalone runner."""
        for checkpoint_id in reversed(checkpoint_ids):
            if checkpoint_id:
                deleted = self._runner(place).delete(checkpoint_id)
                if not deleted.ok:
                    raise RuntimeError(deleted.failures()[0].error)


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


def emit_notes(notes, as_json, out, err):
    """The notes as ``# `` lines: before the table, or on ``err`` beside JSON."""
    if notes:
        (err if as_json else out).write(
            "".join(line + "\n" for line in report.note_lines(notes)))
        (err if as_json else out).flush()


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


def cloud_name(stream_cap):
    """The name of the local cloud's directory and log for a cap."""
    return "cloud" if stream_cap is None else f"cloud-cap-{stream_cap:g}"


def start_bench(args, workdir, timeout, sites, stack, stream_cap):
    """A Bench over a new local cloud with ``stream_cap`` MiB/s per answer,
    stopped with ``stack``."""
    name = cloud_name(stream_cap)
    cloud_process = LocalCloudProcess(
        os.path.join(workdir, name), os.path.join(workdir, f"{name}.log"),
        status_delay=args.status_delay, stream_cap=stream_cap)
    stack.enter_context(cloud_process)
    return Bench(args, workdir, cloud_process, timeout, sites)


def main(args, out=sys.stdout, err=sys.stderr):
    """Run every case; 0 when each restore was exact, 1 otherwise.

    Refuses (SystemExit) before starting anything when a bank's server is
    not installed.
    """
    cases = options.build_cases(args)
    bank_names = banks.banks_of(cases)
    missing = objstores.missing_services(bank_names)
    if missing:
        raise SystemExit("cannot run the benchmark: " + "; ".join(missing))
    timeout = max(case_timeout(args, case) for case in cases)
    workdir = make_workdir(args.keep)
    good = True
    try:
        with sigterm_as_exit(), contextlib.ExitStack() as stack:
            stack.enter_context(banks.no_instance_metadata())
            sites = banks.start_sites(bank_names, workdir, stack, keep=args.keep)
            if bank_names != [banks.DEFAULT_BANK]:
                emit_notes(banks.notes(sites), args.json, out, err)
            if not args.json:
                out.write(report.table_header() + "\n")
            benches = {}  # a local cloud per cap, started when first needed
            for case in cases:
                if case.stream_cap not in benches:
                    benches[case.stream_cap] = start_bench(
                        args, workdir, timeout, sites, stack, case.stream_cap)
                result = benches[case.stream_cap].run(case)
                good = is_good(result) and good
                emit(result, args.json, out)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if good else 1
