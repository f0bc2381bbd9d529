"""``python -m tools.bench --compare karbor``: our plugin beside Karbor 1.6's own.

On one local cloud (the HTTP LocalCloud the benchmark starts in its own
process), one source volume and one bank (Karbor's own ``Bank`` over our
binary-safe file bank plugin, ``volume-glance-file-bank``), it protects and
restores the volume through Karbor's own checkpoint and taskflow resource
graph (:class:`KarborFlows`, the way ``tests/karbor/test_karbor_contract.py``
drives a plugin) with three contestants, alternating, round after round:

``karbor-default``
    Karbor 1.6's ``karbor-volume-glance-plugin`` with its default
    ``poll_interval`` (15 s);
``karbor-poll-1``
    the same with ``poll_interval = 1``;
``ours``
    this project's plugin, at the benchmark's ``--poll-interval``.

Karbor's plugin reaches the clouds through Karbor's ``ClientFactory``, which
here hands out the same clients (from the local cloud's clouds.yaml) as ours
gets. Karbor 1.6 counts the pieces Glance's client yields as 64 KiB, while
glanceclient 4 yields 1 MiB pieces: with it, Karbor stores one sixteenth of
the image and its restore fails the checksum. Karbor's runs therefore set
``glanceclient.common.http.CHUNKSIZE`` to 65536 (what Karbor was written
against) and put it back after; the output says so. Every restore, Karbor's
too, is checked byte for byte against the source (sha256 of the volumes'
files in the local cloud). After each run (untimed) the checkpoint is deleted
through the plugin's own delete operation and the restored volume and any
image, snapshot or volume left beside the source are deleted.

The report (:func:`summarize`, :func:`table_lines`) gives every run's protect
and restore seconds, then per contestant the median of its rounds and, for
Karbor's, the ratio of its times to ours (how many times slower it is), and
whether the issue's targets are met: ours at least 5 times faster than
Karbor's plugin at its defaults, and faster than it at ``poll_interval = 1``
(end to end: protect plus restore).

Karbor must be importable (``tox -e bench-karbor`` installs karbor 1.6.0);
the report's logic is not Karbor's and is imported without it.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import statistics
import time
import uuid
import warnings

#: Karbor's name of its volume-glance plugin (entry point in
#: ``karbor.protections``).
KARBOR_PLUGIN = "karbor-volume-glance-plugin"
VOLUME = "OS::Cinder::Volume"
#: The size of the pieces Karbor 1.6's ``backup_image_to_bank`` expects.
KARBOR_GLANCE_CHUNKSIZE = 65536
#: The issue's targets: ours this many times faster than Karbor at its
#: defaults, and faster (ratio above 1) at ``poll_interval = 1``.
TARGET_VS_DEFAULT = 5.0
TARGET_VS_POLL_1 = 1.0
#: The pattern of a comparison whose ``--pattern`` is left at its default:
#: 4 MiB of random bytes, then 4 MiB of zeros, and so on.
DEFAULT_PATTERN = "half-zeros"
OURS = "ours"


@dataclasses.dataclass(frozen=True)
class Contestant:
    """One plugin at one ``poll_interval`` (None: the plugin's default)."""

    name: str
    plugin: str  # "karbor" or "ours"
    poll_interval: float = None


def contestants(ours_poll_interval):
    """Karbor's at its default and at 1 s, then ours: the order of a round."""
    return (Contestant("karbor-default", "karbor"),
            Contestant("karbor-poll-1", "karbor", 1),
            Contestant(OURS, OURS, ours_poll_interval))


def schedule(players, rounds):
    """``(round, contestant)`` pairs: each round runs every contestant once."""
    return [(number, player) for number in range(1, rounds + 1)
            for player in players]


def run_result(number, player, poll_interval):
    """A run's result before anything is measured."""
    return {"round": number, "contestant": player.name, "plugin": player.plugin,
            "poll_interval": poll_interval, "protect_seconds": None,
            "restore_seconds": None, "restore_exact": False, "error": None}


def total_seconds(result):
    if result["protect_seconds"] is None or result["restore_seconds"] is None:
        return None
    return result["protect_seconds"] + result["restore_seconds"]


def _median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def _ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def summarize(runs):
    """Per contestant, in order of first appearance: the median protect,
    restore and total seconds of its runs that restored the exact bytes
    without error, whether all did, and its times over ours (``vs_ours_*``:
    above 1, it is that many times slower; None for ours or when a median is
    missing)."""
    names = list(dict.fromkeys(run["contestant"] for run in runs))
    summary = []
    for name in names:
        mine = [run for run in runs if run["contestant"] == name]
        good = [run for run in mine if run["error"] is None and run["restore_exact"]]
        summary.append({
            "contestant": name, "plugin": mine[0]["plugin"],
            "poll_interval": mine[0]["poll_interval"], "runs": len(mine),
            "good_runs": len(good), "all_exact": len(good) == len(mine),
            "protect_seconds": _median(run["protect_seconds"] for run in good),
            "restore_seconds": _median(run["restore_seconds"] for run in good),
            "total_seconds": _median(total_seconds(run) for run in good),
        })
    ours = next((row for row in summary if row["contestant"] == OURS), None)
    for row in summary:
        for key in ("protect", "restore", "total"):
            row[f"vs_ours_{key}"] = None if ours is None or row is ours else _ratio(
                row[f"{key}_seconds"], ours[f"{key}_seconds"])
    return summary


def targets(summary):
    """``(text, met)`` per target of the issue; met is None when unknown."""
    rows = {row["contestant"]: row for row in summary}
    checks = (("karbor-default", TARGET_VS_DEFAULT,
               "ours >= {:g}x faster than Karbor's plugin at its defaults"),
              ("karbor-poll-1", TARGET_VS_POLL_1,
               "ours faster than Karbor's plugin at poll_interval = 1"))
    found = []
    for name, wanted, text in checks:
        ratio = rows.get(name, {}).get("vs_ours_total")
        met = None if ratio is None else ratio >= wanted if wanted > 1 \
            else ratio > wanted
        found.append((f"{text.format(wanted)}: "
                      f"{'unknown' if met is None else 'yes' if met else 'NO'}"
                      f" ({_fmt(ratio, 'x')})", met))
    return found


def _fmt(value, suffix="", digits=2):
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _poll(value):
    return "default" if value is None else f"{value:g}"


RUN_HEADER = ("round", "contestant", "poll_s", "protect_s", "restore_s",
              "total_s", "exact", "error")
SUMMARY_HEADER = ("contestant", "poll_s", "runs", "protect_s", "restore_s",
                  "total_s", "x_ours_protect", "x_ours_restore", "x_ours_total")


def _rows(header, rows):
    widths = [max(len(str(cell)) for cell in column)
              for column in zip(header, *rows, strict=True)]
    return ["  ".join(str(cell).ljust(width)
                      for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)]


def table_lines(runs, summary):
    """The runs, then the medians and ratios, then the targets, as text lines."""
    lines = _rows(RUN_HEADER, [
        (run["round"], run["contestant"], _poll(run["poll_interval"]),
         _fmt(run["protect_seconds"]), _fmt(run["restore_seconds"]),
         _fmt(total_seconds(run)), "yes" if run["restore_exact"] else "NO",
         run["error"] or "") for run in runs])
    lines.append("")
    lines += _rows(SUMMARY_HEADER, [
        (row["contestant"], _poll(row["poll_interval"]),
         f"{row['good_runs']}/{row['runs']}", _fmt(row["protect_seconds"]),
         _fmt(row["restore_seconds"]), _fmt(row["total_seconds"]),
         _fmt(row["vs_ours_protect"], "x"), _fmt(row["vs_ours_restore"], "x"),
         _fmt(row["vs_ours_total"], "x")) for row in summary])
    lines.append("")
    lines += [f"target: {text}" for text, _met in targets(summary)]
    return lines


def json_lines(runs, summary):
    """One JSON object per run, then one per contestant's summary."""
    return ([json.dumps({"kind": "run", **run}) for run in runs]
            + [json.dumps({"kind": "summary", **row}) for row in summary])


def chunksize_note(previous):
    return (f"Karbor's plugin runs with glanceclient.common.http.CHUNKSIZE = "
            f"{KARBOR_GLANCE_CHUNKSIZE} (glanceclient's own: {previous}): Karbor "
            f"1.6 counts Glance's pieces as 64 KiB; with 1 MiB pieces it stores "
            f"one sixteenth of the image and its restore fails the checksum")


def machine_note(cpus=None, load=None):
    """The machine the figures come from: its cores and load at the start."""
    cpus = cpus or os.cpu_count()
    load = load or os.getloadavg()
    return (f"machine: {cpus} cores, load average "
            f"{' '.join(f'{value:.2f}' for value in load)} at the start "
            "(other work on it slows every contestant)")


# --- Karbor's machinery (imported only when it runs) ----------------------------


def import_karbor():
    """Karbor's modules the comparison uses; SystemExit when karbor is missing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # eventlet's deprecation notice
            from karbor.common import constants
            from karbor.services.protection import (
                bank_plugin,
                client_factory,
                graph,
                resource_flow,
            )
            from karbor.services.protection.checkpoint import CheckpointCollection
            from karbor.services.protection.flows import workflow
            from karbor.services.protection.protection_plugins.volume import (
                volume_glance_plugin,
            )
    except ImportError as exc:
        raise SystemExit(
            f"--compare karbor needs karbor 1.6 importable ({exc}); run it "
            "with tox -e bench-karbor") from None
    import types

    return types.SimpleNamespace(
        constants=constants, bank_plugin=bank_plugin,
        client_factory=client_factory, graph=graph,
        resource_flow=resource_flow, CheckpointCollection=CheckpointCollection,
        workflow=workflow, volume_glance_plugin=volume_glance_plugin)


class KarborFlows:
    """Karbor's Bank, Checkpoint and taskflow resource graph around a plugin.

    The way ``tests/karbor/test_karbor_contract.py`` drives a plugin: a
    checkpoint made by Karbor's CheckpointCollection in Karbor's Bank over
    ``bank_plugin`` (a Karbor bank plugin object), and each operation run as
    the resource flow Karbor's ``build_resource_flow`` builds, in Karbor's
    TaskFlowEngine.
    """

    def __init__(self, karbor, bank_plugin, context):
        self.karbor = karbor
        self.bank = karbor.bank_plugin.Bank(bank_plugin)
        self.context = context
        self.engine = karbor.workflow.TaskFlowEngine()

    def checkpoint(self, resources, plan_id="plan-compare"):
        plan = {"id": plan_id, "name": "compare", "provider_id": "compare",
                "project_id": self.context.project_id,
                "resources": [_resource_dict(r) for r in resources]}
        return self.karbor.CheckpointCollection(self.bank).create(
            plan, context=self.context)

    def run(self, operation, plugin, checkpoint, resources, parameters, **store):
        karbor = self.karbor
        resource_graph = karbor.graph.build_graph(resources, lambda node: [])
        flow = karbor.resource_flow.build_resource_flow(
            operation_type=operation, context=self.context,
            workflow_engine=self.engine, plugins={VOLUME: plugin},
            resource_graph=resource_graph, parameters=parameters)
        store.update(context=self.context, checkpoint=checkpoint,
                     operation_log=None)
        engine = self.engine.get_engine(flow, store=store)
        self.engine.run_engine(engine)

    def protect(self, plugin, checkpoint, resources, parameters):
        self.run(self.karbor.constants.OPERATION_PROTECT, plugin, checkpoint,
                 resources, parameters)

    def restore(self, plugin, checkpoint, resources, parameters):
        """Restore; the new volumes the plugin recorded, by source id."""
        from karbor_volume_glance.testing import FakeRecord

        new_resources = {}
        self.run(self.karbor.constants.OPERATION_RESTORE, plugin, checkpoint,
                 resources, parameters, restore=FakeRecord(),
                 new_resources=new_resources)
        return new_resources

    def delete(self, plugin, checkpoint, resources):
        self.run(self.karbor.constants.OPERATION_DELETE, plugin, checkpoint,
                 resources, {})


def _resource_dict(resource):
    return {"type": resource.type, "id": resource.id, "name": resource.name,
            "extra_info": getattr(resource, "extra_info", None)}


@contextlib.contextmanager
def glance_chunksize(size):
    """glanceclient's piece size set to ``size`` inside; its own value after.

    Yields glanceclient's own value.
    """
    from glanceclient.common import http

    previous = http.CHUNKSIZE
    http.CHUNKSIZE = size
    try:
        yield previous
    finally:
        http.CHUNKSIZE = previous


def glanceclient_chunksize():
    from glanceclient.common import http

    return http.CHUNKSIZE


@contextlib.contextmanager
def karbor_clients(karbor, client_factory):
    """Karbor's ClientFactory hands out ``client_factory``'s clients inside."""
    factory_class = karbor.client_factory.ClientFactory
    previous = factory_class.__dict__["create_client"]

    def create_client(service, context, *args, **kwargs):
        return client_factory.create_client(service, context)

    factory_class.create_client = staticmethod(create_client)
    try:
        yield
    finally:
        factory_class.create_client = previous


def karbor_plugin(karbor, poll_interval):
    """Karbor's own volume-glance plugin, at ``poll_interval`` (None: its default)."""
    from oslo_config import cfg

    config = cfg.ConfigOpts()
    config([], default_config_files=[])
    module = karbor.volume_glance_plugin
    config.register_opts(module.volume_glance_opts, "volume_glance_plugin")
    if poll_interval is not None:
        config.set_override("poll_interval", poll_interval, "volume_glance_plugin")
    return module.VolumeGlanceProtectionPlugin(config)


def file_bank_plugin(path):
    """Our ``volume-glance-file-bank`` Karbor bank plugin over ``path``, read
    from a provider file's ``[volume_glance_file_bank]`` as Karbor would."""
    from oslo_config import cfg

    from karbor_volume_glance.bank.karbor_plugins import FileBankPlugin

    os.makedirs(path, exist_ok=True)
    provider_file = os.path.join(os.path.dirname(path), "compare-provider.conf")
    with open(provider_file, "w") as stream:
        stream.write(f"[volume_glance_file_bank]\npath = {path}\n")
    config = cfg.ConfigOpts()
    config([f"--config-file={provider_file}"], default_config_files=[])
    return FileBankPlugin(config)


def file_sha256(path, piece=4 * 1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for data in iter(lambda: stream.read(piece), b""):
            digest.update(data)
    return digest.hexdigest()


class Comparison:
    """The contestants' runs on one source volume in one local cloud and bank.

    ``cloud`` is our facade over the local cloud (for cleaning up),
    ``client_factory`` the clients both plugins get, ``volume_path`` maps a
    volume id to the file holding its bytes, ``ours_config`` our plugin's
    ConfigOpts.
    """

    def __init__(self, karbor, flows, cloud, client_factory, volume_path,
                 ours_config):
        self.karbor = karbor
        self.flows = flows
        self.cloud = cloud
        self.client_factory = client_factory
        self.volume_path = volume_path
        self.ours_config = ours_config

    def plugin(self, player):
        if player.plugin == OURS:
            from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin

            return VolumeGlanceProtectionPlugin(
                self.ours_config, client_factory=self.client_factory)
        return karbor_plugin(self.karbor, player.poll_interval)

    def poll_interval(self, plugin, player):
        if player.plugin == OURS:
            return plugin.settings.poll_interval
        return plugin._poll_interval  # Karbor's plugin keeps it there

    @contextlib.contextmanager
    def conditions(self, player):
        """Karbor's runs: its ClientFactory and 64 KiB Glance pieces."""
        if player.plugin == OURS:
            yield
            return
        with karbor_clients(self.karbor, self.client_factory), \
                glance_chunksize(KARBOR_GLANCE_CHUNKSIZE):
            yield

    def run(self, number, player, source_id, source_sha256):
        """One protect and restore of the source; the run's result."""
        plugin = self.plugin(player)
        result = run_result(number, player, self.poll_interval(plugin, player))
        resources = [self._resource(source_id)]
        restore_name = f"compare-{number}-{player.name}-{uuid.uuid4().hex[:8]}"
        checkpoint = None
        try:
            with self.conditions(player):
                checkpoint = self.flows.checkpoint(resources)
                start = time.perf_counter()
                self.flows.protect(plugin, checkpoint, resources,
                                   {VOLUME: {"backup_name": restore_name}})
                result["protect_seconds"] = time.perf_counter() - start
                start = time.perf_counter()
                self.flows.restore(plugin, checkpoint, resources,
                                   {VOLUME: {"restore_name": restore_name}})
                result["restore_seconds"] = time.perf_counter() - start
            restored = self._volumes_named(restore_name)
            if len(restored) != 1:
                raise RuntimeError(f"{len(restored)} volumes named {restore_name} "
                                   "after the restore, not 1")
            result["restore_exact"] = file_sha256(
                self.volume_path(restored[0])) == source_sha256
        except Exception as exc:  # one failed run must not hide the others
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self._clean(result, plugin, player, checkpoint, resources, source_id)
        return result

    def _resource(self, volume_id):
        from karbor.resource import Resource

        return Resource(type=VOLUME, id=volume_id, name="compare-source")

    def _volumes_named(self, name):
        return [volume.id for volume in self.cloud.cinder.volumes.list()
                if volume.name == name]

    def _clean(self, result, plugin, player, checkpoint, resources, source_id):
        """Delete the checkpoint's data (the plugin's own delete) and
        everything in the cloud but the source volume; a failure joins the
        run's error."""
        steps = [lambda: sweep(self.cloud, keep=source_id)]
        if checkpoint is not None:
            def delete():
                with self.conditions(player):
                    self.flows.delete(plugin, checkpoint, resources)
            steps.insert(0, delete)
        for step in steps:
            try:
                step()
            except Exception as exc:
                result["error"] = "; ".join(filter(None, [
                    result["error"], f"cleanup: {type(exc).__name__}: {exc}"]))


def sweep(cloud, keep):
    """Delete every image, snapshot and volume but the volume ``keep``."""
    for image in list(cloud.glance.images.list()):
        cloud.delete_image(image["id"])
    for snapshot in cloud.cinder.volume_snapshots.list():
        cloud.delete_snapshot(snapshot.id)
    for volume in cloud.cinder.volumes.list():
        if volume.id != keep:
            cloud.delete_volume(volume.id)


def compare_case(args):
    """``(size, pattern)`` of the comparison: the first of each list given;
    :data:`DEFAULT_PATTERN` when ``--pattern`` was left at its default."""
    from tools.bench import options

    pattern = args.pattern[0]
    if list(args.pattern) == list(options.DEFAULT_PATTERNS):
        pattern = DEFAULT_PATTERN
    if pattern not in _data_patterns():
        raise SystemExit(f"--compare karbor takes a data pattern, not {pattern}")
    return args.size[0], pattern


def _data_patterns():
    from tools.bench.patterns import PATTERNS

    return PATTERNS


def main(args, out, err):
    """Run the comparison; 0 when every run restored the exact bytes."""
    import shutil

    from tools.bench import banks, parent
    from tools.bench.cloudproc import LocalCloudProcess

    karbor = import_karbor()
    size, pattern = compare_case(args)
    workdir = parent.make_workdir(args.keep)
    cloud_process = LocalCloudProcess(os.path.join(workdir, "cloud"),
                                      os.path.join(workdir, "localcloud.log"),
                                      status_delay=args.status_delay)
    runs = []
    try:
        with parent.sigterm_as_exit(), contextlib.ExitStack() as stack:
            stack.enter_context(banks.no_instance_metadata())
            stack.enter_context(cloud_process)
            runs = compare(karbor, args, cloud_process, workdir, size, pattern,
                           contestants(args.poll_interval), out, err)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    good = all(run["error"] is None and run["restore_exact"] for run in runs)
    return 0 if runs and good else 1


def compare(karbor, args, cloud_process, workdir, size, pattern, players, out,
            err):
    """The runs of ``players`` (``args.rounds`` rounds) on a new source
    volume of ``size`` bytes of ``pattern`` in the started ``cloud_process``,
    the bank in ``workdir``; writes the notes, the progress and the report."""
    import types as pytypes

    from karbor_volume_glance import conf
    from karbor_volume_glance.cloud import facade, factory
    from karbor_volume_glance.testing import FakeContext
    from tools.bench import measure, parent
    from tools.bench.cloudproc import ADMIN_CLOUD

    clouds_yaml = cloud_process.write_clouds_yaml(
        os.path.join(workdir, "clouds.yaml"), parent.API_TIMEOUT)
    waits = max(options_timeout(args, size), parent.MIN_WAIT)
    ours_config = conf.make_config(
        poll_interval=args.poll_interval, snapshot_timeout=waits,
        volume_timeout=waits, image_timeout=waits)
    client_factory = factory.from_cloud_config(ADMIN_CLOUD, clouds_yaml)
    project_id = client_factory.session.get_project_id()
    cloud = facade.Cloud(client_factory,
                         pytypes.SimpleNamespace(project_id=project_id),
                         conf.load_settings(ours_config))
    bank_path = os.path.join(workdir, "bank")
    flows = KarborFlows(karbor, file_bank_plugin(bank_path),
                        FakeContext(project_id=project_id, user_id="bench"))
    source_id = measure.create_source_volume(cloud, pattern, size,
                                             "compare-source")
    source_sha256 = file_sha256(cloud_process.volume_path(source_id))
    notes = [
        f"compare karbor: a {measure.volume_gib(size)} GiB volume with "
        f"{size / measure.MiB:g} MiB of {pattern} data, {args.rounds} "
        f"round(s), contestants alternating; the local cloud's status "
        f"delay {args.status_delay:g} s",
        f"bank: Karbor's Bank over volume-glance-file-bank at {bank_path}",
        chunksize_note(glanceclient_chunksize()),
        "each plugin runs in Karbor 1.6's own checkpoint and resource flow "
        "(its green-thread executor, not monkey-patched) in this process; "
        "every restore is checked byte for byte",
        machine_note(),
    ]
    progress = err if args.json else out
    progress.write("".join(f"# {line}\n" for line in notes))
    progress.flush()
    comparison = Comparison(karbor, flows, cloud, client_factory,
                            cloud_process.volume_path, ours_config)
    runs = []
    for number, player in schedule(players, args.rounds):
        result = comparison.run(number, player, source_id, source_sha256)
        runs.append(result)
        if args.json:
            out.write(json.dumps({"kind": "run", **result}) + "\n")
        else:
            err.write(f"# round {number} {player.name}: protect "
                      f"{_fmt(result['protect_seconds'])} s, restore "
                      f"{_fmt(result['restore_seconds'])} s, exact "
                      f"{result['restore_exact']}"
                      f"{'; ' + result['error'] if result['error'] else ''}\n")
            err.flush()
    summary = summarize(runs)
    lines = json_lines([], summary) if args.json else table_lines(runs, summary)
    out.write("".join(line + "\n" for line in lines))
    out.flush()
    return runs


def options_timeout(args, size):
    from tools.bench import measure, options

    return options.case_timeout(args, measure.volume_gib(size) * measure.GiB)
