"""Waiting for a cloud resource to reach a status, with backoff and a deadline.

Every wait in the plugin goes through :func:`wait_for_status` or
:func:`wait_until_gone`: the first poll is immediate, then the pause starts at a
tenth of a second and doubles up to ``max_interval`` (the ``poll_interval``
option), never sleeping past the deadline. A failure status or the deadline
raises an error naming the resource and its last status.
"""

import time

from oslo_log import log as logging

from karbor_volume_glance import exceptions

LOG = logging.getLogger(__name__)

FIRST_INTERVAL = 0.1

#: Returned by a status fetcher when the resource no longer exists.
GONE = None


def intervals(max_interval, first=FIRST_INTERVAL):
    """Pauses between polls: ``first``, doubling, capped at ``max_interval``."""
    pause = min(first, max_interval)
    while True:
        yield pause
        pause = min(pause * 2, max_interval)


def _poll(fetch, kind, resource_id, done, timeout, max_interval, describe, sleep,
          clock):
    """Call ``fetch`` until ``done(status)`` is true; return the last status."""
    deadline = clock() + timeout
    pauses = intervals(max_interval)
    while True:
        status = fetch()
        LOG.debug("%s %s status: %s", kind, resource_id, status)
        if done(status):
            return status
        remaining = deadline - clock()
        if remaining <= 0:
            raise exceptions.ResourceTimeout(
                kind, resource_id, status, describe, timeout
            )
        sleep(min(next(pauses), remaining))


def _predicate(statuses):
    """A status test from a set of statuses or from a callable."""
    return statuses if callable(statuses) else statuses.__contains__


def wait_for_status(fetch, *, kind, resource_id, success, failure, timeout,
                    max_interval, expected=None, sleep=time.sleep,
                    clock=time.monotonic):
    """Poll ``fetch()`` until it returns a status that ``success`` holds.

    ``success`` and ``failure`` are sets of statuses or predicates on a
    status; ``expected`` describes success in messages (default: the sorted
    success set). A failure status ends the wait with ResourceFailed;
    :data:`GONE` (the resource was deleted under us) with ResourceGone. Any
    other status is transitional and waited out until ``timeout`` seconds.
    """
    is_success, is_failure = _predicate(success), _predicate(failure)
    expected = expected or sorted(success)
    polls = 0

    def done(status):
        nonlocal polls
        polls += 1
        if status is GONE:
            raise exceptions.ResourceGone(kind, resource_id, expected,
                                          existed=polls > 1)
        if is_success(status):
            return True
        if is_failure(status):
            raise exceptions.ResourceFailed(kind, resource_id, status, expected)
        return False

    return _poll(fetch, kind, resource_id, done, timeout, max_interval,
                 expected, sleep, clock)


def wait_until_gone(fetch, *, kind, resource_id, timeout, max_interval,
                    gone_statuses=(), failure=(), refused=(), sleep=time.sleep,
                    clock=time.monotonic):
    """Poll ``fetch()`` until the resource no longer exists.

    ``gone_statuses`` count as gone too (Glance keeps ``deleted`` images);
    a status in ``failure`` (e.g. ``error_deleting``) raises ResourceFailed;
    one in ``refused`` (a deletion the service took, then undid) raises
    DeletionRefused.
    """

    def done(status):
        if status is GONE or status in gone_statuses:
            return True
        if status in failure:
            raise exceptions.ResourceFailed(kind, resource_id, status, ["deleted"])
        if status in refused:
            raise exceptions.DeletionRefused(kind, resource_id, status)
        return False

    _poll(fetch, kind, resource_id, done, timeout, max_interval, ["deleted"],
          sleep, clock)
