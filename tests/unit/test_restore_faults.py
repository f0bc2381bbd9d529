"""Restore under faults and damaged backups: it fails loudly, names the chunk
or resource, and leaves no half-made image or volume behind."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.testing import FakeRecord, volume_resource
from tests.unit.harness import OBJECT_SIZE

CLOUD_FAULTS = [
    ("image.create", "exception", {}),
    ("image.upload", "exception", {}),
    ("image.upload", "error", {}),
    ("image.get", "error", {}),
    ("volume.create", "exception", {}),
    ("volume.create", "error", {}),
    ("volume.get", "error", {}),
]


@pytest.fixture
def protected(harness):
    data = os.urandom(3 * OBJECT_SIZE + 99)
    volume_id = harness.cloud.add_volume(data=data, size=1)
    harness.protect(volume_id)
    created_before = len(harness.cloud.created())
    return harness, volume_id, data, created_before


def assert_restore_failed_cleanly(harness, volume_id, record):
    assert harness.cloud.leftovers() == []
    resource = volume_resource(volume_id)
    assert record.status_of(resource) == "error"
    assert record.reason_of(resource)
    # the backup itself is untouched and still restorable
    assert harness.section(volume_id).get_object("status") == "available"


@pytest.mark.parametrize(
    "step, fault, options", CLOUD_FAULTS,
    ids=[f"{s}-{f}" for s, f, _ in CLOUD_FAULTS],
)
def test_cloud_fault_at_each_step_leaves_nothing(protected, step, fault, options):
    harness, volume_id, data, _ = protected
    harness.cloud.inject(step, fault, **options)
    record = FakeRecord()
    with pytest.raises(exceptions.RestoreFailed):
        harness.restore(volume_id, record=record)
    assert_restore_failed_cleanly(harness, volume_id, record)
    new_id = harness.restore(volume_id)  # and a retry works
    assert harness.cloud.volume_data(new_id) == data


def damage(section, how):
    if how == "flipped byte":
        chunk = bytearray(section.get_object("data_2"))
        chunk[10] ^= 0xFF
        section.update_object("data_2", bytes(chunk))
    elif how == "truncated":
        section.update_object("data_2", section.get_object("data_2")[:-1])
    elif how == "missing":
        section.delete_object("data_2")
    elif how == "swapped":
        one, two = section.get_object("data_1"), section.get_object("data_2")
        section.update_object("data_1", two)
        section.update_object("data_2", one)
    elif how == "not bytes":
        section.update_object("data_2", {"oops": 1})


@pytest.mark.parametrize(
    "how, chunk",
    [("flipped byte", "data_2"), ("truncated", "data_2"), ("missing", "data_2"),
     ("swapped", "data_1"), ("not bytes", "data_2")],
)
def test_damaged_chunk_fails_naming_it(protected, how, chunk):
    harness, volume_id, _, created_before = protected
    damage(harness.section(volume_id), how)
    record = FakeRecord()
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id, record=record)
    cause = info.value.cause
    assert isinstance(cause, exceptions.ChunkIntegrityError)
    assert cause.chunk == chunk
    assert f"chunk {chunk}" in str(info.value)
    assert harness.cloud.leftovers() == []
    assert f"chunk {chunk}" in record.reason_of(volume_resource(volume_id))
    # damage found before any byte went to Glance makes no volume at all
    made = [kind for kind, _, _ in harness.cloud.created()[created_before:]]
    assert "volume" not in made
    if how == "missing":
        assert made == []


def test_missing_chunk_is_found_before_anything_is_created(protected):
    harness, volume_id, _, created_before = protected
    harness.section(volume_id).delete_object("data_4")
    with pytest.raises(exceptions.RestoreFailed, match="chunk data_4"):
        harness.restore(volume_id)
    assert harness.cloud.created()[created_before:] == []


METADATA_DAMAGE = {
    "negative size": ({"image_size": -1}, "image_size"),
    "size of wrong type": ({"image_size": "1"}, "image_size"),
    "chunk count mismatch": ({"chunks_num": 2}, "chunks_num"),
    "count cannot hold size": ({"image_size": 10}, "cannot hold"),
    "zero volume size": ({"volume_size": 0}, "volume_size"),
    "bad sha": ({"sha256": "xyz"}, "sha256"),
    "unknown version": ({"format_version": 99}, "format_version"),
    "chunk escaping section": (
        {"chunks": "escape"}, "chunk data_1"),
    "chunk of wrong length": ({"chunks": "length"}, "chunk data_1"),
}


@pytest.mark.parametrize("change, words", METADATA_DAMAGE.values(),
                         ids=METADATA_DAMAGE.keys())
def test_contradictory_metadata_fails_before_anything_is_created(
    protected, change, words
):
    harness, volume_id, _, created_before = protected
    section = harness.section(volume_id)
    meta = section.get_object("metadata")
    if change.get("chunks") == "escape":
        meta["chunks"][0]["name"] = "../../other/data_1"
    elif change.get("chunks") == "length":
        meta["chunks"][0]["length"] = OBJECT_SIZE - 1
    else:
        meta.update(change)
    section.update_object("metadata", meta)
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id)
    assert words in str(info.value)
    assert harness.cloud.created()[created_before:] == []


@pytest.mark.parametrize("status", ["error", "protecting", "deleted", None])
def test_backup_that_is_not_available_is_refused(harness, status):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    section = harness.section(volume_id)
    if status is None:
        section.delete_object("status")
    else:
        section.update_object("status", status)
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id)
    assert isinstance(info.value.cause, exceptions.BackupNotAvailable)
    assert repr(status) in str(info.value)


def test_missing_metadata_is_named(harness):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    harness.section(volume_id).delete_object("metadata")
    with pytest.raises(exceptions.RestoreFailed, match="no metadata object"):
        harness.restore(volume_id)


def test_restore_of_a_volume_never_protected(harness):
    with pytest.raises(exceptions.RestoreFailed, match="status None"):
        harness.restore("never-protected")


def test_glance_storing_other_bytes_is_caught(protected, monkeypatch):
    """Glance's md5 must match the backup's: a store that alters data fails."""
    harness, volume_id, _, _ = protected
    meta = harness.section(volume_id).get_object("metadata")
    meta["image_metadata"]["checksum"] = "0" * 32
    harness.section(volume_id).update_object("metadata", meta)
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id)
    assert isinstance(info.value.cause, exceptions.ImageIntegrityError)
    assert harness.cloud.leftovers() == []


@pytest.mark.parametrize(
    "params, field",
    [({"restore_name": 1}, "restore_name"), ({"restore_name": None}, "restore_name"),
     ({"restore_name": "x", "size": 4}, "size")],
)
def test_invalid_restore_parameters_touch_nothing(protected, params, field):
    harness, volume_id, _, _ = protected
    calls_before = harness.cloud.calls
    with pytest.raises(exceptions.InvalidParameters) as info:
        harness.restore(volume_id, params=params)
    assert info.value.field == field
    assert harness.cloud.calls == calls_before
