"""Fault injection for the fake clients: which steps can fail, and how.

A test arms a fault with ``FakeCloud.inject(step, fault, times, **options)``;
the next ``times`` calls of that step take it. The kinds:

``exception``
    the call raises the real client's HTTP 500 error and changes nothing.
``error``
    the resource the step makes or works on ends in its failure status
    (volume/snapshot ``error``, or ``error_deleting`` for a delete; image
    ``killed``; for an attach/detach/swap the volumes roll back).
``slow``
    ``delay`` seconds of sleep in the call and/or ``polls`` more gets spent in
    the step's working status (``creating``/``downloading``, ``saving``,
    ``deleting``, ``attaching``, ``detaching``, or the current one for a get).
``drop`` (``image.data`` only)
    the download stops after ``after_bytes`` bytes with a dropped connection.
``corrupt`` (``image.data`` only)
    the byte at ``at_byte`` (or the last byte, if shorter) arrives flipped.
"""

import collections
import dataclasses

from cinderclient import exceptions as cinder_exceptions
from glanceclient import exc as glance_exceptions
from novaclient import exceptions as nova_exceptions

EXCEPTION = "exception"
ERROR = "error"
SLOW = "slow"
DROP = "drop"
CORRUPT = "corrupt"
FAULT_KINDS = (EXCEPTION, ERROR, SLOW, DROP, CORRUPT)

_FAULT_OPTIONS = {
    EXCEPTION: (),
    ERROR: (),
    SLOW: ("polls", "delay"),
    DROP: ("after_bytes",),
    CORRUPT: ("at_byte",),
}

# step -> the fault kinds it takes besides "exception" and "slow" (delay)
_STEP_FAULTS = {
    "volume.create": (ERROR,),
    "volume.get": (ERROR,),
    "volume.list": (),
    "volume.delete": (ERROR,),
    "volume.upload_to_image": (ERROR,),
    "snapshot.create": (ERROR,),
    "snapshot.get": (ERROR,),
    "snapshot.list": (),
    "snapshot.delete": (ERROR,),
    "image.create": (ERROR,),
    "image.get": (ERROR,),
    "image.list": (),
    "image.upload": (ERROR,),
    "image.data": (DROP, CORRUPT),
    "image.delete": (),
    "server.create": (),
    "server.get": (),
    "server.list": (),
    "server.delete": (),
    "server.attach": (ERROR,),
    "server.detach": (ERROR,),
    "server.swap": (ERROR,),
    "server.get_volume": (),
    "server.get_volumes": (),
}
STEPS = tuple(_STEP_FAULTS)

# steps after which the resource passes through statuses, so slow polls apply
_STEPS_WITH_TRANSITIONS = frozenset(
    {
        "volume.create",
        "volume.get",
        "volume.delete",
        "volume.upload_to_image",
        "snapshot.create",
        "snapshot.get",
        "snapshot.delete",
        "image.get",
        "server.attach",
        "server.detach",
        "server.swap",
    }
)

_SERVICE_OF_RESOURCE = {
    "volume": "cinder",
    "snapshot": "cinder",
    "image": "glance",
    "server": "nova",
}


@dataclasses.dataclass(frozen=True)
class Fault:
    """One armed fault; only the options of its kind mean anything."""

    kind: str
    polls: int = 0
    delay: float = 0.0
    after_bytes: int = 0
    at_byte: int = 0


class FaultPlan:
    """The faults armed per step, each used up after its ``times`` calls.

    Not locked itself: :class:`~.fakecloud.FakeCloud` calls it under its lock.
    """

    def __init__(self):
        self._armed = collections.defaultdict(collections.deque)

    def inject(self, step, kind, times=1, **options):
        fault = make_fault(step, kind, **options)
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"times must be a positive integer, got {times!r}")
        self._armed[step].append([fault, times])

    def take(self, step):
        """The fault the next call of ``step`` suffers, or None."""
        armed = self._armed.get(step)
        if not armed:
            return None
        fault, times_left = armed[0]
        if times_left == 1:
            armed.popleft()
        else:
            armed[0][1] = times_left - 1
        return fault

    def clear(self):
        self._armed.clear()


def make_fault(step, kind, **options):
    """Check that ``step`` can suffer ``kind`` with ``options``; build it."""
    if step not in _STEP_FAULTS:
        raise ValueError(f"unknown step {step!r}; known steps: {', '.join(STEPS)}")
    if kind not in FAULT_KINDS:
        raise ValueError(
            f"unknown fault {kind!r}; known faults: {', '.join(FAULT_KINDS)}"
        )
    if kind not in (EXCEPTION, SLOW) + _STEP_FAULTS[step]:
        raise ValueError(f"step {step!r} cannot take the fault {kind!r}")
    unknown = sorted(set(options) - set(_FAULT_OPTIONS[kind]))
    if unknown:
        raise ValueError(
            f"fault {kind!r} takes no option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(_FAULT_OPTIONS[kind]) or 'none'}"
        )
    for name, value in options.items():
        _check_not_negative(name, value, allow_float=name == "delay")
    if options.get("polls") and step not in _STEPS_WITH_TRANSITIONS:
        raise ValueError(f"step {step!r} has no status to be slow in (polls)")
    return Fault(kind=kind, **options)


def _check_not_negative(name, value, allow_float):
    kinds = (int, float) if allow_float else (int,)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
        raise ValueError(f"option {name} must be a number >= 0, got {value!r}")


def service_of(step):
    """The service a step belongs to: cinder, glance or nova."""
    return _SERVICE_OF_RESOURCE[step.split(".", 1)[0]]


def server_error(step):
    """The error the real client raises when its service answers HTTP 500."""
    message = f"Injected fault: internal server error in {step}"
    service = service_of(step)
    if service == "cinder":
        return cinder_exceptions.ClientException(500, message)
    if service == "glance":
        return glance_exceptions.HTTPInternalServerError(message)
    return nova_exceptions.ClientException(500, message)


def extra_polls(fault):
    """How many more polls a ``slow`` fault adds (0 for no fault or another kind)."""
    return fault.polls if fault is not None and fault.kind == SLOW else 0


def is_error(fault):
    return fault is not None and fault.kind == ERROR
