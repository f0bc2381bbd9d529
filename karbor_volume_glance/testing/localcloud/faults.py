"""Fault injection: which request steps can fail, and how; and which were called.

``inject(step, fault, times=1, **options)`` (``FakeCloud.inject``,
``LocalCloud.inject`` or ``POST /_localcloud/faults``) arms a fault; the next
``times`` requests of that step take it (``times=None``: every request until
:meth:`FaultRegistry.clear`). Faults armed for one step are taken in the
order they were armed. Every request of a step is recorded in
:attr:`FaultRegistry.calls`, faulty or not.

Steps: ``token.create``; ``volume.create|get|list|delete|upload_to_image``;
``snapshot.create|get|list|delete``;
``image.create|get|list|upload|data|delete``;
``server.create|get|list|delete|attach|detach|get_volume|get_volumes`` and
``server.swap`` (always refused, but recorded).

Kinds:

``http`` (option ``status``, default 500)
    the request is answered with that status in the service's error body and
    changes nothing (the real client raises its error for that status).
``exception``
    ``http`` with status 500: the service's internal server error.
``error``
    the request is answered as usual, but the resource the step makes or
    works on ends in its failure status: a volume or snapshot made or read
    turns ``error`` (``error_deleting`` while deleting), one deleted
    ``error_deleting`` (and stays); an image made, read or uploaded to turns
    ``killed`` (and stays); for ``volume.upload_to_image`` the new image ends
    ``killed`` and the volume returns to its status before the upload; a
    server made, read or deleted turns ``ERROR``; an attach or detach rolls
    back (the volume returns to its status before it). A volume creation, a
    snapshot or an upload to an image that fails so leaves Cinder's user
    message about it (:mod:`.messages`). Not for
    ``token.create``, ``image.data``, the lists and ``server.get_volume(s)``.
``slow`` (options ``delay`` seconds and ``polls``; default ``delay=1``
    when neither is given)
    the request waits ``delay`` seconds before it is handled, and the status
    the step puts its resource in (``creating``/``downloading``,
    ``saving``, ``deleting``, ``attaching``, ``detaching``, or the current
    one for a get) lasts ``polls`` more polls (more ``status_delay`` periods
    on the HTTP server).
``busy`` (``volume.delete`` and ``snapshot.delete`` only)
    the deletion is accepted (202, ``deleting``), then the driver refuses it
    as busy and the resource is ``available`` again, as Cinder's manager does
    on ``VolumeIsBusy``/``SnapshotIsBusy`` (an RBD image with a watcher left
    by a client, say: "may be resolved by retrying the delete"). A
    cascading delete's snapshots are ``available`` again too.
``drop`` (``image.data`` only; option ``after_bytes``, default 0)
    the download sends that many bytes of the promised Content-Length, then
    the connection is closed.
``corrupt`` (``image.data`` only; option ``at_byte``, default 0)
    the byte at ``at_byte`` (or the last byte, if shorter) arrives flipped.
"""

import collections
import dataclasses
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

HTTP = "http"
EXCEPTION = "exception"
ERROR = "error"
SLOW = "slow"
DROP = "drop"
CORRUPT = "corrupt"
BUSY = "busy"
KINDS = (HTTP, EXCEPTION, ERROR, SLOW, DROP, CORRUPT, BUSY)

STEPS = (
    "token.create",
    "volume.create", "volume.get", "volume.list", "volume.delete",
    "volume.upload_to_image",
    "snapshot.create", "snapshot.get", "snapshot.list", "snapshot.delete",
    "image.create", "image.get", "image.list", "image.upload", "image.data",
    "image.delete",
    "server.create", "server.get", "server.list", "server.delete",
    "server.attach", "server.detach", "server.swap",
    "server.get_volume", "server.get_volumes",
)

_OPTIONS = {HTTP: {"status": 500}, EXCEPTION: {}, ERROR: {},
            SLOW: {"delay": 0, "polls": 0}, DROP: {"after_bytes": 0},
            CORRUPT: {"at_byte": 0}, BUSY: {}}
#: the steps a ``busy`` fault applies to
_BUSY_STEPS = ("volume.delete", "snapshot.delete")
_NO_ERROR_STEPS = ("token.create", "image.data", "volume.list", "snapshot.list",
                   "image.list", "server.list", "server.get_volume",
                   "server.get_volumes", "server.swap")
#: steps after which the resource passes through statuses (slow ``polls``)
_STEPS_WITH_TRANSITIONS = (
    "volume.create", "volume.get", "volume.delete", "volume.upload_to_image",
    "snapshot.create", "snapshot.get", "snapshot.delete", "image.get",
    "server.attach", "server.detach",
)


@dataclasses.dataclass
class Fault:
    step: str
    kind: str
    times: int | None
    options: dict

    def option(self, name):
        return self.options[name]

    def to_dict(self):
        return dataclasses.asdict(self)


def _check_number(name, value, minimum, integer):
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} >= {minimum}, got {value!r}")


def make_fault(step, fault, times=1, **options):
    """A validated :class:`Fault`, or ValueError saying what is wrong."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; steps: {', '.join(STEPS)}")
    if fault not in KINDS:
        raise ValueError(f"unknown fault {fault!r}; faults: {', '.join(KINDS)}")
    if fault in (DROP, CORRUPT) and step != "image.data":
        raise ValueError(f"the {fault} fault is only for image.data")
    if fault == BUSY and step not in _BUSY_STEPS:
        raise ValueError(f"the busy fault is only for {' and '.join(_BUSY_STEPS)}")
    if fault == ERROR and step in _NO_ERROR_STEPS:
        raise ValueError(f"the error fault does not apply to {step}")
    if times is not None:
        _check_number("times", times, 1, integer=True)
    unknown = set(options) - set(_OPTIONS[fault])
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))} for fault {fault!r}"
        )
    if fault == SLOW and not options:
        options = {"delay": 1.0}
    values = {**_OPTIONS[fault], **options}
    if fault == EXCEPTION:
        fault, values = HTTP, {"status": 500}
    if fault == HTTP:
        _check_number("status", values["status"], 400, integer=True)
        if values["status"] > 599:
            raise ValueError(f"status must be 400..599, got {values['status']}")
    elif fault == SLOW:
        _check_number("delay", values["delay"], 0, integer=False)
        _check_number("polls", values["polls"], 0, integer=True)
        if values["polls"] and step not in _STEPS_WITH_TRANSITIONS:
            raise ValueError(f"step {step!r} has no status to be slow in (polls)")
    elif fault == DROP:
        _check_number("after_bytes", values["after_bytes"], 0, integer=True)
    elif fault == CORRUPT:
        _check_number("at_byte", values["at_byte"], 0, integer=True)
    return Fault(step, fault, times, values)


class FaultRegistry:
    """Armed faults per step and the steps called; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed = collections.defaultdict(collections.deque)
        self._calls = []

    def inject(self, step, fault, times=1, **options):
        armed = make_fault(step, fault, times, **options)
        with self._lock:
            self._armed[step].append(armed)
        LOG.info("Armed fault %s at %s (times=%s, %s)", fault, step, times, options)
        return armed

    def take(self, step):
        """Record a request of ``step``; the fault it takes, or None."""
        with self._lock:
            self._calls.append(step)
            queue = self._armed.get(step)
            if not queue:
                return None
            armed = queue[0]
            if armed.times is not None:
                armed.times -= 1
                if armed.times <= 0:
                    queue.popleft()
        LOG.info("Request at %s takes fault %s %s", step, armed.kind, armed.options)
        return armed

    @property
    def calls(self):
        """The steps requested so far, in order."""
        with self._lock:
            return list(self._calls)

    def clear(self):
        with self._lock:
            self._armed.clear()

    def armed(self):
        with self._lock:
            return [fault.to_dict() for queue in self._armed.values()
                    for fault in queue]
