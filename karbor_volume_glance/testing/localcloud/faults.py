"""Fault injection: which request steps can fail, and how.

``LocalCloud.inject(step, fault, times=1, **options)`` (or ``POST
/_localcloud/faults``) arms a fault; the next ``times`` requests of that step
take it (``times=None``: every request until :meth:`FaultRegistry.clear`).
Faults armed for one step are taken in the order they were armed.

Steps: ``token.create``; ``volume.create|get|delete|upload_to_image``;
``snapshot.create|get|delete``; ``image.create|get|upload|data|delete``;
``server.create|get|delete|attach|detach|swap``.

Kinds:

``http`` (option ``status``, default 500)
    the request is answered with that status in the service's error body and
    changes nothing.
``error``
    the request is answered as usual, but the resource the step makes or
    works on ends in its failure status: a volume or snapshot made or read
    turns ``error``, one deleted ``error_deleting`` (and stays); an image
    made, read, uploaded to or deleted turns ``killed`` (and stays); for
    ``volume.upload_to_image`` the new image ends ``killed`` and the volume
    returns to its status before the upload; a server made, read or deleted
    turns ``ERROR``; an attach, detach or swap rolls back (the volumes return
    to their status before it). Not for ``token.create`` and ``image.data``.
``slow`` (option ``delay`` seconds, default 1)
    the request waits that long before it is handled.
``drop`` (``image.data`` only; option ``after_bytes``, default 0)
    the download sends that many bytes of the promised Content-Length, then
    the connection is closed.
"""

import collections
import dataclasses
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

HTTP = "http"
ERROR = "error"
SLOW = "slow"
DROP = "drop"
KINDS = (HTTP, ERROR, SLOW, DROP)

STEPS = (
    "token.create",
    "volume.create", "volume.get", "volume.delete", "volume.upload_to_image",
    "snapshot.create", "snapshot.get", "snapshot.delete",
    "image.create", "image.get", "image.upload", "image.data", "image.delete",
    "server.create", "server.get", "server.delete",
    "server.attach", "server.detach", "server.swap",
)

_OPTIONS = {HTTP: {"status": 500}, ERROR: {}, SLOW: {"delay": 1.0},
            DROP: {"after_bytes": 0}}
_NO_ERROR_STEPS = ("token.create", "image.data")


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
    if fault == DROP and step != "image.data":
        raise ValueError("the drop fault is only for image.data")
    if fault == ERROR and step in _NO_ERROR_STEPS:
        raise ValueError(f"the error fault does not apply to {step}")
    if times is not None:
        _check_number("times", times, 1, integer=True)
    unknown = set(options) - set(_OPTIONS[fault])
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))} for fault {fault!r}"
        )
    values = {**_OPTIONS[fault], **options}
    if fault == HTTP:
        _check_number("status", values["status"], 400, integer=True)
        if values["status"] > 599:
            raise ValueError(f"status must be 400..599, got {values['status']}")
    elif fault == SLOW:
        _check_number("delay", values["delay"], 0, integer=False)
    elif fault == DROP:
        _check_number("after_bytes", values["after_bytes"], 0, integer=True)
    return Fault(step, fault, times, values)


class FaultRegistry:
    """Armed faults per step; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed = collections.defaultdict(collections.deque)

    def inject(self, step, fault, times=1, **options):
        armed = make_fault(step, fault, times, **options)
        with self._lock:
            self._armed[step].append(armed)
        LOG.info("Armed fault %s at %s (times=%s, %s)", fault, step, times, options)
        return armed

    def take(self, step):
        """The fault the next request of ``step`` takes, or None."""
        with self._lock:
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

    def clear(self):
        with self._lock:
            self._armed.clear()

    def armed(self):
        with self._lock:
            return [fault.to_dict() for queue in self._armed.values()
                    for fault in queue]
