"""The status of one fake resource and the statuses it will still pass through.

A real cloud moves a resource along (``creating`` -> ``available``) while the
caller polls it. :class:`Lifecycle` does the same, counted in polls instead of
seconds: an operation calls :meth:`Lifecycle.begin` with the :class:`Stage` s
to pass through, and every ``get`` of the resource calls
:meth:`Lifecycle.observe`. A stage with ``polls=N`` is reported by exactly N
gets and then left for the next one; a stage with ``polls=0`` is never seen.
The last stage is where the resource stays.
"""

import collections
import dataclasses
from collections.abc import Callable

from karbor_volume_glance.testing import timestamps


@dataclasses.dataclass
class Stage:
    """One status on the way, reported by ``polls`` gets.

    ``on_enter`` runs when the resource reaches the status (for example to
    remove a deleted resource or to store uploaded bytes).
    """

    status: str
    polls: int = 0
    on_enter: Callable[[], None] | None = None


class Lifecycle:
    """Current status, the stages still ahead and who to tell on a change."""

    def __init__(self, status):
        self.status = status
        self.changed_at = timestamps.now()
        self._ahead = collections.deque()
        self._polls_allowed = 0
        self._polls_seen = 0
        self._watchers = []

    @property
    def in_transition(self):
        """True while the status is a transitional one with stages ahead."""
        return bool(self._ahead)

    def begin(self, *stages):
        """Enter the first of ``stages`` now; later ones follow as polled."""
        if not stages:
            raise ValueError("begin() needs at least one stage")
        self._ahead = collections.deque(stages)
        self._enter_next()
        self._leave_finished_stages()

    def end_in(self, status):
        """Drop every stage ahead and stay in ``status`` (a failure, a removal)."""
        self.begin(Stage(status))

    def observe(self):
        """Count one poll (a ``get``) and move on if the stage has lasted enough."""
        self._leave_finished_stages()
        self._polls_seen += 1
        return self.status

    def extend(self, polls):
        """Make the current transitional stage last ``polls`` more gets."""
        if self.in_transition:
            self._polls_allowed += polls

    def finish(self):
        """Run through every stage ahead at once, as if enough time passed."""
        while self._ahead:
            self._enter_next()

    def watch(self, callback):
        """Call ``callback(status)`` after every change of status."""
        self._watchers.append(callback)

    def _leave_finished_stages(self):
        while self._ahead and self._polls_seen >= self._polls_allowed:
            self._enter_next()

    def _enter_next(self):
        stage = self._ahead.popleft()
        self.status = stage.status
        self.changed_at = timestamps.now()
        self._polls_allowed = stage.polls
        self._polls_seen = 0
        if stage.on_enter is not None:
            stage.on_enter()
        for watcher in list(self._watchers):
            watcher(stage.status)
