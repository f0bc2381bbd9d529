"""How long a resource's transitions take: in seconds, or in polls.

A change that takes time (a volume being created, deleted, attached, a
volume uploaded to an image) is a list of :class:`Stage` s: the resource
enters each stage's status and the stage's ``work`` runs (copying bytes,
removing the record); the last stage is where it stays. Two pacers move
along the stages:

* :class:`TimedPacer` (the HTTP server): a background job; each stage but
  the last lasts at least ``status_delay`` seconds (times ``1 + extra``).
* :class:`PollPacer` (``FakeCloud``, unit tests): deterministic, counted in
  polls instead of seconds. Every get of the resource (:meth:`observe`)
  counts one poll; a stage lasting ``polls`` (``transition_polls + extra``)
  is reported by exactly that many gets, then the next one is entered in the
  request that polls. A stage with 0 polls is never seen.

Either way a transition is abandoned when its resource is gone or no longer
in the status the transition last set (someone reset or failed it), as
soon as that is seen (the timed pacer: within one ``status_delay``; the
poll pacer: at the next get), even in a stage made to last long: an image
deleted while Cinder uploads a volume to it fails the upload at once and
the volume returns to its status, as Cinder's manager does.
"""

import dataclasses
import time
from collections.abc import Callable

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Stage:
    """One status on the way; ``work`` runs when it is entered (no lock held).

    ``status`` None leaves the status as ``work`` sets it (a removal).
    """

    status: str | None
    work: Callable[[], None] | None = None
    extra: int = 0


class _Transition:
    def __init__(self, records, record_id, stages, on_failure, keys,
                 on_abandon=None):
        self.on_abandon = on_abandon
        self.records = records
        self.record_id = record_id
        self.stages = list(stages)
        self.on_failure = on_failure
        self.keys = keys
        self.current = None  # the status this transition last set
        self.allowed = 0
        self.seen = 0

    def still_ours(self):
        record = self.records.get(self.record_id)
        return record is not None and (self.current is None
                                       or record.status == self.current)

    def enter(self, state, stage):
        """Enter ``stage``; False when the transition is abandoned."""
        with state.lock:
            if not self.still_ours():
                if self.on_abandon is not None:
                    self.on_abandon()
                return False
            if stage.status is not None:
                state.set_status(self.records[self.record_id], stage.status)
            self.current = stage.status
        if stage.work is not None:
            try:
                stage.work()
            except Exception as exc:
                LOG.exception("Transition of %s failed", self.record_id)
                if self.on_failure is not None:
                    self.on_failure(exc)
                return False
        return True


class TimedPacer:
    """Stages last ``status_delay`` seconds each, in a background job."""

    def __init__(self, state, jobs, status_delay):
        self.state = state
        self.jobs = jobs
        self.status_delay = status_delay

    def begin(self, name, records, record_id, stages, on_failure=None,
              also=(), on_abandon=None):
        transition = _Transition(records, record_id, stages, on_failure, (),
                                 on_abandon)
        first = transition.stages[0]
        with self.state.lock:
            if first.status is not None:
                self.state.set_status(records[record_id], first.status)
            transition.current = first.status
        self.jobs.spawn(name, self._run, transition, on_failure=on_failure)

    def _run(self, transition):
        stages = transition.stages
        for index, stage in enumerate(stages):
            last = index == len(stages) - 1
            delay = 0 if last else self.status_delay * (1 + stage.extra)
            start = time.monotonic()
            if index == 0:
                if stage.work is not None:
                    stage.work()
            elif not transition.enter(self.state, stage):
                return
            self._last(transition, start + delay)

    def _last(self, transition, until):
        """Wait until ``until`` (monotonic), or less once the resource is gone
        or its status changed: the next stage then finds it abandoned at once,
        as Cinder's manager fails an upload whose image was deleted."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            self.jobs.sleep(min(left, self.status_delay))
            with self.state.lock:
                if not transition.still_ours():
                    return

    def observe(self, record_id, extra=0):
        """A get of the record: nothing to count in seconds."""

    def settle(self):
        """Nothing to hurry: the jobs run by themselves."""


class PollPacer:
    """Stages last ``polls`` gets each; everything runs in the polling request."""

    def __init__(self, state, polls):
        self.state = state
        self.polls = polls
        self._pending = {}  # record id (or another key) -> _Transition

    def begin(self, name, records, record_id, stages, on_failure=None,
              also=(), on_abandon=None):
        """Enter the first stage now; ``also``: more ids whose gets poll it."""
        keys = (record_id, *also)
        transition = _Transition(records, record_id, stages, on_failure, keys,
                                 on_abandon)
        with self.state.lock:
            for key in keys:
                self._pending[key] = transition
            self._move(transition, first=True)

    def observe(self, record_id, extra=0):
        """One get of ``record_id`` (``extra``: polls a slow fault adds)."""
        with self.state.lock:
            transition = self._pending.get(record_id)
            if transition is None:
                return
            if not transition.still_ours():  # abandoned: no need to wait
                if transition.on_abandon is not None:
                    transition.on_abandon()
                transition.stages.clear()
                self._forget(transition)
                return
            transition.allowed += extra
            self._move(transition)
            if self._pending.get(record_id) is transition:
                transition.seen += 1

    def settle(self):
        """Run every transition to its end, as if enough time passed."""
        with self.state.lock:
            for transition in list(dict.fromkeys(self._pending.values())):
                while transition.stages:
                    if not self._enter_next(transition):
                        break
                self._forget(transition)

    def _move(self, transition, first=False):
        if first and not self._enter_next(transition):
            self._forget(transition)
            return
        while transition.seen >= transition.allowed:
            if not transition.stages or not self._enter_next(transition):
                self._forget(transition)
                return
        if not transition.stages:
            self._forget(transition)

    def _enter_next(self, transition):
        stage = transition.stages.pop(0)
        if not transition.enter(self.state, stage):
            transition.stages.clear()
            return False
        transition.allowed = self.polls + stage.extra
        transition.seen = 0
        return True

    def _forget(self, transition):
        for key in transition.keys:
            if self._pending.get(key) is transition:
                del self._pending[key]
