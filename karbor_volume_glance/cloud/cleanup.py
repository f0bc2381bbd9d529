"""Temporary cloud resources, deleted newest first on every path, and kept
in the run's journal so that a crash leaves nothing nobody can find.

An operation makes each temporary snapshot, volume or image (and a
restore's new volume) through :meth:`TemporaryResources.create`: with a
run's journal (:class:`~karbor_volume_glance.operations.runs.RunJournal`)
the intent is recorded in the bank *before* the create call, the resource is
made carrying the run's tags, and its id goes into the journal as soon as
the cloud returns it. :meth:`TemporaryResources.clean_up` deletes them in
reverse order (the image before the volume it came from, the volume before
its snapshot), waiting for each to be gone, and records each deletion. A
deletion that fails is logged with the resource's id and kept in
:attr:`TemporaryResources.failures` (the journal says ``left``); it never
raises over the error that ended the operation. Without a journal (the
resource registered with :meth:`TemporaryResources.add`) only the memory
holds them, as before issue 13.
"""

import dataclasses

from oslo_log import log as logging

from karbor_volume_glance.format import runs as runs_format

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

    def __init__(self, purpose, journal=None):
        self._purpose = purpose
        self._journal = journal
        self._stack = []
        self.failures = []

    def create(self, kind, name, make, delete, role=runs_format.TEMPORARY):
        """Make a resource with ``make(tags)`` (it returns the new id),
        journaled before and after; ``delete(resource_id)`` removes it."""
        journal = self._journal
        token = None
        tags = {}
        if journal is not None:
            token = journal.intend(kind, name, role)
            tags = journal.tags(role)
        resource_id = make(tags)
        if journal is not None:
            journal.created(token, resource_id)
        self._stack.append((kind, resource_id, delete, token))
        LOG.debug("%s: temporary %s %s", self._purpose, kind, resource_id)
        return resource_id

    def add(self, kind, resource_id, delete):
        """Register ``resource_id`` (not journaled); ``delete(resource_id)``
        removes it."""
        self._stack.append((kind, resource_id, delete, None))
        LOG.debug("%s: temporary %s %s", self._purpose, kind, resource_id)
        return resource_id

    def _record(self, token, state):
        if token is None or self._journal is None:
            return
        try:
            self._journal.set_state(token, state)
        except Exception as exc:  # the journal is the sweep's: it still finds it
            LOG.warning("%s: could not record a resource %s in the journal: %s",
                        self._purpose, state, exc)

    def forget(self, resource_id):
        """Stop tracking a resource that is no longer temporary (it is kept)."""
        for entry in self._stack:
            if entry[1] == resource_id:
                self._record(entry[3], runs_format.KEPT)
        self._stack = [entry for entry in self._stack if entry[1] != resource_id]

    def clean_up(self):
        """Delete every registered resource, newest first; return the failures."""
        while self._stack:
            kind, resource_id, delete, token = self._stack.pop()
            try:
                delete(resource_id)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                LOG.error(
                    "%s: could not delete temporary %s %s: %s",
                    self._purpose, kind, resource_id, reason,
                )
                self.failures.append(Leftover(kind, resource_id, reason))
                self._record(token, runs_format.LEFT)
            else:
                self._record(token, runs_format.DELETED)
        return list(self.failures)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.clean_up()
        return False
