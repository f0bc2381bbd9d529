"""Checkpoints in the bank, stored and listed as Karbor does.

The records and their keys are :mod:`karbor_volume_glance.format.checkpoint`
(Karbor's layout, so checkpoints made without Karbor can be listed and read
by Karbor's CheckpointCollection); this module reads and writes them.

A record that cannot be read (:func:`~.checkpoint.parse_record`) makes
:meth:`CheckpointStore.get` fail with InvalidCheckpointRecord; ``list``
shows it as ``damaged`` beside the others, and :meth:`CheckpointStore.open`
gives a damaged :class:`Checkpoint` (its resources are the sections found
under it) that ``show`` and ``delete`` work on.

On an encrypted bank, a store given the bank's master key (``master``)
writes the records it makes sealed and authenticated
(:func:`~.checkpoint.seal_record`) and checks and unseals every record it
reads (:func:`~.checkpoint.open_record`: CheckpointNotAuthentic naming the
checkpoint); in memory a record always holds its names. A store without
the key reads and writes records as they are: a sealed one shows its
placeholder names (:attr:`Checkpoint.sealed`), and a status it records
(a delete's) leaves the seal and MAC as they were, since neither covers it.
"""

import datetime
import uuid

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import checkpoint as record_format
from karbor_volume_glance.format import owner as owner_format
from karbor_volume_glance.format.checkpoint import STANDALONE_PROVIDER_ID
from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.plugin import VOLUME_RESOURCE_TYPE
from karbor_volume_glance.standalone.resources import Resource

LOG = logging.getLogger(__name__)


def deserialize_resources(serialized):
    return [Resource(*node) for node in record_format.resource_nodes(serialized)]


class Checkpoint:
    """One checkpoint: its index record and its resources' bank sections."""

    def __init__(self, store, checkpoint_id, index, damage=None,
                 found_resources=()):
        self._store = store
        self.id = checkpoint_id
        self.index = index
        #: Why the record cannot be read (InvalidCheckpointRecord), or None.
        self.damage = damage
        self._found = list(found_resources)

    @property
    def sealed(self):
        """Whether the record's names are sealed (read without the key)."""
        return record_format.is_sealed(self.index)

    @property
    def status(self):
        return CheckpointStatus.DAMAGED if self.damage else self.index["status"]

    @property
    def project_id(self):
        return self.index.get("project_id")

    @property
    def resources(self):
        if self.damage:
            return self._found
        return deserialize_resources(self.index["resource_graph"])

    def get_resource_bank_section(self, resource_id):
        return self._store.bank.get_sub_section(
            record_format.resource_prefix(self.id, resource_id))

    def set_status(self, status):
        """Record ``status``; a checkpoint deleted meanwhile (by another
        process) stays ``deleted``: that is final. A damaged record is not
        rewritten."""
        if self.damage:
            LOG.warning("Checkpoint %s: its record is damaged, status %s is "
                        "not recorded", self.id, status)
            return
        if status != CheckpointStatus.DELETED:
            stored = compat.read_optional(
                self._store._checkpoints, record_format.record_key(self.id))
            if isinstance(stored, dict) and \
                    stored.get("status") == CheckpointStatus.DELETED:
                self.index["status"] = CheckpointStatus.DELETED
                return
        self.index["status"] = status
        self._store.save(self)

    def to_dict(self):
        if self.damage:
            return {"id": self.id, "status": self.status,
                    "project_id": self.project_id,
                    "damage": self.damage.reason,
                    "resources": [r.id for r in self.resources]}
        plan = self.index.get("protection_plan") or {}
        shown = {
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
        if self.sealed:  # no key to open its names
            shown["sealed"] = True
        return shown


class CheckpointStore:
    """The checkpoints of one bank."""

    def __init__(self, bank, provider_id=STANDALONE_PROVIDER_ID, master=None):
        self.bank = bank
        self.provider_id = provider_id
        #: The bank's MasterKey (encrypted banks), or None: the module says.
        self.master = master
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
        stored = checkpoint.index
        if self.master is not None and not checkpoint.damage and \
                record_format.is_ours(stored) and \
                not record_format.is_sealed(stored):
            stored = record_format.seal_record(stored, self.master)
        self._checkpoints.update_object(record_format.record_key(checkpoint.id),
                                        stored)

    def _read(self, checkpoint_id):
        """The checked record; None if there is none, else
        InvalidCheckpointRecord if it cannot be read."""
        try:
            raw = compat.read_optional(self._checkpoints,
                                       record_format.record_key(checkpoint_id))
        except exceptions.InvalidBankKey:
            return None
        except exceptions.BankError as exc:
            raise exceptions.InvalidCheckpointRecord(checkpoint_id,
                                                     str(exc)) from exc
        if raw is None:
            return None
        record = record_format.parse_record(raw, checkpoint_id)
        if self.master is not None:
            record = record_format.open_record(record, self.master,
                                               checkpoint_id)
        return record

    def get(self, checkpoint_id, project_id=None):
        """The checkpoint, or CheckpointNotFound (also for another project's);
        InvalidCheckpointRecord if its record is damaged."""
        index = self._read(checkpoint_id)
        if index is None or (
            project_id is not None and index.get("project_id") != project_id
        ):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        return Checkpoint(self, checkpoint_id, index)

    def open(self, checkpoint_id, project_id=None):
        """The checkpoint, damaged or not: a damaged one (its ``damage`` is
        the InvalidCheckpointRecord) has the volumes found in its sections
        as resources. CheckpointNotFound if neither a record nor data is
        there."""
        try:
            return self.get(checkpoint_id, project_id)
        except exceptions.InvalidCheckpointRecord as damage:
            found = self._found_resources(checkpoint_id)
            LOG.warning("%s; %d volume section(s) found under it", damage,
                        len(found))
            return Checkpoint(self, checkpoint_id,
                              self._what_is_left(checkpoint_id, project_id),
                              damage=damage, found_resources=found)

    def _what_is_left(self, checkpoint_id, project_id):
        """Whose a damaged checkpoint is, as far as the bank still says: the
        record's ``project_id``, ``owner`` and ``shared_with`` where it is
        still an object (the tenancy rules take any value and grant nothing
        on a malformed one), else the project of its by-provider index key."""
        left = {"project_id": project_id}
        try:
            raw = compat.read_optional(self._checkpoints,
                                       record_format.record_key(checkpoint_id))
        except exceptions.VolumeGlanceError:
            raw = None
        if isinstance(raw, dict):
            left.update({key: raw[key] for key in
                         ("project_id", "owner", "shared_with") if key in raw})
        if left["project_id"] is None:
            prefix = record_format.provider_prefix(self.provider_id)
            try:
                keys = compat.list_all(self._indices, prefix=prefix)
            except exceptions.BankError:
                keys = []
            for key in keys:
                if key.endswith(f"@{checkpoint_id}") and key.count("/") >= 3:
                    left["project_id"] = key.split("/")[-2]
                    break
        return left

    def _found_resources(self, checkpoint_id):
        try:
            section = self.bank.get_sub_section(
                record_format.resources_prefix(checkpoint_id))
            keys = compat.list_all(section)
        except exceptions.BankError:
            return []
        ids = sorted({key.split("/", 1)[0] for key in keys if "/" in key})
        return [Resource(VOLUME_RESOURCE_TYPE, volume_id, volume_id)
                for volume_id in ids]

    def list(self, project_id=None):
        """This provider's checkpoints of one project (None: all), oldest
        first; a damaged one (record or index key) is a damaged Checkpoint
        and the others are listed all the same."""
        prefix = record_format.provider_prefix(self.provider_id, project_id)
        keys = compat.list_all(self._indices, prefix=prefix)
        stamped = []
        for key in keys:
            try:
                stamped.append(record_format.parse_index_key(key))
            except exceptions.InvalidBankKey as exc:
                LOG.warning("Skipping a damaged checkpoint index key: %s", exc)
        listed = []
        for _, checkpoint_id in sorted(stamped):
            try:
                listed.append(self.get(checkpoint_id))
            except exceptions.CheckpointNotFound:
                LOG.warning("Index key of checkpoint %s, which has no record",
                            checkpoint_id)
            except exceptions.InvalidCheckpointRecord as damage:
                LOG.warning("%s", damage)
                listed.append(Checkpoint(
                    self, checkpoint_id,
                    {"project_id": _project_of(keys, checkpoint_id, project_id)},
                    damage=damage,
                    found_resources=self._found_resources(checkpoint_id)))
            except exceptions.CheckpointNotAuthentic as damage:
                # whose it is, as its (unauthenticated) record says: listed
                # to its owner as damaged rather than hidden
                LOG.warning("%s", damage)
                listed.append(Checkpoint(
                    self, checkpoint_id, self._what_is_left(
                        checkpoint_id,
                        _project_of(keys, checkpoint_id, project_id)),
                    damage=damage,
                    found_resources=self._found_resources(checkpoint_id)))
        return listed

    def remove_indices(self, checkpoint):
        """Unlist a deleted checkpoint, as Karbor does; its index.json stays.

        A damaged checkpoint's index keys are found by listing every index
        (its record cannot say which they are), and its record is removed.
        """
        if not checkpoint.damage:
            keys = record_format.index_keys(checkpoint.index)
        else:
            keys = [key for key in compat.list_all(self._indices)
                    if key.endswith(f"@{checkpoint.id}")]
        for key in keys:
            if compat.exists(self._indices, key):
                self._indices.delete_object(key)
        if checkpoint.damage:
            key = record_format.record_key(checkpoint.id)
            if compat.exists(self._checkpoints, key):
                self._checkpoints.delete_object(key)


def _project_of(keys, checkpoint_id, default):
    """The project in a checkpoint's by-provider index key (damaged record)."""
    for key in keys:
        parts = key.split("/")
        if len(parts) >= 2 and parts[-1].endswith(f"@{checkpoint_id}"):
            return parts[-2]
    return default
