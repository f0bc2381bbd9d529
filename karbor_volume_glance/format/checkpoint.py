"""Checkpoint records, laid out as Karbor lays them out.

``/checkpoints/<id>/index.json`` holds the checkpoint (Karbor's version "0.9"
fields: id, status, owner_id, provider_id, project_id, protection_plan,
extra_info, created_at, timestamp, resource_graph: :func:`new_record`) and
three index keys point at it (:func:`index_keys`):
``/indices/by-provider/<provider>/<project>/<ts>@<id>``,
``/indices/by-date/<date>/<project>/<ts>@<id>`` and
``/indices/by-plan/<plan>/<project>/<date>/<ts>@<id>``. Each resource's data
is in ``/checkpoints/<id>/resource-data/<resource id>/``
(:func:`resource_prefix`). So checkpoints made without Karbor can be listed
and read by Karbor's CheckpointCollection. Statuses are
:class:`~.status.CheckpointStatus`; storing and listing the records is
``standalone/checkpoints.py``.
"""

import json
import uuid

from karbor_volume_glance.format.status import CheckpointStatus

CHECKPOINTS_ROOT = "/checkpoints/"
INDICES_ROOT = "/indices/"
INDEX_FILE = "index.json"
VERSION = "0.9"
#: The provider id of checkpoints made by this library outside Karbor.
STANDALONE_PROVIDER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "karbor-volume-glance"))


def record_key(checkpoint_id):
    """The key of a checkpoint's record, under :data:`CHECKPOINTS_ROOT`."""
    return f"{checkpoint_id}/{INDEX_FILE}"


def resource_prefix(checkpoint_id, resource_id):
    """The absolute section of one resource's data in a checkpoint."""
    return f"{CHECKPOINTS_ROOT}{checkpoint_id}/resource-data/{resource_id}/"


def serialize_resources(resources):
    """Karbor's serialized resource graph of resources without children.

    ``resources`` are ``(type, id, name, extra_info)`` tuples.
    """
    nodes = {
        hex(sid): [r.type, r.id, r.name, r.extra_info]
        for sid, r in enumerate(resources)
    }
    return json.dumps([nodes, []])


def resource_nodes(serialized):
    """The ``[type, id, name, extra_info]`` of each resource in a serialized
    graph, in their order."""
    nodes, _adjacency = json.loads(serialized)
    return [nodes[sid] for sid in sorted(nodes, key=lambda s: int(s, 16))]


def new_record(checkpoint_id, resources, owner_id, provider_id, project_id,
               plan_id, plan_name, extra_info, now):
    """The record of a new checkpoint, ``protecting``, made at ``now``."""
    return {
        "version": VERSION,
        "id": checkpoint_id,
        "status": CheckpointStatus.PROTECTING,
        "owner_id": owner_id,
        "provider_id": provider_id,
        "project_id": project_id,
        "protection_plan": {
            "id": plan_id,
            "name": plan_name,
            "provider_id": provider_id,
            "resources": [
                {"id": r.id, "type": r.type, "name": r.name} for r in resources
            ],
        },
        "extra_info": extra_info,
        "created_at": now.strftime("%Y-%m-%d"),
        "timestamp": int(now.timestamp()),
        "resource_graph": serialize_resources(resources),
    }


def index_keys(record):
    """The keys, under :data:`INDICES_ROOT`, that point at a checkpoint."""
    plan_id = record["protection_plan"]["id"]
    project, date = record["project_id"], record["created_at"]
    name = f"{record['timestamp']}@{record['id']}"
    return [
        f"{provider_prefix(record['provider_id'], project)}{name}",
        f"by-date/{date}/{project}/{name}",
        f"{plan_prefix(plan_id)}{project}/{date}/{name}",
    ]


def provider_prefix(provider_id, project_id=None):
    """The prefix of a provider's by-provider index keys (of one project)."""
    prefix = f"by-provider/{provider_id}/"
    return prefix if project_id is None else f"{prefix}{project_id}/"


def plan_prefix(plan_id):
    """The prefix of a plan's by-plan index keys, of every project."""
    return f"by-plan/{plan_id}/"


def parse_index_key(key):
    """``(timestamp, checkpoint id)`` of an index key; they sort by time."""
    return tuple(key.rsplit("/", 1)[1].split("@"))
