"""One case's protect and restore, in a process of its own.

The parent runs ``python -m tools.bench --one-case JSON`` with
a :class:`CaseSpec` as JSON; this process protects the volume through
:class:`~karbor_volume_glance.standalone.runner.Runner` with the real clients,
restores the checkpoint, and prints one JSON line: both times (wall, and
this process's CPU seconds, user + system: what the plugin's own work
costs, the local cloud's excluded), the new volume's id and the peak RSS of
this process, which holds nothing but this
case: ``VmHWM`` from /proc, since on Linux ``ru_maxrss`` also counts the
parent's peak (a forked child inherits it); ``ru_maxrss`` is reported beside
it. The parent reads the last line of the output with
:func:`parse_case_output`.

For the ``incremental`` case the parent runs two children: one that only
protects (``restore`` false), and, after changing the volume, one that
protects with ``incremental`` and restores; that one also reports what the
new backup's manifest says of it (``backup``: see
:func:`~tools.bench.incremental.backup_summary`).
"""

import dataclasses
import json
import re
import resource
import sys
import time

from karbor_volume_glance import conf
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.cloud import factory
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tools.bench.incremental import backup_summary

_VMHWM = re.compile(r"^VmHWM:\s*(\d+)\s*kB\s*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class CaseSpec:
    """What the child needs: where the cloud and the bank are, and the settings."""

    clouds_yaml: str
    cloud: str
    bank_url: str
    volume_id: str
    compression: str
    parallelism: int
    poll_interval: float
    timeout: float
    #: protect with ``incremental`` (on the volume's latest backup)
    incremental: bool = False
    #: restore the checkpoint after protecting it
    restore: bool = True
    #: a file holding the bank's master key (32 bytes) for an encrypted
    #: case: the key never travels on a command line
    key_file: str | None = None
    #: the plugin's download_streams and backup_from_snapshot (None: its
    #: defaults)
    download_streams: int | None = None
    backup_from_snapshot: str | None = None

    def to_json(self):
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


MiB = 1024 * 1024


def rss_bytes(maxrss, platform=sys.platform):
    """``ru_maxrss`` in bytes: kilobytes on Linux and the BSDs, bytes on macOS."""
    return maxrss if platform == "darwin" else maxrss * 1024


def ru_maxrss_bytes():
    """``ru_maxrss`` of this process in bytes.

    On Linux it is no measure of a child alone: a forked process starts with
    its parent's high-water mark and keeps it through exec, so a child of a
    parent that once held 500 MiB reports at least 500 MiB.
    """
    return rss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def parse_vmhwm(status):
    """Bytes of ``VmHWM`` (peak resident set) in a /proc/PID/status text, or None."""
    match = _VMHWM.search(status)
    return int(match.group(1)) * 1024 if match else None


def peak_rss_bytes():
    """The highest resident set size of this process's own memory so far.

    ``VmHWM`` where /proc has it (the peak of this program's memory since
    exec), else ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as stream:
            peak = parse_vmhwm(stream.read())
    except OSError:
        peak = None
    return peak if peak is not None else ru_maxrss_bytes()


def parse_case_output(stdout):
    """The result dict in the last non-empty line of a child's output."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the case printed no result")
    result = json.loads(lines[-1])
    if not isinstance(result, dict):
        raise ValueError(f"the case printed {lines[-1]!r}, not a JSON object")
    return result


def _config(spec):
    chosen = {name: value for name, value in (
        ("download_streams", spec.download_streams),
        ("backup_from_snapshot", spec.backup_from_snapshot)) if value is not None}
    return conf.make_config(
        poll_interval=spec.poll_interval, compression=spec.compression,
        parallelism=spec.parallelism, snapshot_timeout=spec.timeout,
        volume_timeout=spec.timeout, image_timeout=spec.timeout, **chosen,
    )


def master_key(spec):
    """The case's master key, read from its key file; None for a plain case."""
    if spec.key_file is None:
        return None
    with open(spec.key_file, "rb") as stream:
        return MasterKey(stream.read())


def _runner(spec):
    client_factory = factory.from_cloud_config(spec.cloud, spec.clouds_yaml)
    context = factory.session_context(client_factory.session)
    plugin = VolumeGlanceProtectionPlugin(_config(spec),
                                          client_factory=client_factory,
                                          keys=master_key(spec))
    return Runner(plugin, open_bank(spec.bank_url), context)


def _timed(call):
    """``call()``'s result, its wall seconds and this process's CPU seconds
    (user + system, every thread) over it."""
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    return (result, time.perf_counter() - start,
            time.process_time() - cpu)


def _first_error(result):
    return result.failures()[0].error if not result.ok else None


class StreamRate:
    """The steady rate of a transfer, from the operations' progress hook.

    Bytes and time between the first and the last progress report: the
    streaming part of an operation alone, without the cloud's own work
    (snapshots, volume copies, upload-to-image) before and after it.
    """

    def __init__(self):
        self.first = self.last = None

    def __call__(self, volume_id, done, total):
        sample = (time.perf_counter(), done)
        self.first = self.first or sample
        self.last = sample

    def mib_per_s(self):
        if not self.first or self.last[0] <= self.first[0]:
            return None
        return (self.last[1] - self.first[1]) / MiB / (self.last[0] - self.first[0])


def protect_options(spec):
    """The protect parameters of the spec's volume."""
    if spec.incremental:
        return {"backup_name": "bench-incremental", "incremental": True}
    return {"backup_name": "bench"}


def read_manifest(runner, checkpoint_id, volume_id):
    """The manifest the protect left in the volume's section of the checkpoint
    (opened with the run's key when it is sealed)."""
    section = runner.checkpoint(checkpoint_id).get_resource_bank_section(volume_id)
    return runner.plugin.readable_manifest(section, volume_id, checkpoint_id)


def protect_and_restore(spec):
    """Protect then (unless told not to) restore the spec's volume; the
    figures as a dict."""
    runner = _runner(spec)
    figures = {"rss_before_bytes": peak_rss_bytes()}
    protect_rate = runner.progress = StreamRate()
    (protected, figures["protect_seconds"],
     figures["protect_cpu_seconds"]) = _timed(lambda: runner.protect(
        [spec.volume_id], {spec.volume_id: protect_options(spec)}))
    figures["protect_stream_mib_per_s"] = protect_rate.mib_per_s()
    figures["checkpoint_id"] = protected.checkpoint_id
    figures["error"] = _first_error(protected)
    if figures["error"] is None:
        manifest = read_manifest(runner, protected.checkpoint_id, spec.volume_id)
        if isinstance(manifest, dict):
            figures["backup_path"] = manifest.get("backup_path")
    if figures["error"] is None and spec.incremental:
        manifest = read_manifest(runner, protected.checkpoint_id, spec.volume_id)
        if isinstance(manifest, dict):
            figures["backup"] = backup_summary(manifest)
        else:
            figures["error"] = "the incremental protect left no manifest"
    if figures["error"] is None and spec.restore:
        restore_rate = runner.progress = StreamRate()
        (restored, figures["restore_seconds"],
         figures["restore_cpu_seconds"]) = _timed(
            lambda: runner.restore(protected.checkpoint_id, {}))
        figures["restore_stream_mib_per_s"] = restore_rate.mib_per_s()
        figures["error"] = _first_error(restored)
        if figures["error"] is None:
            figures["new_volume_id"] = restored.outcomes[0].new_volume_id
    figures["peak_rss_bytes"] = peak_rss_bytes()
    figures["ru_maxrss_bytes"] = ru_maxrss_bytes()
    return figures


def main(spec_json, out=sys.stdout):
    """Run one case and print its figures as one JSON line; 0 when it printed."""
    figures = protect_and_restore(CaseSpec.from_json(spec_json))
    out.write(json.dumps(figures) + "\n")
    out.flush()
    return 0
