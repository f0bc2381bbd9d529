"""Checkpoints in the bank, laid out as Karbor lays them out.

``/checkpoints/<id>/index.json`` holds the checkpoint (Karbor's version "0.9"
fields: id, status, owner_id, provider_id, project_id, protection_plan,
extra_info, created_at, timestamp, resource_graph) and three index keys point
at it: ``/indices/by-provider/<provider>/<project>/<ts>@<id>``,
``/indices/by-date/<date>/<project>/<ts>@<id>`` and
``/indices/by-plan/<plan>/<project>/<date>/<ts>@<id>``. Each resource's data
is in ``/checkpoints/<id>/resource-data/<resource id>/``. So checkpoints made
without Karbor can be listed and read by Karbor's CheckpointCollection.
"""

import datetime
import json
import uuid

from karbor_volume_glance import exceptions
from karbor_volume_glance.operations import sectionio
from karbor_volume_glance.standalone.resources import Resource

INDEX_FILE = "index.json"
VERSION = "0.9"
#: The provider id of checkpoints made by this library outside Karbor.
STANDALONE_PROVIDER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "karbor-volume-glance"))

PROTECTING = "protecting"
AVAILABLE = "available"
ERROR = "error"
DELETING = "deleting"
DELETED = "deleted"
ERROR_DELETING = "error-deleting"


def serialize_resources(resources):
    """Karbor's serialized resource graph of resources without children."""
    nodes = {
        hex(sid): [r.type, r.id, r.name, r.extra_info]
        for sid, r in enumerate(resources)
    }
    return json.dumps([nodes, []])


def deserialize_resources(serialized):
    nodes, _adjacency = json.loads(serialized)
    return [Resource(*nodes[sid]) for sid in sorted(nodes, key=lambda s: int(s, 16))]


class Checkpoint:
    """One checkpoint: its index record and its resources' bank sections."""

    def __init__(self, store, checkpoint_id, index):
        self._store = store
        self.id = checkpoint_id
        self.index = index

    @property
    def status(self):
        return self.index["status"]

    @property
    def project_id(self):
        return self.index["project_id"]

    @property
    def resources(self):
        return deserialize_resources(self.index["resource_graph"])

    def get_resource_bank_section(self, resource_id):
        return self._store.bank.get_sub_section(
            f"/checkpoints/{self.id}/resource-data/{resource_id}/"
        )

    def set_status(self, status):
        self.index["status"] = status
        self._store.save(self)

    def to_dict(self):
        plan = self.index.get("protection_plan") or {}
        return {
            "id": self.id,
            "status": self.status,
            "project_id": self.project_id,
            "provider_id": self.index.get("provider_id"),
            "created_at": self.index.get("created_at"),
            "timestamp": self.index.get("timestamp"),
            "plan": plan.get("name"),
            "resources": [r.id for r in self.resources],
            "extra_info": self.index.get("extra_info"),
        }


class CheckpointStore:
    """The checkpoints of one bank."""

    def __init__(self, bank, provider_id=STANDALONE_PROVIDER_ID):
        self.bank = bank
        self.provider_id = provider_id
        self._checkpoints = bank.get_sub_section("/checkpoints/")
        self._indices = bank.get_sub_section("/indices/")

    def _index_keys(self, index):
        plan_id = index["protection_plan"]["id"]
        project, date = index["project_id"], index["created_at"]
        name = f"{index['timestamp']}@{index['id']}"
        return [
            f"by-provider/{index['provider_id']}/{project}/{name}",
            f"by-date/{date}/{project}/{name}",
            f"by-plan/{plan_id}/{project}/{date}/{name}",
        ]

    def create(self, resources, project_id, plan_name="karbor-volume-glance",
               plan_id=None, extra_info=None, now=None):
        """A new checkpoint, ``protecting``, for ``resources`` of ``project_id``."""
        now = now or datetime.datetime.now(datetime.UTC)
        checkpoint_id = str(uuid.uuid4())
        plan_id = plan_id or str(uuid.uuid5(uuid.NAMESPACE_URL, plan_name))
        index = {
            "version": VERSION,
            "id": checkpoint_id,
            "status": PROTECTING,
            "owner_id": self.bank.get_owner_id(),
            "provider_id": self.provider_id,
            "project_id": project_id,
            "protection_plan": {
                "id": plan_id,
                "name": plan_name,
                "provider_id": self.provider_id,
                "resources": [
                    {"id": r.id, "type": r.type, "name": r.name} for r in resources
                ],
            },
            "extra_info": extra_info,
            "created_at": now.strftime("%Y-%m-%d"),
            "timestamp": int(now.timestamp()),
            "resource_graph": serialize_resources(resources),
        }
        checkpoint = Checkpoint(self, checkpoint_id, index)
        self.save(checkpoint)
        for key in self._index_keys(index):
            self._indices.update_object(key, checkpoint_id)
        return checkpoint

    def save(self, checkpoint):
        self._checkpoints.update_object(f"{checkpoint.id}/{INDEX_FILE}",
                                        checkpoint.index)

    def get(self, checkpoint_id, project_id=None):
        """The checkpoint, or CheckpointNotFound (also for another project's)."""
        try:
            index = sectionio.read_optional(self._checkpoints,
                                            f"{checkpoint_id}/{INDEX_FILE}")
        except exceptions.InvalidBankKey:
            index = None
        if not isinstance(index, dict) or (
            project_id is not None and index.get("project_id") != project_id
        ):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        return Checkpoint(self, checkpoint_id, index)

    def list(self, project_id=None):
        """This provider's checkpoints of one project (None: all), oldest first."""
        prefix = f"by-provider/{self.provider_id}/"
        if project_id is not None:
            prefix += f"{project_id}/"
        keys = sectionio.list_all(self._indices, prefix=prefix)
        stamped = sorted(key.rsplit("/", 1)[1].split("@") for key in keys)
        return [self.get(checkpoint_id) for _, checkpoint_id in stamped]

    def remove_indices(self, checkpoint):
        """Unlist a deleted checkpoint, as Karbor does; its index.json stays."""
        for key in self._index_keys(checkpoint.index):
            if sectionio.exists(self._indices, key):
                self._indices.delete_object(key)
