"""Stand-ins for what Karbor hands an Operation, for tests without Karbor.

:class:`FakeCheckpoint` gives the resource bank sections Karbor's checkpoint
gives (``/checkpoints/<id>/resource-data/<resource id>/``), :class:`Resource`
is Karbor's resource tuple, :class:`FakeRecord` records what an operation
tells Karbor's restore or verify record, and :func:`run_operation` calls an
Operation's four hooks in the order Karbor's flow calls them for one resource.
"""

import uuid

from karbor_volume_glance.standalone.hooks import HOOKS, run_operation
from karbor_volume_glance.standalone.records import OperationRecord
from karbor_volume_glance.standalone.resources import Resource, volume_resource

__all__ = [
    "HOOKS",
    "FakeCheckpoint",
    "FakeRecord",
    "Resource",
    "run_operation",
    "volume_resource",
]

class FakeCheckpoint:
    """A checkpoint over any bank with ``get_sub_section`` (ours or Karbor's)."""

    def __init__(self, bank, checkpoint_id=None):
        self.bank = bank
        self.id = checkpoint_id or str(uuid.uuid4())

    def get_resource_bank_section(self, resource_id):
        return self.bank.get_sub_section(
            f"/checkpoints/{self.id}/resource-data/{resource_id}/"
        )


class FakeRecord(OperationRecord):
    """Karbor's Restore/Verification object, as far as an Operation uses it."""
