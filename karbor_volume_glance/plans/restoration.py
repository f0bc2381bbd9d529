"""``plan restore``: every volume of one of the plan's checkpoints, at a site.

After the readiness check (bank and the site's cloud), each volume of the
checkpoint is restored with the plan's restore options for it (the plan's
defaults for a volume the plan no longer lists), ``parallelism`` at a time on
the parallel engine (:mod:`.engine`). Each volume's outcome names its new
volume, or its error; one failing does not stop the others. The checkpoint
must be the plan's and ``available``, or ``error`` (its good volumes can be
restored; the others fail, each with its reason). ``latest`` names the
plan's newest available checkpoint. Nothing in the bank changes.
"""

from oslo_log import log as logging

from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.plans import catalog, engine, progress
from karbor_volume_glance.plans.errors import PlanError
from karbor_volume_glance.plans.results import PlanResult
from karbor_volume_glance.standalone.hooks import run_operation
from karbor_volume_glance.standalone.records import OperationRecord

LOG = logging.getLogger(__name__)

LATEST = "latest"
RESTORABLE = (CheckpointStatus.AVAILABLE, CheckpointStatus.ERROR)


def restore(runner, plan, site, checkpoint_id, parallelism=None):
    """Restore the checkpoint's volumes at ``site`` with ``runner`` (of that
    site and the plan's bank); a :class:`~.results.PlanResult` whose outcomes
    carry the new volume ids."""
    plan = catalog.bound(plan, runner.caller)
    runner.ensure_ready()
    if checkpoint_id == LATEST:
        checkpoint_id = catalog.latest_available(runner.store, plan,
                                                 runner.caller)
    checkpoint = catalog.require_plan(runner.checkpoint(checkpoint_id), plan,
                                      runner.caller)
    if checkpoint.status not in RESTORABLE:
        raise PlanError(f"checkpoint {checkpoint.id} is {checkpoint.status}; "
                        "only an available (or error) checkpoint can be "
                        "restored", plan.source)
    resources = checkpoint.resources
    parameters = plan.restore_parameters([r.id for r in resources])
    report = progress.serialized(runner.progress)

    def job(resource):
        new_resources = {}
        operation = runner.plugin.get_restore_operation(resource)
        run_operation(operation, checkpoint, resource, runner.context,
                      parameters[resource.id], progress=report,
                      restore=OperationRecord(), new_resources=new_resources)
        return new_resources.get(resource.id)

    LOG.info("Plan %s: restoring %d volumes of checkpoint %s at %s",
             plan.name, len(resources), checkpoint.id, site.name)
    outcomes = engine.run(
        f"plan-restore-{checkpoint.id}",
        [(resource.id, _bind(job, resource)) for resource in resources],
        parallelism or plan.parallelism)
    return PlanResult(checkpoint.id, outcomes, plan=plan.name, site=site.name,
                      status=checkpoint.status)


def _bind(job, resource):
    return lambda: job(resource)
