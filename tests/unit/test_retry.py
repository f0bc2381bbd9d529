"""retry.bank_call: transient bank errors are retried with backoff, others not."""

import logging

import pytest

from karbor_volume_glance import exceptions, retry


class Flaky:
    """A bank method that raises the given errors, then returns ``result``."""

    def __init__(self, *errors, result="value"):
        self.errors = list(errors)
        self.result = result
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.errors:
            raise self.errors.pop(0)
        return self.result


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def call(func, retries=3, sleep=None, **options):
    return retry.bank_call(func, "key", retries=retries, what="writing key",
                           sleep=Sleeps() if sleep is None else sleep,
                           first_wait=0.001, max_wait=0.004, **options)


@pytest.mark.parametrize("error", [
    exceptions.BankError("backend hiccup", key="key"),
    OSError(5, "Input/output error"),
    ConnectionResetError("connection reset by peer"),
], ids=["BankError", "OSError", "ConnectionError"])
def test_a_transient_error_then_success_returns_the_result(error):
    func = Flaky(error)
    assert call(func) == "value"
    assert len(func.calls) == 2


def test_arguments_reach_the_function_on_every_try():
    func = Flaky(OSError("boom"))
    call(func, value=b"bytes")
    assert func.calls == [(("key",), {"value": b"bytes"})] * 2


def test_exhausted_retries_reraise_the_last_error_unchanged():
    errors = [exceptions.BankError(f"failure {n}") for n in range(3)]
    func = Flaky(*errors)
    with pytest.raises(exceptions.BankError) as caught:
        call(func, retries=2)
    assert caught.value is errors[-1]
    assert len(func.calls) == 3


def test_zero_retries_is_one_try():
    func = Flaky(OSError("boom"))
    with pytest.raises(OSError):
        call(func, retries=0)
    assert len(func.calls) == 1


@pytest.mark.parametrize("error", [
    exceptions.BankObjectNotFound("key"),
    exceptions.InvalidBankKey("../key", "escapes the section"),
    exceptions.BankReadOnly("key"),
    exceptions.UnknownBankBackend("s3", ["file", "memory"]),
    exceptions.ChunkIntegrityError(7, "sha256 mismatch"),
    ValueError("a bug, not the bank"),
], ids=lambda error: type(error).__name__)
def test_permanent_errors_are_raised_at_once(error):
    func = Flaky(error)
    with pytest.raises(type(error)) as caught:
        call(func)
    assert caught.value is error
    assert len(func.calls) == 1


def test_pauses_grow_exponentially_and_are_capped():
    sleeps = Sleeps()
    func = Flaky(*[OSError("boom")] * 5)
    assert call(func, retries=5, sleep=sleeps) == "value"
    assert sleeps == [0.001, 0.002, 0.004, 0.004, 0.004]


def test_default_pauses_start_small_and_stay_bounded():
    sleeps = Sleeps()
    func = Flaky(*[exceptions.BankError("busy")] * 8)
    retry.bank_call(func, retries=8, what="listing", sleep=sleeps)
    assert sleeps[0] == retry.FIRST_WAIT
    assert max(sleeps) == retry.MAX_WAIT
    assert sleeps == sorted(sleeps)


def test_each_retry_is_logged_with_what_and_the_attempt(caplog):
    func = Flaky(OSError("disk full"), exceptions.BankError("busy"))
    with caplog.at_level(logging.WARNING, logger=retry.__name__):
        retry.bank_call(func, retries=3, what="writing data_7 of volume X",
                        sleep=Sleeps())
    messages = [r.getMessage() for r in caplog.records
                if r.name == retry.__name__ and r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert all("writing data_7 of volume X" in m for m in messages)
    assert "attempt 1 of 4" in messages[0] and "disk full" in messages[0]
    assert "attempt 2 of 4" in messages[1] and "BankError" in messages[1]


@pytest.mark.parametrize("retries", [-1, 1.5, True, None])
def test_a_senseless_retry_count_is_refused(retries):
    with pytest.raises(ValueError, match="retries"):
        retry.bank_call(Flaky(), retries=retries, what="x")


def test_is_transient_tells_the_kinds_apart():
    assert retry.is_transient(exceptions.BankError("x"))
    assert retry.is_transient(TimeoutError())
    assert not retry.is_transient(exceptions.BankObjectNotFound("k"))
    assert not retry.is_transient(RuntimeError())
