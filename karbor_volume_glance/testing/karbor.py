"""Stand-ins for what Karbor hands an Operation, for tests without Karbor.

:class:`FakeCheckpoint` gives the resource bank sections Karbor's checkpoint
gives (``/checkpoints/<id>/resource-data/<resource id>/``), :class:`Resource`
is Karbor's resource tuple, :class:`FakeRecord` records what an operation
tells Karbor's restore or verify record, and :func:`run_operation` calls an
Operation's four hooks in the order Karbor's flow calls them for one resource.
"""

import collections
import uuid

Resource = collections.namedtuple(
    "Resource", ["type", "id", "name", "extra_info"], defaults=(None, None)
)

VOLUME_TYPE = "OS::Cinder::Volume"


def volume_resource(volume_id, name=None):
    return Resource(type=VOLUME_TYPE, id=volume_id, name=name or volume_id)


class FakeCheckpoint:
    """A checkpoint over any bank with ``get_sub_section`` (ours or Karbor's)."""

    def __init__(self, bank, checkpoint_id=None):
        self.bank = bank
        self.id = checkpoint_id or str(uuid.uuid4())

    def get_resource_bank_section(self, resource_id):
        return self.bank.get_sub_section(
            f"/checkpoints/{self.id}/resource-data/{resource_id}/"
        )


class FakeRecord:
    """Karbor's Restore/Verification object, as far as an Operation uses it."""

    def __init__(self):
        self.resources_status = {}
        self.resources_reason = {}
        self.history = []
        self.saves = 0

    def update_resource_status(self, resource_type, resource_id, status,
                               reason=None):
        key = f"{resource_type}#{resource_id}"
        self.resources_status[key] = status
        if isinstance(reason, str):
            self.resources_reason[key] = reason
        self.history.append((key, status, reason))

    def save(self):
        self.saves += 1

    def status_of(self, resource):
        return self.resources_status.get(f"{resource.type}#{resource.id}")

    def reason_of(self, resource):
        return self.resources_reason.get(f"{resource.type}#{resource.id}")


HOOKS = ("on_prepare_begin", "on_prepare_finish", "on_main", "on_complete")


def run_operation(operation, checkpoint, resource, context=None, parameters=None,
                  **kwargs):
    """Run ``operation``'s hooks in Karbor's order; return ``on_main``'s result.

    Karbor passes ``operation_log`` to every hook, so this does too.
    """
    kwargs.setdefault("operation_log", None)
    result = None
    for hook in HOOKS:
        value = getattr(operation, hook)(
            checkpoint, resource, context, parameters, **kwargs
        )
        if hook == "on_main":
            result = value
    return result
