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

A record read from the bank is checked by :func:`parse_record` before
anything uses it, and an index key by :func:`parse_index_key`: whatever the
bank holds, they fail only with InvalidCheckpointRecord naming the
checkpoint (or InvalidBankKey naming the key).
"""

import json
import re
import uuid

from karbor_volume_glance import exceptions
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


def resources_prefix(checkpoint_id):
    """The absolute section holding every resource's data of a checkpoint."""
    return f"{CHECKPOINTS_ROOT}{checkpoint_id}/resource-data/"


def resource_prefix(checkpoint_id, resource_id):
    """The absolute section of one resource's data in a checkpoint."""
    return f"{resources_prefix(checkpoint_id)}{resource_id}/"


def serialize_resources(resources):
    """Karbor's serialized resource graph of resources without children.

    ``resources`` are ``(type, id, name, extra_info)`` tuples.
    """
    nodes = {
        hex(sid): [r.type, r.id, r.name, r.extra_info]
        for sid, r in enumerate(resources)
    }
    return json.dumps([nodes, []])


def resource_nodes(serialized, checkpoint_id=None):
    """The ``[type, id, name, extra_info]`` of each resource in a serialized
    graph, in their order; InvalidCheckpointRecord if it is not one."""
    def fault(reason):
        return exceptions.InvalidCheckpointRecord(
            checkpoint_id, f"resource_graph {reason}")

    if not isinstance(serialized, str):
        raise fault(f"is a {type(serialized).__name__}, not a string")
    try:
        graph = json.loads(serialized)
    except (ValueError, RecursionError) as exc:
        raise fault(f"is not JSON: {exc}") from None
    if not (isinstance(graph, list) and len(graph) == 2
            and isinstance(graph[0], dict) and isinstance(graph[1], list)):
        raise fault("is not a [nodes, adjacency] pair")
    nodes = graph[0]
    for sid, node in nodes.items():
        if not _NODE_ID.match(sid):
            raise fault(f"has the node id {sid!r}, not a hex number")
        if not (isinstance(node, list) and len(node) == 4
                and all(isinstance(field, str) and field for field in node[:2])
                and (node[2] is None or isinstance(node[2], str))):
            raise fault(f"node {sid} is not [type, id, name, extra_info]")
    return [nodes[sid] for sid in sorted(nodes, key=lambda s: int(s, 16))]


_NODE_ID = re.compile(r"^0x[0-9a-f]{1,16}$")
#: The fields of a record and the JSON types each must have (None: optional).
_RECORD_TYPES = {
    "id": str, "status": str, "project_id": str, "provider_id": str,
    "protection_plan": dict, "created_at": str, "timestamp": int,
    "resource_graph": str,
}
_OPTIONAL_TYPES = {"owner_id": str, "version": str, "extra_info": dict}
_CREATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_record(raw, checkpoint_id):
    """The checked record of checkpoint ``checkpoint_id``, as read from the bank.

    Every field :func:`index_keys` and the readers use must be there with
    its type, and ``resource_graph`` must be a graph; anything else fails
    with InvalidCheckpointRecord naming the checkpoint and the field.
    Returns ``raw`` itself.
    """
    def require(condition, reason):
        if not condition:
            raise exceptions.InvalidCheckpointRecord(checkpoint_id, reason)

    require(isinstance(raw, dict),
            f"expected an object, got {type(raw).__name__}")
    for field, kind in _RECORD_TYPES.items():
        value = raw.get(field)
        require(isinstance(value, kind) and not isinstance(value, bool),
                f"{field} must be a {kind.__name__}, got {value!r}")
    for field, kind in _OPTIONAL_TYPES.items():
        value = raw.get(field)
        require(value is None or isinstance(value, kind),
                f"{field} must be a {kind.__name__} or null, got {value!r}")
    require(raw["id"] == checkpoint_id,
            f"id {raw['id']!r} is not its key's {checkpoint_id!r}")
    require(_CREATED_AT.match(raw["created_at"]) is not None,
            f"created_at {raw['created_at']!r} is not a YYYY-MM-DD date")
    plan = raw["protection_plan"]
    require(isinstance(plan.get("id"), str) and bool(plan.get("id")),
            f"protection_plan.id {plan.get('id')!r} is not a string")
    require(plan.get("name") is None or isinstance(plan.get("name"), str),
            f"protection_plan.name {plan.get('name')!r} is not a string")
    for field in ("project_id", "provider_id"):
        require(bool(raw[field]) and "/" not in raw[field],
                f"{field} {raw[field]!r} cannot be part of a bank key")
    resource_nodes(raw["resource_graph"], checkpoint_id)
    return raw


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
    """``(timestamp, checkpoint id)`` of an index key; they sort by time.

    InvalidBankKey unless its last part is ``<timestamp>@<id>``.
    """
    name = key.rsplit("/", 1)[-1] if isinstance(key, str) else ""
    stamp, at, checkpoint_id = name.partition("@")
    if not (at and stamp and checkpoint_id and "@" not in checkpoint_id):
        raise exceptions.InvalidBankKey(
            key, "a checkpoint index key ends in <timestamp>@<checkpoint id>")
    return stamp, checkpoint_id
