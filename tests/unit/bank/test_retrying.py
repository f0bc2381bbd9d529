"""The bank retries by itself: a wrapped bank or section retries every call."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import Bank, compat, retrying
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.testing import FakeCloud
from tests.unit.harness import OBJECT_SIZE, Harness


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


class FlakyBackend(MemoryBackend):
    """A memory bank whose calls named in ``failures`` fail transiently
    (``failures[(method, key suffix)]`` times each), counting every call."""

    def __init__(self, **failures):
        super().__init__()
        self.failures = {tuple(name.split(":")): count
                         for name, count in failures.items()}
        self.calls = []

    def _maybe_fail(self, method, key):
        self.calls.append((method, key))
        for (name, suffix), count in self.failures.items():
            if name == method and (key or "").endswith(suffix) and count:
                self.failures[(name, suffix)] -= 1
                raise exceptions.BankError(f"timeout on {method} {key}", key=key)

    def update_object(self, key, value, context=None):
        self._maybe_fail("update", key)
        return super().update_object(key, value, context=context)

    def get_object(self, key, context=None, max_size=None):
        self._maybe_fail("get", key)
        return super().get_object(key, context=context, max_size=max_size)

    def list_objects(self, prefix=None, limit=None, marker=None, sort_dir=None,
                     context=None):
        self._maybe_fail("list", prefix)
        return super().list_objects(prefix, limit, marker, sort_dir, context)

    def delete_object(self, key, context=None):
        self._maybe_fail("delete", key)
        return super().delete_object(key, context=context)


def wrapped(backend, retries=3):
    policy = retrying.Policy(retries, sleep=Sleeps())
    return retrying.retrying(Bank(backend), policy=policy)


def test_a_status_write_failing_transiently_is_retried():
    backend = FlakyBackend(**{"update:/status": 2})
    section = wrapped(backend).get_sub_section("/checkpoints/c/")
    section.update_object("status", "available")
    assert backend.get_object("/checkpoints/c/status") == "available"
    assert backend.calls.count(("update", "/checkpoints/c/status")) == 3


def test_a_listing_failing_transiently_is_retried():
    backend = FlakyBackend(**{"list:/s/": 1})
    backend.update_object("/s/a", 1)
    section = wrapped(backend).get_sub_section("/s/")
    assert section.list_objects() == ["a"]
    assert compat.list_all(section) == ["a"]
    assert backend.calls.count(("list", "/s/")) == 3


def test_retries_stop_after_the_policy_and_raise_the_last_error():
    backend = FlakyBackend(**{"get:/k": 5})
    backend.update_object("/k", 1)
    with pytest.raises(exceptions.BankError, match="timeout on get /k"):
        wrapped(backend, retries=2).get_object("/k")
    assert backend.calls.count(("get", "/k")) == 3


def test_a_missing_object_is_not_retried():
    backend = FlakyBackend()
    with pytest.raises(exceptions.BankObjectNotFound):
        wrapped(backend).get_object("/nothing")
    assert backend.calls == [("get", "/nothing")]


def test_sections_reached_from_a_wrapped_one_are_wrapped_too():
    section = wrapped(FlakyBackend()).get_sub_section("/a/")
    assert retrying.is_retrying(section.get_sub_section("b"))
    assert retrying.is_retrying(compat.section_at(section, "/elsewhere/"))
    assert compat.prefix_of(compat.section_at(section, "/elsewhere/")) == (
        "/elsewhere/")


def test_a_wrapped_section_still_looks_like_the_section():
    section = wrapped(FlakyBackend()).get_sub_section("/a/", is_writable=False)
    assert section.prefix == "/a/"
    assert section.is_writable is False
    with pytest.raises(exceptions.BankReadOnly):
        section.update_object("k", 1)


def test_wrapping_twice_applies_the_policy_once():
    backend = FlakyBackend(**{"get:/k": 3})
    backend.update_object("/k", 1)
    once = wrapped(backend, retries=1)
    twice = retrying.retrying(once, policy=retrying.Policy(1, sleep=Sleeps()))
    with pytest.raises(exceptions.BankError):
        twice.get_object("/k")
    assert backend.calls.count(("get", "/k")) == 2


def test_a_karbor_error_over_a_transient_one_is_transient():
    class BankUpdateObjectFailed(Exception):  # as Karbor's, over our error
        pass

    try:
        try:
            raise ConnectionResetError("reset")
        except OSError as exc:
            raise BankUpdateObjectFailed("failed") from exc
    except BankUpdateObjectFailed as exc:
        assert retrying.is_transient(exc)
    try:
        try:
            raise exceptions.BankObjectNotFound("/k")
        except exceptions.BankError as exc:
            raise BankUpdateObjectFailed("failed") from exc
    except BankUpdateObjectFailed as exc:
        assert not retrying.is_transient(exc)


def test_a_protect_whose_status_write_and_listing_fail_once_succeeds():
    """No call site retries: the plugin wraps the section it is handed once,
    with ``bank_retries``, so the final ``status`` write, the index listing
    and the manifest read of a plain bank are each retried."""
    cloud = FakeCloud()
    backend = FlakyBackend(**{"update:/status": 1, "list:/backups/": 1,
                              "get:/metadata": 1})
    harness = Harness(cloud, Bank(backend), bank_retries=1)
    data = os.urandom(2 * OBJECT_SIZE)
    volume_id = cloud.add_volume(data=data)
    harness.protect(volume_id, {"backup_name": "b", "incremental": True})
    assert harness.section(volume_id).get_object("status") == "available"
    assert cloud.volume_data(harness.restore(volume_id)) == data
    assert all(count == 0 for count in backend.failures.values())


# --- the policy itself ----------------------------------------------------------


class Flaky:
    """A bank method that raises the given errors, then returns ``result``."""

    def __init__(self, *errors, result="value"):
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def test_pauses_grow_exponentially_and_are_capped():
    sleeps = Sleeps()
    policy = retrying.Policy(5, first_wait=0.001, max_wait=0.004, sleep=sleeps)
    assert policy.call(Flaky(*[OSError("boom")] * 5)) == "value"
    assert sleeps == [0.001, 0.002, 0.004, 0.004, 0.004]


def test_zero_retries_is_one_try():
    func = Flaky(OSError("boom"))
    with pytest.raises(OSError):
        retrying.Policy(0, sleep=Sleeps()).call(func)
    assert func.calls == 1


@pytest.mark.parametrize("retries", [-1, 1.5, True, None])
def test_a_senseless_retry_count_is_refused(retries):
    with pytest.raises(ValueError, match="retries"):
        retrying.Policy(retries)


def test_the_policy_comes_from_the_bank_retries_setting():
    class Settings:
        bank_retries = 4

    assert retrying.Policy.from_settings(Settings()).retries == 4


def test_each_retry_is_logged_with_the_call_and_the_key(caplog):
    backend = FlakyBackend(**{"update:/k": 1})
    with caplog.at_level("WARNING", logger=retrying.__name__):
        wrapped(backend).update_object("/k", 1)
    [message] = [r.getMessage() for r in caplog.records
                 if r.name == retrying.__name__]
    assert "update_object '/k' failed (attempt 1 of 4)" in message
    assert "timeout on update /k" in message


@pytest.mark.parametrize("error", [
    exceptions.BankError("backend hiccup"),
    OSError(5, "Input/output error"),
    TimeoutError(),
    type("S3BankError", (exceptions.BankError,), {"code": "SlowDown"})("busy"),
    type("SwiftBankError", (exceptions.BankError,), {"http_status": 503})("busy"),
], ids=lambda error: type(error).__name__)
def test_transient_errors(error):
    assert retrying.is_transient(error)


@pytest.mark.parametrize("error", [
    exceptions.BankObjectNotFound("k"),
    exceptions.InvalidBankKey("../k", "escapes"),
    exceptions.BankReadOnly("k"),
    exceptions.ChunkIntegrityError(7, "sha256 mismatch"),
    type("S3BankError", (exceptions.BankError,), {"code": "AccessDenied"})("no"),
    type("SwiftBankError", (exceptions.BankError,), {"http_status": 401})("no"),
    RuntimeError("a bug, not the bank"),
], ids=lambda error: type(error).__name__ + str(error))
def test_permanent_errors(error):
    assert not retrying.is_transient(error)
