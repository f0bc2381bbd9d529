"""Protect under faults: the section ends 'error', nothing temporary survives,
the original error is reported, and a later delete cleans the bank."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import Bank
from karbor_volume_glance.bank.memory import MemoryBackend
from tests.unit.harness import OBJECT_SIZE, Harness


@pytest.fixture
def harness(cloud, bank):
    """The snapshot path: its temporary snapshot and volume are what most of
    these tests break (``backup_from_snapshot = auto`` uploads an available
    volume itself; its faults are :func:`test_a_fault_on_the_direct_path`)."""
    return Harness(cloud, bank, backup_from_snapshot=True)

# (step, fault, options): every step of protect that touches the cloud.
FAULTS = [
    ("volume.get", "exception", {}),
    ("volume.get", "error", {}),
    ("snapshot.create", "exception", {}),
    ("snapshot.create", "error", {}),
    ("snapshot.get", "error", {}),
    ("volume.create", "exception", {}),
    ("volume.create", "error", {}),
    ("volume.upload_to_image", "exception", {}),
    ("volume.upload_to_image", "error", {}),
    ("image.get", "error", {}),
    ("image.get", "exception", {}),
    ("image.data", "exception", {}),
    # one more drop than download_retries resumes: the download gives up
    ("image.data", "drop", {"after_bytes": 100, "times": 4}),
    ("image.data", "corrupt", {"at_byte": 5}),
]


def assert_failed_cleanly(harness, volume_id):
    section = harness.section(volume_id)
    assert section.get_object("status") == "error"
    assert section.get_object("status_reason")
    assert "metadata" not in section.list_objects()
    assert harness.cloud.leftovers() == []
    harness.delete(volume_id)
    assert section.list_objects() == ["status"]
    assert section.get_object("status") == "deleted"


@pytest.mark.parametrize(
    "step, fault, options", FAULTS, ids=[f"{s}-{f}" for s, f, _ in FAULTS]
)
def test_fault_at_each_step_leaves_nothing_behind(harness, step, fault, options):
    volume_id = harness.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.cloud.inject(step, fault, **options)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert info.value.resource_id == volume_id
    assert_failed_cleanly(harness, volume_id)


#: The faults of the direct path (``auto``, an available volume).
DIRECT_FAULTS = [fault for fault in FAULTS
                 if not fault[0].startswith(("snapshot.", "volume.create"))]


@pytest.mark.parametrize(
    "step, fault, options", DIRECT_FAULTS,
    ids=[f"{s}-{f}" for s, f, _ in DIRECT_FAULTS])
def test_a_fault_on_the_direct_path(cloud, bank, step, fault, options):
    harness = Harness(cloud, bank)  # auto: the available volume uploaded itself
    volume_id = cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    cloud.inject(step, fault, **options)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert info.value.resource_id == volume_id
    assert "snapshot.create" not in cloud.calls
    assert_failed_cleanly(harness, volume_id)
    cloud.settle()  # an upload cut short ends as in Cinder
    if fault != "error" or step not in ("volume.get", "volume.upload_to_image"):
        assert cloud.status_of("volume", volume_id) == "available"


def test_error_names_the_resource_and_its_status(harness):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.cloud.inject("snapshot.get", "error")
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    cause = info.value.cause
    assert isinstance(cause, exceptions.ResourceFailed)
    assert cause.kind == "snapshot" and cause.status == "error"
    assert cause.resource_id in str(info.value)
    reason = harness.section(volume_id).get_object("status_reason")
    assert "ResourceFailed" in reason and cause.resource_id in reason


def test_a_stuck_snapshot_times_out_naming_it(cloud, bank, caplog):
    harness = Harness(cloud, bank, snapshot_timeout=0.05,
                      backup_from_snapshot=True)
    volume_id = cloud.add_volume(data=b"abc")
    cloud.inject("snapshot.create", "slow", polls=10_000)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert isinstance(info.value.cause, exceptions.ResourceTimeout)
    assert "still 'creating'" in str(info.value)
    assert harness.section(volume_id).get_object("status") == "error"
    # Cinder cannot delete a snapshot that is still 'creating': the plugin
    # waits for it up to the timeout, then says which one it had to leave.
    [(kind, snapshot_id, _)] = cloud.leftovers()
    assert kind == "snapshot"
    assert any(snapshot_id in rec.getMessage() and rec.levelname == "ERROR"
               for rec in caplog.records)


def test_a_volume_in_error_is_refused_before_anything_is_made(harness):
    volume_id = harness.cloud.add_volume(data=b"abc", status="error")
    with pytest.raises(exceptions.ProtectFailed, match="went to status 'error'"):
        harness.protect(volume_id)
    assert harness.cloud.created() == []


def test_a_missing_volume_is_named(harness):
    with pytest.raises(exceptions.ProtectFailed, match="no-such-volume"):
        harness.protect("no-such-volume")
    assert harness.cloud.created() == []


def test_a_cleanup_failure_never_hides_the_original_error(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.cloud.inject("image.data", "exception")
    harness.cloud.inject("volume.delete", "exception")
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert "downloading image" in str(info.value.cause)
    [(kind, _, name)] = harness.cloud.leftovers()
    assert (kind, name) == ("volume", f"temporary_volume_of_{volume_id}")


def test_a_cleanup_failure_after_success_is_recorded(harness, caplog):
    data = os.urandom(OBJECT_SIZE)
    volume_id = harness.cloud.add_volume(data=data)
    harness.cloud.inject("volume.delete", "exception")
    meta = harness.protect(volume_id)
    [(_, leftover_id, _)] = harness.cloud.leftovers()
    assert [item["resource_id"] for item in meta["leftovers"]] == [leftover_id]
    assert harness.section(volume_id).get_object("status") == "available"
    assert any(leftover_id in rec.getMessage() and rec.levelname == "ERROR"
               for rec in caplog.records)
    assert harness.cloud.volume_data(harness.restore(volume_id)) == data


@pytest.mark.parametrize("step", ["volume.delete", "snapshot.delete"])
def test_a_temporary_resource_refused_as_busy_is_deleted_again(harness, caplog,
                                                              step):
    """Real Cinder on RBD (issue 12): a deletion its driver refuses as busy
    puts the resource back to 'available'; protect deletes it again instead
    of waiting out the timeout, and leaves nothing."""
    data = os.urandom(OBJECT_SIZE)
    volume_id = harness.cloud.add_volume(data=data)
    harness.cloud.inject(step, "busy", times=2)
    harness.protect(volume_id)
    assert harness.cloud.leftovers() == []
    assert harness.cloud.calls.count(step) == 3
    refused = [rec for rec in caplog.records
               if "refused to delete" in rec.getMessage()]
    assert len(refused) == 2 and all(rec.levelname == "WARNING" for rec in refused)
    assert harness.section(volume_id).get_object("status") == "available"


def test_a_deletion_refused_until_the_timeout_is_a_named_leftover(cloud, bank):
    harness = Harness(cloud, bank, volume_timeout=0.5,  # room for a loaded machine
                      backup_from_snapshot=True)
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    cloud.inject("volume.delete", "busy", times=None)
    meta = harness.protect(volume_id)
    [leftover] = meta["leftovers"]
    assert leftover["kind"] == "volume"
    assert "refused to delete it as busy" in leftover["reason"]
    assert leftover["resource_id"] in leftover["reason"]


class FailingWrites(MemoryBackend):
    """A memory bank whose writes of one key fail."""

    def __init__(self, failing_suffix):
        super().__init__()
        self.failing_suffix = failing_suffix

    def update_object(self, key, value, context=None):
        if key.endswith(self.failing_suffix):
            raise exceptions.BankError(f"disk full writing {key}", key=key)
        return super().update_object(key, value, context=context)


@pytest.mark.parametrize("failing", ["/data_2", "/metadata"])
def test_a_bank_write_failure_fails_the_backup_and_it_is_never_available(
    cloud, failing
):
    harness = Harness(cloud, Bank(FailingWrites(failing)))
    volume_id = cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    with pytest.raises(exceptions.ProtectFailed, match="disk full"):
        harness.protect(volume_id)
    assert_failed_cleanly(harness, volume_id)


def test_status_is_protecting_while_data_is_written(cloud):
    seen = []

    class Watching(MemoryBackend):
        def update_object(self, key, value, context=None):
            if "/data_" in key or key.endswith("/metadata"):
                status_key = key.rsplit("/", 1)[0] + "/status"
                seen.append(self.get_object(status_key))
            return super().update_object(key, value, context=context)

    harness = Harness(cloud, Bank(Watching()))
    volume_id = cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    harness.protect(volume_id)
    assert seen == ["protecting"] * 3
    assert harness.section(volume_id).get_object("status") == "available"


@pytest.mark.parametrize(
    "params, field",
    [({}, "backup_name"), ({"backup_name": 3}, "backup_name"),
     ({"backup_name": "x", "bogus": 1}, "bogus"), (None, "backup_name")],
)
def test_invalid_options_touch_nothing(harness, params, field):
    volume_id = harness.cloud.add_volume(data=b"abc")
    calls_before = harness.cloud.calls
    with pytest.raises(exceptions.InvalidParameters) as info:
        harness.protect(volume_id, params=params)
    assert info.value.field == field
    assert harness.cloud.calls == calls_before
    assert harness.bank.list_objects() == []


def test_a_bank_that_refuses_the_first_status_write_fails_protect_cleanly(cloud):
    harness = Harness(cloud, Bank(FailingWrites("/status")))
    volume_id = cloud.add_volume(data=b"abc")
    with pytest.raises(exceptions.ProtectFailed, match="disk full"):
        harness.protect(volume_id)
    assert cloud.created() == []


class FlakyBank(MemoryBackend):
    """A memory bank whose first writes and reads of data_2 fail transiently."""

    def __init__(self, failures):
        super().__init__()
        self.failures = {"write": failures, "read": failures}

    def _maybe_fail(self, kind, key):
        if key.endswith("/data_2") and self.failures[kind]:
            self.failures[kind] -= 1
            raise exceptions.BankError(f"timeout on {key}", key=key)

    def update_object(self, key, value, context=None):
        self._maybe_fail("write", key)
        return super().update_object(key, value, context=context)

    def get_object(self, key, context=None, max_size=None):
        self._maybe_fail("read", key)
        return super().get_object(key, context=context, max_size=max_size)


def test_transient_bank_errors_are_retried(cloud):
    harness = Harness(cloud, Bank(FlakyBank(failures=2)), bank_retries=2)
    data = os.urandom(3 * OBJECT_SIZE)
    volume_id = cloud.add_volume(data=data)
    harness.protect(volume_id)
    assert cloud.volume_data(harness.restore(volume_id)) == data


def test_a_bank_failing_past_the_retries_fails_the_protect(cloud):
    harness = Harness(cloud, Bank(FlakyBank(failures=2)), bank_retries=1)
    volume_id = cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    with pytest.raises(exceptions.ProtectFailed, match="timeout on .*data_2"):
        harness.protect(volume_id)
    assert cloud.leftovers() == []
