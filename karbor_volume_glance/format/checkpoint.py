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

On an encrypted bank, a record this library makes (provider
:data:`STANDALONE_PROVIDER_ID`) is stored sealed (:func:`seal_record`): the
names in it (the plan's, each resource's, ``extra_info.plan.name``) are
replaced by :data:`SEALED_NAME`, so Karbor's CheckpointCollection still
lists and reads it, and sealed with AES-256-GCM under
``derive("checkpoint-names", checkpoint id)`` in its ``encryption`` field;
an HMAC-SHA256 under ``derive("checkpoint-record", checkpoint id)`` covers
every field that identifies and scopes the checkpoint (:data:`MAC_FIELDS`:
ids, owner and project, provider, plan id, resources, times of creation)
and the sealed names. ``status``, ``extra_info`` and ``shared_with`` are
outside it: deletes and sweeps change them without the key.
:func:`open_record` checks and unseals one (CheckpointNotAuthentic naming the
checkpoint otherwise). Plain banks' records have no ``encryption`` field:
their bytes are as Karbor's.
"""

import base64
import binascii
import copy
import json
import re
import uuid

from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives.ciphers import aead

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import keys, sealing
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


# --- sealed records (encrypted banks) ------------------------------------------

#: The field of a sealed record holding its seal and MAC.
SEAL_FIELD = "encryption"
#: What a sealed record shows in place of each name.
SEALED_NAME = "(sealed)"
#: The derivation purposes of the names' AEAD key and the record's MAC key.
NAMES_PURPOSE = "checkpoint-names"
MAC_PURPOSE = "checkpoint-record"
#: The record's fields its MAC covers (as stored, so with the placeholders),
#: beside the sealed names and the key's fingerprint.
MAC_FIELDS = ("version", "id", "owner_id", "provider_id", "project_id",
              "protection_plan", "created_at", "timestamp", "resource_graph",
              "owner")
_SEAL_KEYS = {"aead", "key", "names", "mac"}
_NAMES_LABEL = "kvg-checkpoint-names/1"
_NO_NAME = object()


def is_ours(record):
    """Whether a record was made by this library (not by Karbor)."""
    return isinstance(record, dict) and \
        record.get("provider_id") == STANDALONE_PROVIDER_ID


def is_sealed(record):
    """Whether a record as stored carries a seal (:func:`seal_record`)."""
    return isinstance(record, dict) and SEAL_FIELD in record


def _names_ad(checkpoint_id, fingerprint):
    return json.dumps([_NAMES_LABEL, checkpoint_id, sealing.AEAD, fingerprint],
                      separators=(",", ":")).encode("utf-8")


def _mac(master, checkpoint_id, record, seal):
    covered = {name: record.get(name) for name in MAC_FIELDS}
    return keys.mac(master.derive(MAC_PURPOSE, checkpoint_id),
                    {"checkpoint_id": checkpoint_id, "record": covered,
                     "aead": seal.get("aead"), "key": seal.get("key"),
                     "names": seal.get("names")})


def _name_places(record):
    """Each place in ``record`` that holds a name, in order, as ``(part,
    holder, key)``: the plan's name (``part`` "plan"), each of its
    resources' ("plan_resources"), each resource graph node's by node id
    ("graph") and, if ``extra_info.plan`` is an object, its ("plan_info").
    ``holder[key]`` may be set as the walk goes: the resource graph (JSON
    text) is written back into ``record`` once its nodes are walked."""
    plan = record["protection_plan"]
    yield "plan", plan, "name"
    for resource in plan.get("resources", []):
        yield "plan_resources", resource, "name"
    graph = json.loads(record["resource_graph"])
    for sid in sorted(graph[0], key=lambda sid: int(sid, 16)):
        yield "graph", graph[0][sid], 2
    record["resource_graph"] = json.dumps(graph)
    info = (record.get("extra_info") or {}).get("plan")
    if isinstance(info, dict):
        yield "plan_info", info, "name"


#: The parts of the sealed names that are lists, a name per place.
_NAME_LISTS = ("plan_resources", "graph")


def _names_of(record):
    """The names in a record, and a copy of it with placeholders instead."""
    stored = copy.deepcopy(record)
    names = {part: [] for part in _NAME_LISTS}
    for part, holder, key in _name_places(stored):
        if part == "plan_info" and key not in holder:
            continue
        name = holder[key] if part == "graph" else holder.get(key)
        if part in _NAME_LISTS:
            names[part].append(name)
        else:
            names[part] = name
        holder[key] = SEALED_NAME
    return names, stored


def _with_names(stored, names):
    """A copy of a sealed record with ``names`` (:func:`_names_of`'s) back
    in their places, without its seal; a place they lack keeps its own."""
    record = copy.deepcopy(stored)
    record.pop(SEAL_FIELD, None)
    lists = {part: iter(names.get(part, [])) for part in _NAME_LISTS}
    for part, holder, key in _name_places(record):
        if part in lists:
            name = next(lists[part], _NO_NAME)
        else:  # the plan's name is always sealed, even a null one
            name = names.get(part, None if part == "plan" else _NO_NAME)
        if name is not _NO_NAME:
            holder[key] = name
    return record


def seal_record(record, master):
    """The stored form of ``record`` (checked, with its names) on a bank
    encrypted with ``master``: names replaced by :data:`SEALED_NAME` and
    sealed, the record's :data:`MAC_FIELDS` authenticated. ``record`` is
    not changed."""
    checkpoint_id = record["id"]
    names, stored = _names_of(record)
    fingerprint = master.fingerprint()
    cipher = aead.AESGCM(master.derive(NAMES_PURPOSE, checkpoint_id))
    plain = json.dumps(names, sort_keys=True,
                       separators=(",", ":")).encode("utf-8")
    sealed = sealing.seal(cipher, _names_ad(checkpoint_id, fingerprint), plain)
    seal = {"aead": sealing.AEAD, "key": fingerprint,
            "names": base64.b64encode(sealed).decode("ascii")}
    seal["mac"] = _mac(master, checkpoint_id, stored, seal)
    stored[SEAL_FIELD] = seal
    return stored


def open_record(stored, master, checkpoint_id):
    """The record of ``checkpoint_id`` as read with the bank's key: a sealed
    one (already :func:`parse_record`-checked) authenticated and with its
    names unsealed; a Karbor-made one without a seal as it is.
    CheckpointNotAuthentic naming the checkpoint if its MAC or its names do
    not hold, or if it is ours and has no seal (stripped)."""
    def fail(reason):
        raise exceptions.CheckpointNotAuthentic(checkpoint_id, reason)

    if not is_sealed(stored):
        if is_ours(stored):
            fail("it has no seal, but this library seals every record it "
                 "makes on an encrypted bank: its seal was stripped")
        return stored  # Karbor's own record: Karbor writes it, unsealed
    seal = stored[SEAL_FIELD]
    if not isinstance(seal, dict) or set(seal) != _SEAL_KEYS:
        fail(f'its "{SEAL_FIELD}" is not exactly {sorted(_SEAL_KEYS)}')
    if seal["aead"] != sealing.AEAD:
        fail(f"it names no known AEAD (this version reads {sealing.AEAD})")
    fingerprint = master.fingerprint()
    if seal["key"] != fingerprint:
        fail(f"it was sealed by master key {seal['key']!r}, not the bank's "
             f"{fingerprint}")
    if not keys.same_mac(seal["mac"], _mac(master, checkpoint_id, stored,
                                           seal)):
        fail("its MAC does not hold: it was changed, or moved from another "
             "checkpoint")
    try:
        sealed = base64.b64decode(str(seal["names"]).encode("ascii"),
                                  validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        fail("its sealed names are not base64")
    if len(sealed) < sealing.OVERHEAD:
        fail("its sealed names are truncated")
    try:
        plain = sealing.unseal(
            aead.AESGCM(master.derive(NAMES_PURPOSE, checkpoint_id)),
            _names_ad(checkpoint_id, fingerprint), sealed)
        names = json.loads(plain)
    except crypto_exceptions.InvalidTag:
        fail("its sealed names do not authenticate: they were altered or "
             "are another checkpoint's")
    except ValueError:
        fail("its sealed names hold no JSON")
    if not isinstance(names, dict):
        fail("its sealed names hold no object")
    return _with_names(stored, names)
