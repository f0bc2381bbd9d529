"""Checkpoints in the bank, stored and listed as Karbor does.

The records and their keys are :mod:`karbor_volume_glance.format.checkpoint`
(Karbor's layout, so checkpoints made without Karbor can be listed and read
by Karbor's CheckpointCollection); this module reads and writes them.
"""

import datetime
import uuid

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import checkpoint as record_format
from karbor_volume_glance.format import owner as owner_format
from karbor_volume_glance.format.checkpoint import STANDALONE_PROVIDER_ID
from karbor_volume_glance.standalone.resources import Resource

LOG = logging.getLogger(__name__)


def deserialize_resources(serialized):
    return [Resource(*node) for node in record_format.resource_nodes(serialized)]


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
            record_format.resource_prefix(self.id, resource_id))

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
            "owner": owner_format.owner_of(self.index),
            "shared_with": [owner_format.format_share(entry) for entry
                            in owner_format.shares_of(self.index)],
        }


class CheckpointStore:
    """The checkpoints of one bank."""

    def __init__(self, bank, provider_id=STANDALONE_PROVIDER_ID):
        self.bank = bank
        self.provider_id = provider_id
        self._checkpoints = bank.get_sub_section(record_format.CHECKPOINTS_ROOT)
        self._indices = bank.get_sub_section(record_format.INDICES_ROOT)

    def create(self, resources, project_id, plan_name="karbor-volume-glance",
               plan_id=None, extra_info=None, now=None, owner=None,
               shared_with=()):
        """A new checkpoint, ``protecting``, for ``resources`` of ``project_id``.

        ``owner`` (:func:`~karbor_volume_glance.format.owner.new_owner`) and
        ``shared_with`` (share entries) are recorded in it."""
        now = now or datetime.datetime.now(datetime.UTC)
        checkpoint_id = str(uuid.uuid4())
        plan_id = plan_id or str(uuid.uuid5(uuid.NAMESPACE_URL, plan_name))
        index = record_format.new_record(
            checkpoint_id, resources, self.bank.get_owner_id(), self.provider_id,
            project_id, plan_id, plan_name, extra_info, now)
        if owner is not None:
            index[owner_format.OWNER] = owner
        for entry in shared_with:
            owner_format.add_share(index, entry)
        checkpoint = Checkpoint(self, checkpoint_id, index)
        self.save(checkpoint)
        for key in record_format.index_keys(index):
            self._indices.update_object(key, checkpoint_id)
        return checkpoint

    def save(self, checkpoint):
        self._checkpoints.update_object(record_format.record_key(checkpoint.id),
                                        checkpoint.index)

    def get(self, checkpoint_id, project_id=None):
        """The checkpoint, or CheckpointNotFound (also for another project's)."""
        try:
            index = compat.read_optional(self._checkpoints,
                                            record_format.record_key(checkpoint_id))
        except exceptions.InvalidBankKey:
            index = None
        if not isinstance(index, dict) or (
            project_id is not None and index.get("project_id") != project_id
        ):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        return Checkpoint(self, checkpoint_id, index)

    def list(self, project_id=None):
        """This provider's checkpoints of one project (None: all), oldest first."""
        prefix = record_format.provider_prefix(self.provider_id, project_id)
        keys = compat.list_all(self._indices, prefix=prefix)
        stamped = sorted(record_format.parse_index_key(key) for key in keys)
        return [self.get(checkpoint_id) for _, checkpoint_id in stamped]

    def each(self, project_id=None):
        """Like :meth:`list`, but an index entry whose record is missing or
        not a record is skipped (with a warning), so one project's damaged
        record never hides another's checkpoints."""
        prefix = record_format.provider_prefix(self.provider_id, project_id)
        keys = compat.list_all(self._indices, prefix=prefix)
        for _, checkpoint_id in sorted(record_format.parse_index_key(key)
                                       for key in keys):
            try:
                yield self.get(checkpoint_id)
            except exceptions.CheckpointNotFound:
                LOG.warning("The index lists checkpoint %s, whose record is "
                            "missing or unreadable", checkpoint_id)

    def remove_indices(self, checkpoint):
        """Unlist a deleted checkpoint, as Karbor does; its index.json stays."""
        for key in record_format.index_keys(checkpoint.index):
            if compat.exists(self._indices, key):
                self._indices.delete_object(key)
