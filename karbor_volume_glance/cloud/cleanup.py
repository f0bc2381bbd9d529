"""Temporary cloud resources, deleted newest first on every path.

An operation registers each temporary snapshot, volume or image the moment
the cloud hands back its id. :meth:`TemporaryResources.clean_up` deletes them
in reverse order (the image before the volume it came from, the volume before
its snapshot), waiting for each to be gone. A deletion that fails is logged
with the resource's id and kept in :attr:`TemporaryResources.failures`; it
never raises over the error that ended the operation.
"""

import dataclasses

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Leftover:
    """A temporary resource that could not be deleted, and why."""

    kind: str
    resource_id: str
    reason: str

    def to_dict(self):
        return dataclasses.asdict(self)


class TemporaryResources:
    """A stack of temporary resources and the calls that delete them.

    Use as a context manager: on leaving the block, by success or by error,
    every registered resource is deleted, newest first.
    """

    def __init__(self, purpose):
        self._purpose = purpose
        self._stack = []
        self.failures = []

    def add(self, kind, resource_id, delete):
        """Register ``resource_id``; ``delete(resource_id)`` removes it."""
        self._stack.append((kind, resource_id, delete))
        LOG.debug("%s: temporary %s %s", self._purpose, kind, resource_id)
        return resource_id

    def forget(self, resource_id):
        """Stop tracking a resource that is no longer temporary (it is kept)."""
        self._stack = [entry for entry in self._stack if entry[1] != resource_id]

    def clean_up(self):
        """Delete every registered resource, newest first; return the failures."""
        while self._stack:
            kind, resource_id, delete = self._stack.pop()
            try:
                delete(resource_id)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                LOG.error(
                    "%s: could not delete temporary %s %s: %s",
                    self._purpose, kind, resource_id, reason,
                )
                self.failures.append(Leftover(kind, resource_id, reason))
        return list(self.failures)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.clean_up()
        return False
