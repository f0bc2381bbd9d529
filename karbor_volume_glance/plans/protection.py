"""``plan protect``: one checkpoint holding every volume of a plan.

A run, at one site of the plan:

1. checks that the bank and the site's cloud answer (``NotReady`` otherwise,
   and nothing is created);
2. creates a checkpoint (Karbor's layout, ``protecting``) with the plan's
   name and id and every volume of the plan, and ``extra_info.plan`` (see
   :mod:`.catalog`);
3. runs each volume's protect hooks, as the standalone runner does, on the
   parallel engine (:mod:`.engine`), ``parallelism`` volumes at once; a
   volume that fails is recorded and the others go on;
4. ends the checkpoint ``available``, or ``error`` with
   ``extra_info.failed_volumes`` naming each failed volume and its error.

Resuming (``resume=CHECKPOINT``) redoes, in that checkpoint, only the
volumes whose backup is not ``available`` in the bank — those that failed,
and those a killed run never finished or never started — with the plan's
current options, and then decides the checkpoint's status again from all of
its volumes. The checkpoint must be the plan's, ``error`` or ``protecting``,
and resumed at the site that made it (its volumes live there). A
``protecting`` checkpoint is taken to be a killed run's: resuming one that is
still running elsewhere would protect its volumes twice at once. A volume the
plan no longer lists cannot be redone (its options are gone); volumes added
to the plan since are not added to the old checkpoint. A redone volume's
backup is written over what its failed attempt left in its bank section.
"""

import datetime

from oslo_log import log as logging

from karbor_volume_glance.format.status import BackupStatus, CheckpointStatus
from karbor_volume_glance.plans import catalog, engine, progress
from karbor_volume_glance.plans.errors import PlanError
from karbor_volume_glance.plans.results import PlanResult
from karbor_volume_glance.standalone.hooks import run_operation
from karbor_volume_glance.standalone.resources import volume_resource
from karbor_volume_glance.standalone.runner import Outcome

LOG = logging.getLogger(__name__)

RESUMABLE = (CheckpointStatus.ERROR, CheckpointStatus.PROTECTING,
             CheckpointStatus.AVAILABLE)
#: extra_info's record of a run that failed outside the volumes.
FLOW_FAILURE = "flow_failure"


def protect(runner, plan, site, resume=None, parallelism=None, now=None):
    """Protect the plan's volumes at ``site`` (a :class:`~.model.Site`) with
    ``runner`` (a standalone Runner of that site and the plan's bank).

    Returns a :class:`~.results.PlanResult`; raises NotReady before anything
    is created, PlanError for a checkpoint that cannot be resumed.
    """
    plan = catalog.bound(plan, runner.caller)
    runner.ensure_ready()
    if resume is None:
        runner.check_protect(plan.volume_ids,
                             plan.protect_parameters(plan.volume_ids))
        checkpoint = _create(runner, plan, site, now)
        todo, kept = plan.volume_ids, []
    else:
        checkpoint = runner.owned_checkpoint(resume)
        todo, kept = _unfinished(runner, plan, site, checkpoint)
        if not todo and checkpoint.status == CheckpointStatus.AVAILABLE:
            return _result(plan, site, checkpoint, [], kept)
    parameters = plan.protect_parameters(todo)
    report = progress.serialized(runner.progress)

    def job(volume_id):
        resource = volume_resource(volume_id)
        operation = runner.plugin.get_protect_operation(resource)
        run_operation(operation, checkpoint, resource, runner.context,
                      parameters[volume_id], progress=report)

    LOG.info("Plan %s: checkpoint %s, protecting %d volumes at %s",
             plan.name, checkpoint.id, len(todo), site.name)
    with runner.checkpoint_run(checkpoint):
        outcomes = engine.run(
            f"plan-protect-{checkpoint.id}",
            [(volume_id, _bind(job, volume_id)) for volume_id in todo],
            parallelism or plan.parallelism,
            begin=lambda: _begin(checkpoint),
            abort=lambda failures: _abort(checkpoint, failures),
            finish=lambda done: _finish(checkpoint, done),
        )
    return _result(plan, site, checkpoint, outcomes, kept)


def _bind(job, volume_id):
    return lambda: job(volume_id)


def _create(runner, plan, site, now):
    now = now or datetime.datetime.now(datetime.UTC)
    info = {"name": plan.name, "site": site.name, "cloud": site.cloud,
            "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "runs": 0}
    runner.open_record_key(create=True)  # sealed on an encrypted bank
    return runner.store.create(
        [volume_resource(volume_id) for volume_id in plan.volume_ids],
        runner.context.project_id, plan_name=plan.name, plan_id=plan.id,
        extra_info={catalog.PLAN_INFO: info}, now=now,
        owner=runner.caller.owner_record())


def _unfinished(runner, plan, site, checkpoint):
    """(volume ids to redo, volume ids already protected) of a checkpoint."""
    catalog.require_plan(checkpoint, plan, runner.caller)
    if checkpoint.status not in RESUMABLE:
        raise PlanError(f"checkpoint {checkpoint.id} is {checkpoint.status}; "
                        "only an error or protecting checkpoint has "
                        "volumes to redo", plan.source)
    made_at = catalog.plan_info(checkpoint).get("site")
    if made_at is not None and made_at != site.name:
        raise PlanError(f"checkpoint {checkpoint.id} was made at site "
                        f"{made_at!r}, where its volumes are; resume it there, "
                        f"not at {site.name!r}", plan.source)
    todo, kept = [], []
    for resource in checkpoint.resources:
        info = runner.plugin.get_saved_info(checkpoint, resource) or {}
        (kept if info.get("status") == BackupStatus.AVAILABLE else todo).append(
            resource.id)
    plan.protect_parameters(todo)  # every volume to redo must be in the plan
    return todo, kept


def _extra_info(checkpoint):
    extra = checkpoint.index.get("extra_info")
    if not isinstance(extra, dict):
        extra = checkpoint.index["extra_info"] = {}
    extra.setdefault(catalog.PLAN_INFO, {})
    return extra


def _begin(checkpoint):
    info = _extra_info(checkpoint)[catalog.PLAN_INFO]
    info["runs"] = int(info.get("runs") or 0) + 1
    checkpoint.set_status(CheckpointStatus.PROTECTING)


def _finish(checkpoint, outcomes):
    """The checkpoint's status from this run's outcomes (the volumes not run
    again are available)."""
    extra = _extra_info(checkpoint)
    failed = {o.volume_id: o.error for o in outcomes if not o.ok}
    extra.pop(catalog.FAILED_VOLUMES, None)
    extra.pop(FLOW_FAILURE, None)
    if failed:
        extra[catalog.FAILED_VOLUMES] = failed
    checkpoint.set_status(CheckpointStatus.ERROR if failed
                          else CheckpointStatus.AVAILABLE)


def _abort(checkpoint, failures):
    """The flow failed outside the volumes: record it, if the bank lets us."""
    try:
        reasons = {name: str(failure.exception)
                   for name, failure in dict(failures).items()}
        _extra_info(checkpoint)[FLOW_FAILURE] = reasons or "interrupted"
        checkpoint.set_status(CheckpointStatus.ERROR)
    except Exception:
        LOG.exception("Could not mark checkpoint %s error", checkpoint.id)


def _result(plan, site, checkpoint, outcomes, kept):
    by_id = {outcome.volume_id: outcome for outcome in outcomes}
    ordered = [by_id.get(r.id) or Outcome(r.id, True)
               for r in checkpoint.resources]
    return PlanResult(checkpoint.id, ordered, plan=plan.name, site=site.name,
                      status=checkpoint.status, kept=list(kept))
