"""Runs: the journal and the lease of one protect, restore or delete, and the
tags on the cloud resources a run makes. Pure: dicts in and out, no I/O.

Every protect, restore and delete is a *run* with a section of its own in
the bank, written before the run touches anything::

    /volume_glance/runs/<volume id>/<run id>/
        journal   what the run is and every resource it made (below)
        lease     who runs it and when it last said so (below)

The **journal** (:func:`new_journal`) holds ``format`` (1), ``run_id``,
``operation`` (``protect``, ``restore`` or ``delete``), ``checkpoint_id``,
``volume_id``, ``bank`` (the bank's owner id), ``project_id`` (the cloud
project the run works in), ``host``, ``pid``, ``started_at`` and
``resources``: one record per cloud resource, appended *before* the call
that creates it (:func:`intend`): ``{"kind": "snapshot" | "volume" |
"image", "name", "role": "temporary" | "restored", "id": null, "state":
"intended", "at"}``; ``id`` is filled in and ``state`` becomes ``created``
as soon as the cloud returns the id; then ``deleted`` once it is gone, or
``kept`` (a restored volume the restore finished, a temporary one it could
not delete is ``left``).

The **lease** (:func:`new_lease`) holds ``run_id``, ``host``, ``pid``,
``renewed_at`` (UTC, ISO 8601, the writer's clock) and ``lease_seconds``;
the run rewrites it every ``lease_seconds / 3``. A run whose lease is older
than ``lease_seconds`` is dead (:func:`is_dead`). The clock is the hosts':
a live lease is at most ``lease_seconds / 3`` old (and one bank write), so a
reader whose clock is up to ``2/3 × lease_seconds`` ahead of the writer's
still sees it alive.

The standalone runner (the command line's ``protect`` and ``plan
protect``) keeps a run for the checkpoint itself, under the "volume"
``checkpoint@<checkpoint id>``, with no resources: a runner killed between
two volumes leaves it, so the checkpoint is found too.

A finished run (success or a handled failure, with its temporary resources
deleted) removes its section. So a run section found with a dead lease is a
run that died; and a resource carrying a run's tags whose run has no section
any more is a leftover of a finished run.

**Tags** (:func:`tags`): every resource a run makes carries them, Cinder
volume and snapshot ``metadata`` and Glance image properties, set in the
create call itself (an image made by Cinder's upload-to-image gets them
right after Cinder returns its id): :data:`RUN_TAG`,
:data:`CHECKPOINT_TAG`, :data:`VOLUME_TAG`, :data:`BANK_TAG`, and
:data:`TEMPORARY_TAG` ``"true"`` on temporary resources or
:data:`UNFINISHED_TAG` ``"true"`` on a restore's new volume until the
restore completes, when every tag is removed from it.
"""

import datetime

FORMAT = 1
RUNS_ROOT = "/volume_glance/runs/"
JOURNAL_KEY = "journal"
LEASE_KEY = "lease"

PROTECT, RESTORE, DELETE = "protect", "restore", "delete"
OPERATIONS = (PROTECT, RESTORE, DELETE)

#: Resource roles: deleted on every path, or a restore's result.
TEMPORARY, RESTORED = "temporary", "restored"
#: Resource states in the journal.
INTENDED, CREATED, DELETED, KEPT, LEFT = (
    "intended", "created", "deleted", "kept", "left")
KINDS = ("snapshot", "volume", "image")

RUN_TAG = "kvg_run_id"
CHECKPOINT_TAG = "kvg_checkpoint_id"
VOLUME_TAG = "kvg_volume_id"
BANK_TAG = "kvg_bank"
TEMPORARY_TAG = "kvg_temporary"
UNFINISHED_TAG = "kvg_unfinished"
#: On a restore's temporary image Glance could not delete: what made it,
#: and the volume that holds it (a clone of it: delete it once that is gone).
LEFTOVER_TAG = "kvg_leftover_of"
HOLDER_TAG = "kvg_held_by_volume"
#: Every tag a run sets; a restored volume loses all of them.
TAGS = (RUN_TAG, CHECKPOINT_TAG, VOLUME_TAG, BANK_TAG, TEMPORARY_TAG,
        UNFINISHED_TAG)

#: The reason a dead protect's backup and checkpoint get.
RUN_DIED = "run died"


#: The "volume" under which a checkpoint's own run (the standalone runner's
#: protect of all its volumes) is kept: ``checkpoint@<checkpoint id>``.
CHECKPOINT_RUN = "checkpoint@"


def checkpoint_run(checkpoint_id):
    return f"{CHECKPOINT_RUN}{checkpoint_id}"


def is_checkpoint_run(volume_id):
    return volume_id.startswith(CHECKPOINT_RUN)


def volume_prefix(volume_id):
    """The section holding every run of one volume."""
    return f"{RUNS_ROOT}{volume_id}/"


def run_prefix(volume_id, run_id):
    """The run's own section."""
    return f"{volume_prefix(volume_id)}{run_id}/"


def parse_run_key(key):
    """``(volume id, run id)`` of a key under :data:`RUNS_ROOT` (relative
    to it or absolute), or None for a key that is not a run's object."""
    if key.startswith(RUNS_ROOT):
        key = key[len(RUNS_ROOT):]
    parts = key.strip("/").split("/")
    if len(parts) != 3 or parts[2] not in (JOURNAL_KEY, LEASE_KEY):
        return None
    return parts[0], parts[1]


def _time(moment):
    return moment.astimezone(datetime.UTC).isoformat()


def new_journal(run_id, operation, checkpoint_id, volume_id, bank, project_id,
                host, pid, now):
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    return {"format": FORMAT, "run_id": run_id, "operation": operation,
            "checkpoint_id": checkpoint_id, "volume_id": volume_id,
            "bank": bank, "project_id": project_id, "host": host, "pid": pid,
            "started_at": _time(now), "resources": []}


def intend(journal, kind, name, role, now):
    """Append a resource about to be made; its index in ``resources``."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    if role not in (TEMPORARY, RESTORED):
        raise ValueError(f"unknown role {role!r}")
    journal["resources"].append({"kind": kind, "name": name, "role": role,
                                 "id": None, "state": INTENDED,
                                 "at": _time(now)})
    return len(journal["resources"]) - 1


def created(journal, index, resource_id):
    record = journal["resources"][index]
    record["id"], record["state"] = resource_id, CREATED


def set_state(journal, index, state):
    if state not in (INTENDED, CREATED, DELETED, KEPT, LEFT):
        raise ValueError(f"unknown state {state!r}")
    journal["resources"][index]["state"] = state


def parse_journal(raw):
    """A journal read from the bank, checked; ValueError if it is not one."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError("not a run journal of format 1")
    for key in ("run_id", "operation", "volume_id"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"run journal without {key}")
    if raw["operation"] not in OPERATIONS:
        raise ValueError(f"unknown operation {raw['operation']!r}")
    resources = raw.get("resources")
    if not isinstance(resources, list) or not all(
            isinstance(r, dict) and r.get("kind") in KINDS
            and r.get("role") in (TEMPORARY, RESTORED)
            and (r.get("id") is None or isinstance(r.get("id"), str))
            for r in resources):
        raise ValueError("run journal with malformed resources")
    return raw


def new_lease(run_id, host, pid, lease_seconds, now):
    return {"run_id": run_id, "host": host, "pid": pid,
            "lease_seconds": lease_seconds, "renewed_at": _time(now)}


def renewed_at(lease):
    """When a lease was last renewed (aware UTC), or None if unreadable."""
    if not isinstance(lease, dict) or not isinstance(lease.get("renewed_at"), str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(lease["renewed_at"])
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def is_dead(lease, now, lease_seconds):
    """Whether a run with this lease (None: none written) is dead at ``now``.

    Dead: not renewed for ``lease_seconds``; a run without a readable lease
    is dead (a run writes its lease before its journal)."""
    moment = renewed_at(lease)
    if moment is None:
        return True
    return (now - moment).total_seconds() > lease_seconds


def tags(journal, role):
    """The tags of a resource the run makes in ``role``."""
    found = {RUN_TAG: journal["run_id"], VOLUME_TAG: journal["volume_id"],
             CHECKPOINT_TAG: journal.get("checkpoint_id") or "",
             BANK_TAG: journal.get("bank") or ""}
    found[TEMPORARY_TAG if role == TEMPORARY else UNFINISHED_TAG] = "true"
    return found


def is_tagged(metadata):
    """Whether a resource's metadata/properties carry a run's tag and say it
    is temporary or unfinished: the only resources a sweep may delete."""
    metadata = metadata or {}
    return (isinstance(metadata.get(RUN_TAG), str) and bool(metadata[RUN_TAG])
            and (metadata.get(TEMPORARY_TAG) == "true"
                 or metadata.get(UNFINISHED_TAG) == "true"))
