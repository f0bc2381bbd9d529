"""Running one job per volume on a bounded taskflow parallel engine.

The flow is Karbor's shape for a checkpoint: a linear flow of a ``begin``
task, an unordered flow of one task per volume, and a ``finish`` task that
gets every volume's outcome. It runs on taskflow's ``parallel`` engine with
a thread executor of ``parallelism`` workers, so at most that many volumes
run at once (each volume's own transfer has its own chunk parallelism).

A volume's task never fails the flow: the job's error becomes that volume's
:class:`~karbor_volume_glance.standalone.runner.Outcome`, and the others go
on. Only ``begin`` or ``finish`` failing (the bank refusing the checkpoint's
status) fails the flow; taskflow then reverts, and ``begin``'s revert
(``abort``) records the failure on the checkpoint before the error is
raised.

No taskflow persistence backend is used (the engine keeps its state in
memory): the bank already records every volume's outcome durably — a
volume's section is ``available`` only once its backup is complete — and it
is the record every site and machine shares, where a taskflow logbook would
be local to the machine that ran the flow and could disagree with the bank.
Resuming a failed or killed run is therefore done from the bank (see
:mod:`.protection`). An interrupted run (Ctrl-C) lets the volumes at work
finish, so that they clean up their temporary resources, and starts no
other; its checkpoint stays ``protecting``, to be resumed.
"""

import warnings
from concurrent import futures

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.standalone.runner import Outcome

LOG = logging.getLogger(__name__)


def _taskflow():
    """taskflow's engines, task and patterns, imported when first needed.

    Importing it imports eventlet, whose deprecation warning says nothing to
    our users (as with oslo.messaging in the notifier).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from taskflow import engines, task
        from taskflow.patterns import linear_flow, unordered_flow
    return engines, task, linear_flow, unordered_flow


def attempt(volume_id, job):
    """Run ``job()`` (it returns a new volume id or None) as one volume's
    outcome: an error is recorded, never raised."""
    try:
        new_volume_id = job()
    except exceptions.VolumeGlanceError as exc:
        return Outcome(volume_id, False, str(exc))
    except Exception as exc:  # a bug must not stop the other volumes either
        LOG.exception("Volume %s failed unexpectedly", volume_id)
        return Outcome(volume_id, False, f"unexpected {type(exc).__name__}: {exc}")
    return Outcome(volume_id, True, new_volume_id=new_volume_id)


def _outcome_key(volume_id):
    return f"outcome:{volume_id}"


def _build(name, jobs, begin, abort, finish):
    engines, task, linear_flow, unordered_flow = _taskflow()

    class VolumeTask(task.Task):
        """One volume's job; provides its Outcome."""

        def __init__(self, volume_id, job):
            super().__init__(name=f"volume:{volume_id}",
                             provides=_outcome_key(volume_id))
            self._volume_id = volume_id
            self._job = job

        def execute(self):
            return attempt(self._volume_id, self._job)

    class BeginTask(task.Task):
        def execute(self):
            begin()

        def revert(self, *args, **kwargs):
            abort(kwargs.get("flow_failures") or {})

    class FinishTask(task.Task):
        def __init__(self, volume_ids):
            super().__init__(name="finish", provides="outcomes",
                             requires=[_outcome_key(v) for v in volume_ids])
            self._volume_ids = volume_ids

        def execute(self, **outcomes):
            ordered = [outcomes[_outcome_key(v)] for v in self._volume_ids]
            finish(ordered)
            return ordered

    volumes = unordered_flow.Flow(f"{name}-volumes").add(
        *(VolumeTask(volume_id, job) for volume_id, job in jobs))
    return engines, linear_flow.Flow(name).add(
        BeginTask(name="begin"), volumes, FinishTask([v for v, _ in jobs]))


def run(name, jobs, parallelism, begin=None, abort=None, finish=None):
    """Run ``jobs`` (``[(volume_id, job), ...]``, ids unique) at most
    ``parallelism`` at a time; return their Outcomes in ``jobs``' order.

    ``begin()`` runs first, ``finish(outcomes)`` once every job is done,
    and ``abort(failures)`` when ``begin`` or ``finish`` failed (taskflow's
    revert), before the failure is raised.
    """
    if not jobs:
        if begin:
            begin()
        if finish:
            finish([])
        return []
    engines, flow = _build(name, list(jobs), begin or _nothing,
                           abort or _nothing, finish or _nothing)
    # our own pool: futurist's (executor="threaded") takes a second to stop
    pool = futures.ThreadPoolExecutor(max_workers=parallelism,
                                      thread_name_prefix="plan")
    try:
        engine = engines.load(flow, engine="parallel", executor=pool)
        engine.run()
    finally:
        # interrupted (Ctrl-C): the volumes at work finish, which cleans up
        # their temporary resources; the queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)
    return engine.storage.fetch("outcomes")


def _nothing(*args):
    return None
