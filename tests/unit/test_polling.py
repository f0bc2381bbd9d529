"""Status polling: backoff, success, failure, disappearance, deadline."""

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.cloud import polling


class Clock:
    """A fake clock that advances only when the poller sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def statuses(*values):
    iterator = iter(values)
    return lambda: next(iterator)


def wait(fetch, clock, timeout=100, max_interval=5):
    return polling.wait_for_status(
        fetch, kind="volume", resource_id="v1", success={"available"},
        failure={"error"}, timeout=timeout, max_interval=max_interval,
        sleep=clock.sleep, clock=clock.time,
    )


def test_first_poll_is_immediate_and_backoff_doubles_to_the_cap():
    clock = Clock()
    fetch = statuses(*(["creating"] * 8 + ["available"]))
    assert wait(fetch, clock, max_interval=1.0) == "available"
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]


def test_success_at_once_does_not_sleep():
    clock = Clock()
    assert wait(statuses("available"), clock) == "available"
    assert clock.sleeps == []


def test_failure_status_names_resource_and_status():
    clock = Clock()
    with pytest.raises(exceptions.ResourceFailed) as info:
        wait(statuses("creating", "error"), clock)
    assert info.value.resource_id == "v1"
    assert info.value.status == "error"
    assert "volume v1 went to status 'error'" in str(info.value)


def test_timeout_names_the_last_status_and_never_oversleeps():
    clock = Clock()
    with pytest.raises(exceptions.ResourceTimeout) as info:
        wait(lambda: "creating", clock, timeout=3, max_interval=2)
    assert info.value.status == "creating"
    assert "still 'creating' after 3 s" in str(info.value)
    assert clock.now == pytest.approx(3)


def test_disappearing_resource_is_an_error_while_waiting_for_it():
    with pytest.raises(exceptions.ResourceGone, match="volume v1 disappeared"):
        wait(statuses("creating", polling.GONE), Clock())


def test_predicates_work_as_success_and_failure():
    clock = Clock()
    result = polling.wait_for_status(
        statuses("uploading", "in-use"), kind="volume", resource_id="v",
        success=lambda s: s != "uploading", failure=lambda s: False,
        timeout=10, max_interval=1, expected=["settled"],
        sleep=clock.sleep, clock=clock.time,
    )
    assert result == "in-use"


def test_wait_until_gone_accepts_gone_statuses_and_refuses_error_deleting():
    clock = Clock()
    polling.wait_until_gone(
        statuses("deleting", "deleted"), kind="image", resource_id="i",
        timeout=10, max_interval=1, gone_statuses={"deleted"},
        sleep=clock.sleep, clock=clock.time,
    )
    assert clock.sleeps == [0.1]
    with pytest.raises(exceptions.ResourceFailed, match="error_deleting"):
        polling.wait_until_gone(
            statuses("deleting", "error_deleting"), kind="volume",
            resource_id="v", timeout=10, max_interval=1,
            failure={"error_deleting"}, sleep=clock.sleep, clock=clock.time,
        )


def test_a_resource_missing_at_the_first_poll_is_not_found():
    with pytest.raises(exceptions.ResourceGone, match="volume v1 not found") as info:
        wait(statuses(polling.GONE), Clock())
    assert info.value.existed is False
