"""Per-resource results of a restore or verify, shaped like Karbor's records.

Karbor hands restore and verify operations a ``Restore``/``Verification``
object with ``update_resource_status(type, id, status, reason)`` and
``save()``; :class:`OperationRecord` is that interface kept in memory, for
the standalone runner and for tests.
"""


class OperationRecord:
    def __init__(self):
        self.resources_status = {}
        self.resources_reason = {}
        self.history = []
        self.saves = 0

    @staticmethod
    def key(resource_type, resource_id):
        return f"{resource_type}#{resource_id}"

    def update_resource_status(self, resource_type, resource_id, status,
                               reason=None):
        key = self.key(resource_type, resource_id)
        self.resources_status[key] = status
        if isinstance(reason, str):
            self.resources_reason[key] = reason
        self.history.append((key, status, reason))

    def save(self):
        self.saves += 1

    def status_of(self, resource):
        return self.resources_status.get(self.key(resource.type, resource.id))

    def reason_of(self, resource):
        return self.resources_reason.get(self.key(resource.type, resource.id))
