"""Finding a plan's checkpoints in the bank, in the order they were made.

Every checkpoint is listed under Karbor's by-plan index,
``/indices/by-plan/<plan id>/<project>/<date>/<timestamp>@<id>``; a plan's
checkpoints are those under its ids (:attr:`~.model.Plan.ids`) that the
caller *owns* (by project id, or by project and domain names at another
site, whose Keystone gives the same tenant its own project id: see
:mod:`karbor_volume_glance.standalone.tenancy`) and that hold only the
plan's volumes. So ``plan list``, ``restore`` and ``prune`` never touch
another owner's checkpoint, even one filed under the same plan id (a
hand-written ``id:`` copied from another team's file). Deleted checkpoints
are unlisted by their delete, so they do not appear.

A plan checkpoint's ``extra_info`` holds ``plan``: ``{"name", "site",
"cloud", "created_at", "runs"}`` where ``created_at`` is the moment it was
made, to the microsecond (the index's ``timestamp`` has whole seconds, and a
plan can be protected twice in one second), and ``runs`` counts the protect
runs (1, plus one per resume); and, when volumes failed, ``failed_volumes``
(volume id -> error), as the standalone runner writes it.
"""

import datetime

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import checkpoint as record_format
from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.plans.errors import PlanError
from karbor_volume_glance.standalone import tenancy

LOG = logging.getLogger(__name__)

PLAN_INFO = "plan"
FAILED_VOLUMES = "failed_volumes"


def plan_info(checkpoint):
    """The plan's record in the checkpoint's ``extra_info`` ({} if none)."""
    extra = checkpoint.index.get("extra_info")
    info = extra.get(PLAN_INFO) if isinstance(extra, dict) else None
    return info if isinstance(info, dict) else {}


def failed_volumes(checkpoint):
    extra = checkpoint.index.get("extra_info")
    failed = extra.get(FAILED_VOLUMES) if isinstance(extra, dict) else None
    return failed if isinstance(failed, dict) else {}


def plan_id_of(checkpoint):
    return (checkpoint.index.get("protection_plan") or {}).get("id")


def bound(plan, caller):
    """``plan`` owned by ``caller`` (as it is, when already bound)."""
    return plan if plan.owner is not None else plan.for_caller(caller)


def belongs(checkpoint, plan, caller):
    """Whether ``checkpoint`` is one of ``plan``'s, owned by ``caller``, and
    holds only the plan's volumes."""
    volumes = set(plan.volume_ids)
    try:
        resources = {r.id for r in checkpoint.resources}
    except (KeyError, TypeError, ValueError):
        return False
    return (plan_id_of(checkpoint) in plan.ids
            and tenancy.owns(checkpoint.index, caller)
            and bool(resources) and resources <= volumes)


def require_plan(checkpoint, plan, caller=None):
    """Raise PlanError unless ``checkpoint`` was made by ``plan`` (and, with
    ``caller``, is the caller's and holds only the plan's volumes)."""
    if plan_id_of(checkpoint) not in plan.ids:
        other = (checkpoint.index.get("protection_plan") or {}).get("name")
        raise PlanError(f"checkpoint {checkpoint.id} is not a checkpoint of "
                        f"plan {plan.name!r} (its plan: {other!r})", plan.source)
    if caller is not None and not belongs(checkpoint, plan, caller):
        raise exceptions.CheckpointNotFound(checkpoint.id)
    return checkpoint


def created_at(checkpoint):
    """When the checkpoint was made, ISO 8601 in UTC, as precise as known."""
    precise = plan_info(checkpoint).get("created_at")
    if isinstance(precise, str):
        return precise
    stamp = checkpoint.index.get("timestamp") or 0
    return datetime.datetime.fromtimestamp(stamp, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def order_key(checkpoint):
    """Sorts checkpoints oldest first (ties broken by id, for a stable order)."""
    return (checkpoint.index.get("timestamp") or 0, created_at(checkpoint),
            checkpoint.id)


def checkpoints(store, plan, caller):
    """The plan's listed checkpoints in ``store`` that :func:`belongs` to
    ``caller``, oldest first."""
    indices = store.bank.get_sub_section(record_format.INDICES_ROOT)
    ids = set()
    for plan_id in plan.ids:
        for key in compat.list_all(indices,
                                   prefix=record_format.plan_prefix(plan_id)):
            try:
                ids.add(record_format.parse_index_key(key)[1])
            except exceptions.InvalidBankKey as exc:
                LOG.warning("Plan %s: %s", plan.name, exc)
    found = []
    for checkpoint_id in ids:
        try:
            checkpoint = store.get(checkpoint_id)
        except exceptions.CheckpointNotFound:
            LOG.warning("The by-plan index of plan %s lists checkpoint %s, "
                        "which is not in the bank", plan.name, checkpoint_id)
            continue
        except (exceptions.InvalidCheckpointRecord,
                exceptions.CheckpointNotAuthentic) as damage:
            LOG.warning("Plan %s: %s", plan.name, damage)
            continue
        if belongs(checkpoint, plan, caller):
            found.append(checkpoint)
    return sorted(found, key=order_key)


def latest_available(store, plan, caller):
    """The id of the plan's newest ``available`` checkpoint; PlanError if none."""
    available = [c for c in checkpoints(store, plan, caller)
                 if c.status == CheckpointStatus.AVAILABLE]
    if not available:
        raise PlanError(f"plan {plan.name!r} has no available checkpoint",
                        plan.source)
    return available[-1].id


def summary(checkpoint, volumes=None):
    """A row of ``plan list``: the checkpoint, and from ``volumes`` (volume
    id -> what ``show`` tells of its backup) which backups are incremental."""
    volumes = volumes or {}
    return {
        "id": checkpoint.id,
        "created_at": created_at(checkpoint),
        "status": checkpoint.status,
        "site": plan_info(checkpoint).get("site"),
        "volumes": [r.id for r in checkpoint.resources],
        "incremental": [volume_id for volume_id, info in volumes.items()
                        if info.get("incremental")],
        "failed": sorted(failed_volumes(checkpoint)),
    }


def listing(runner, plan):
    """``plan list``: a :func:`summary` per checkpoint of the plan, oldest
    first, reading each volume's backup details from the bank (read only,
    so without the readiness probe, which writes, as the plain ``list``)."""
    plan = bound(plan, runner.caller)
    return [summary(checkpoint, runner.show(checkpoint.id).get("volumes"))
            for checkpoint in checkpoints(runner.store, plan, runner.caller)]
