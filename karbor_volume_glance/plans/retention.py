"""``plan prune --keep N``: which of a plan's checkpoints go, and deleting them.

:func:`select` decides, from the plan's checkpoints oldest first:

- the newest ``keep`` (at least 1) ``available`` checkpoints are kept;
- older ``available`` checkpoints are deleted;
- failed checkpoints (``error``, or ``error-deleting`` from a delete that
  failed) older than the newest available checkpoint are deleted: a newer
  complete checkpoint supersedes them. Newer ones are kept, to be resumed;
- ``protecting`` and ``deleting`` checkpoints are never touched (a run may
  still be at work on them) and are reported as skipped.

:func:`prune` deletes the chosen checkpoints oldest first, one at a time,
each through the standalone runner's delete and so through the plugin's
delete operation: it keeps the chunks that later (incremental) backups still
reference and removes them once nothing uses them, so pruning never breaks
a kept checkpoint, whatever the chain. A delete that fails leaves that
checkpoint ``error-deleting`` (a later prune retries it) and does not stop
the others. Only the caller's own checkpoints of the plan are candidates
(:func:`.catalog.checkpoints`), whatever the plan file says, and each
delete checks the owner again. It first checks that the bank answers
(NotReady otherwise);
no cloud is needed. With ``dry_run`` nothing is deleted (nor probed).
"""

import dataclasses

from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.plans import catalog
from karbor_volume_glance.plans.errors import PlanError

FAILED = (CheckpointStatus.ERROR, CheckpointStatus.ERROR_DELETING)
IN_PROGRESS = (CheckpointStatus.PROTECTING, CheckpointStatus.DELETING)


@dataclasses.dataclass
class Selection:
    """Checkpoints to keep, to delete (with why), and to leave alone."""

    keep: list
    delete: list  # [(checkpoint, reason)]
    skip: list


def select(checkpoints, keep):
    """Split ``checkpoints`` (oldest first) as the module docstring says."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise PlanError(f"--keep must be at least 1, got {keep!r}")
    available = [c for c in checkpoints if c.status == CheckpointStatus.AVAILABLE]
    kept = available[-keep:]
    newest = available[-1] if available else None
    newest_key = catalog.order_key(newest) if newest else None
    selection = Selection([], [], [])
    for checkpoint in checkpoints:
        if checkpoint.status == CheckpointStatus.AVAILABLE:
            if checkpoint in kept:
                selection.keep.append(checkpoint)
            else:
                selection.delete.append(
                    (checkpoint, f"older than the newest {keep} available"))
        elif checkpoint.status in FAILED:
            if newest_key is not None and catalog.order_key(checkpoint) < newest_key:
                selection.delete.append(
                    (checkpoint, f"{checkpoint.status}, older than the newest "
                     "available"))
            else:
                selection.keep.append(checkpoint)
        else:
            selection.skip.append(checkpoint)
    return selection


def prune(runner, plan, keep, dry_run=False):
    """Delete what :func:`select` chooses among the plan's checkpoints.

    Returns ``{"plan", "keep", "dry_run", "deleted": [rows], "kept": [ids],
    "skipped": [rows]}``; each deleted row has the checkpoint's id,
    created_at, status (before), reason and ``ok`` (and ``error``).
    """
    plan = catalog.bound(plan, runner.caller)
    if not dry_run:
        runner.ensure_ready(cloud=False)  # the bank only: deletes need no cloud
    selection = select(catalog.checkpoints(runner.store, plan, runner.caller),
                       keep)
    deleted = []
    for checkpoint, reason in selection.delete:
        row = {"id": checkpoint.id, "created_at": catalog.created_at(checkpoint),
               "status": checkpoint.status, "reason": reason}
        if not dry_run:
            # the runner checks again that the caller owns it
            result = runner.delete(checkpoint.id)
            row["ok"] = result.ok
            if not result.ok:
                row["error"] = "; ".join(f"volume {o.volume_id}: {o.error}"
                                         for o in result.failures())
        deleted.append(row)
    return {
        "plan": plan.name,
        "keep": keep,
        "dry_run": dry_run,
        "deleted": deleted,
        "kept": [c.id for c in selection.keep],
        "skipped": [{"id": c.id, "status": c.status,
                     "reason": "in progress" if c.status in IN_PROGRESS
                     else "neither available nor failed"}
                    for c in selection.skip],
    }
