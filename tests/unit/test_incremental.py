"""Incremental backups: what they store, chains of them, and their parents."""

import os
import random

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import capabilities
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, Harness


def test_an_incremental_stores_only_the_changed_blocks(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(1))
    full = chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 3 * OBJECT_SIZE + 8192, b"\x01" * 4096)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    meta = point.manifest
    assert meta["incremental"] is True
    assert meta["parent_checkpoint_id"] == full.id
    assert meta["full_reason"] is None
    assert meta["sources"] == {
        full.id: f"/checkpoints/{full.id}/resource-data/{volume_id}/"}
    changed = meta["chunks"][3]
    assert changed["base"]["source"] == full.id and "source" not in changed
    assert all(chunk["source"] == full.id for i, chunk in
               enumerate(meta["chunks"]) if i != 3)
    # one 4 KiB block and the delta's header and index, not the 64 KiB chunk
    assert chains.own_stored_bytes(meta) < 4096 + 100
    assert chains.own_stored_bytes(full.manifest) == 8 * OBJECT_SIZE
    for each in (full, point):
        chains.assert_restores(harness, volume_id, each)


def test_an_unchanged_volume_stores_nothing_new(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(2))
    chains.protect_point(harness, volume_id)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert chains.own_stored_bytes(point.manifest) == 0
    assert point.manifest["chunks_num"] == 8
    chains.assert_restores(harness, volume_id, point)


def test_a_chunk_rewritten_mostly_is_stored_full_and_becomes_a_base(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(3))
    chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, OBJECT_SIZE, os.urandom(OBJECT_SIZE))
    second = chains.protect_point(harness, volume_id, INCREMENTAL)
    rewritten = second.manifest["chunks"][1]
    assert "base" not in rewritten and "source" not in rewritten
    assert rewritten["stored_size"] == OBJECT_SIZE
    harness.cloud.write_volume(volume_id, OBJECT_SIZE, b"\x02" * 4096)
    third = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert third.manifest["chunks"][1]["base"]["source"] == second.id
    chains.assert_restores(harness, volume_id, third)


def test_a_delta_is_always_against_a_full_base_never_a_delta(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(4))
    full = chains.protect_point(harness, volume_id)
    points = [full]
    for round_ in range(4):
        harness.cloud.write_volume(volume_id, 2 * OBJECT_SIZE + round_ * 4096,
                                   os.urandom(4096))
        points.append(chains.protect_point(harness, volume_id, INCREMENTAL))
    last = points[-1].manifest["chunks"][2]
    assert last["base"]["source"] == full.id
    # the delta is cumulative: every block changed since the base
    assert last["delta_size"] > 4 * 4096
    for point in points:
        chains.assert_restores(harness, volume_id, point)


def test_zero_chunks_in_either_backup(harness):
    data = bytearray(chains.random_data(5))
    data[OBJECT_SIZE:2 * OBJECT_SIZE] = bytes(OBJECT_SIZE)
    volume_id = harness.cloud.add_volume(data=bytes(data))
    chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, OBJECT_SIZE, b"\x03" * 4096)
    harness.cloud.write_volume(volume_id, 5 * OBJECT_SIZE, bytes(OBJECT_SIZE))
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    chunks = point.manifest["chunks"]
    assert chunks[1]["stored_size"] > 0 and "base" not in chunks[1]  # was zero
    assert chunks[5]["zero"] is True
    chains.assert_restores(harness, volume_id, point)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_chain_of_incrementals_restores_every_point(harness, seed):
    rng = random.Random(seed)
    size = 8 * OBJECT_SIZE
    volume_id = harness.cloud.add_volume(data=chains.random_data(seed))
    points = [chains.protect_point(harness, volume_id)]
    for _ in range(6):
        if rng.random() < 0.3:  # now and then a chunk rewritten whole
            chunk = rng.randrange(8)
            harness.cloud.write_volume(volume_id, chunk * OBJECT_SIZE,
                                       rng.randbytes(OBJECT_SIZE))
        chains.scatter(harness.cloud, volume_id, rng, rng.randrange(0, 6), size)
        points.append(chains.protect_point(harness, volume_id, INCREMENTAL))
        assert points[-1].manifest["parent_checkpoint_id"] == points[-2].id
    for point in points:
        chains.assert_restores(harness, volume_id, point)


def test_deep_verify_of_an_incremental_reads_every_source(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(6))
    chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 4096, b"\x04" * 4096)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    plugin = harness.plugin
    from karbor_volume_glance.testing import run_operation, volume_resource
    resource = volume_resource(volume_id)
    result = run_operation(plugin.get_verify_operation(resource), point.checkpoint,
                           resource, harness.context, {"deep": True})
    assert result["bytes"] == 8 * OBJECT_SIZE
    assert result["objects"] == 9  # 8 in the parent, the delta in its own


def test_a_damaged_base_fails_the_restore_naming_chunk_and_checkpoint(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(7))
    full = chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 4096, b"\x05" * 4096)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    section = harness.section(volume_id, full.checkpoint)
    damaged = bytearray(section.get_object("data_1"))
    damaged[100] ^= 0xFF
    section.update_object("data_1", bytes(damaged))
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id, checkpoint=point.checkpoint)
    cause = info.value.cause
    assert isinstance(cause, exceptions.ChunkIntegrityError)
    assert cause.chunk == f"data_1 of checkpoint {full.id}"
    assert "sha256" in cause.reason
    assert harness.cloud.leftovers() == []


def test_a_missing_referenced_chunk_is_found_before_anything_is_made(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(8))
    full = chains.protect_point(harness, volume_id)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    harness.section(volume_id, full.checkpoint).delete_object("data_6")
    created = len(harness.cloud.created())
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id, checkpoint=point.checkpoint)
    assert info.value.cause.chunk == f"data_6 of checkpoint {full.id}"
    assert len(harness.cloud.created()) == created


def test_a_source_outside_the_volumes_index_is_refused(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(9))
    chains.protect_point(harness, volume_id)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    section = harness.section(volume_id, point.checkpoint)
    meta = section.get_object("metadata")
    (source,) = meta["sources"]
    meta["sources"][source] = "/checkpoints/other/resource-data/other/"
    section.update_object("metadata", meta)
    created = len(harness.cloud.created())
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id, checkpoint=point.checkpoint)
    assert isinstance(info.value.cause, exceptions.InvalidBackupMetadata)
    assert f"source {source}" in str(info.value)
    assert "not a backup of volume" in str(info.value)
    assert len(harness.cloud.created()) == created


# --- which parent, or why none --------------------------------------------


def test_without_any_backup_an_incremental_is_full_and_says_why(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(10))
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    meta = point.manifest
    assert meta["incremental"] is False and meta["parent_checkpoint_id"] is None
    assert "no available backup of volume" in meta["full_reason"]
    assert chains.own_stored_bytes(meta) == 8 * OBJECT_SIZE


def test_a_grown_volume_gets_a_full_backup(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(11))
    chains.protect_point(harness, volume_id)
    harness.cloud.state.volumes[volume_id].size = 2
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert point.manifest["full_reason"] == "the volume grew from 1 to 2 GiB"
    assert point.manifest["incremental"] is False


def test_another_chunk_size_gets_a_full_backup(cloud, bank):
    volume_id = cloud.add_volume(data=chains.random_data(12))
    chains.protect_point(Harness(cloud, bank), volume_id)
    bigger = Harness(cloud, bank, backup_image_object_size=2 * OBJECT_SIZE)
    point = chains.protect_point(bigger, volume_id, INCREMENTAL)
    assert point.manifest["full_reason"] == (
        f"the chunk size changed from {OBJECT_SIZE} to {2 * OBJECT_SIZE}")
    chains.assert_restores(bigger, volume_id, point)


def test_the_parent_is_the_latest_available_backup_of_that_volume(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(13))
    other = harness.cloud.add_volume(data=chains.random_data(14))
    chains.protect_point(harness, volume_id)
    second = chains.protect_point(harness, volume_id)
    chains.protect_point(harness, other)  # another volume's: never a parent
    harness.cloud.inject("volume.upload_to_image", "error")
    with pytest.raises(exceptions.ProtectFailed):
        harness.protect(volume_id, INCREMENTAL, checkpoint=FakeCheckpoint(
            harness.bank))  # failed: never a parent
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert point.manifest["parent_checkpoint_id"] == second.id


def test_a_named_parent_is_used(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(15))
    first = chains.protect_point(harness, volume_id)
    chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 0, b"\x06" * 4096)
    point = chains.protect_point(harness, volume_id, {
        **INCREMENTAL, "parent_checkpoint_id": first.id})
    assert point.manifest["parent_checkpoint_id"] == first.id
    chains.assert_restores(harness, volume_id, point)


NAMED_PARENT_REFUSALS = {
    "unknown": "holds no backup of volume",
    "other volume": "holds no backup of volume",
    "deleted": "holds no backup of volume",  # nothing kept: no index entry
    "retained": "is retained, not available",  # deleted, kept for a child
}


@pytest.mark.parametrize("case", NAMED_PARENT_REFUSALS)
def test_a_named_parent_that_cannot_serve_is_refused_before_anything_is_made(
        harness, case):
    volume_id = harness.cloud.add_volume(data=chains.random_data(16))
    other = harness.cloud.add_volume(data=chains.random_data(17))
    parent = chains.protect_point(harness, other if case == "other volume"
                                  else volume_id)
    if case == "retained":
        chains.protect_point(harness, volume_id, INCREMENTAL)
    if case in ("deleted", "retained"):
        harness.delete(volume_id, checkpoint=parent.checkpoint)
    named = "no-such-checkpoint" if case == "unknown" else parent.id
    created = len(harness.cloud.created())
    checkpoint = FakeCheckpoint(harness.bank)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id, {**INCREMENTAL, "parent_checkpoint_id": named},
                        checkpoint=checkpoint)
    cause = info.value.cause
    assert isinstance(cause, exceptions.InvalidParameters)
    assert cause.field == "parent_checkpoint_id"
    assert NAMED_PARENT_REFUSALS[case] in cause.rule
    assert named in cause.rule
    assert len(harness.cloud.created()) == created
    assert harness.section(volume_id, checkpoint).list_objects(
        prefix="data_") == []


def test_a_named_parent_newer_than_the_snapshot_is_refused(harness):
    import datetime
    volume_id = harness.cloud.add_volume(data=chains.random_data(18))
    yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    snapshot_id = harness.cloud.add_snapshot(volume_id, created_at=yesterday)
    parent = chains.protect_point(harness, volume_id)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id, {**INCREMENTAL, "snapshot_id": snapshot_id,
                                    "parent_checkpoint_id": parent.id})
    assert "not older than this backup's" in info.value.cause.rule
    # without naming it, that parent is passed over: nothing older exists
    point = chains.protect_point(harness, volume_id,
                                 {**INCREMENTAL, "snapshot_id": snapshot_id})
    assert point.manifest["parent_checkpoint_id"] is None
    assert "older than this one" in point.manifest["full_reason"]


def test_parent_checkpoint_id_needs_incremental(harness):
    volume_id = harness.cloud.add_volume(data=b"x")
    with pytest.raises(exceptions.InvalidParameters) as info:
        harness.protect(volume_id, {"backup_name": "b",
                                    "parent_checkpoint_id": "c"})
    assert info.value.field == "incremental"
    assert harness.cloud.created() == []


def _without_consistent_listings(harness):
    """The harness's bank, declaring that a listing may miss a finished write
    (a Swift cluster's container listings)."""
    backend = harness.bank.backend
    backend.CAPABILITIES = backend.capabilities - {
        capabilities.LISTING_SEES_WRITES}
    return harness


def test_an_incremental_on_a_bank_without_consistent_listings_is_full(harness):
    _without_consistent_listings(harness)
    volume_id = harness.cloud.add_volume(data=chains.random_data(1))
    chains.protect_point(harness, volume_id)
    point = chains.protect_point(harness, volume_id, INCREMENTAL)
    assert point.manifest["incremental"] is False
    assert point.manifest["parent_checkpoint_id"] is None
    assert capabilities.LISTING_SEES_WRITES in point.manifest["full_reason"]
    assert chains.own_stored_bytes(point.manifest) == 8 * OBJECT_SIZE
    chains.assert_restores(harness, volume_id, point)


def test_a_named_parent_on_a_bank_without_consistent_listings_is_refused(harness):
    _without_consistent_listings(harness)
    volume_id = harness.cloud.add_volume(data=chains.random_data(1))
    full = chains.protect_point(harness, volume_id)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id, {"backup_name": "b", "incremental": True,
                                    "parent_checkpoint_id": full.id})
    assert "parent_checkpoint_id" in str(info.value)
    assert capabilities.LISTING_SEES_WRITES in str(info.value)
