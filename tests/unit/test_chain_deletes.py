"""Deleting backups of an incremental chain, in any order, breaks none."""

import itertools
import random

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, Harness


@pytest.fixture(params=chains.KEYINGS)
def harness(request, cloud, bank):
    """The harness of conftest, on a plain and on an encrypted bank."""
    return Harness(cloud, bank, master_key=chains.master_key(request.param))


def build_chain(harness, volume_id, rng, length):
    points = [chains.protect_point(harness, volume_id)]
    for _ in range(length - 1):
        if rng.random() < 0.3:
            harness.cloud.write_volume(volume_id, rng.randrange(8) * OBJECT_SIZE,
                                       rng.randbytes(OBJECT_SIZE))
        chains.scatter(harness.cloud, volume_id, rng, rng.randrange(1, 5),
                       8 * OBJECT_SIZE)
        points.append(chains.protect_point(harness, volume_id, INCREMENTAL))
    return points


def assert_nothing_left(bank, volume_id):
    left = chains.backup_keys(bank)
    assert left == [], f"left in the bank: {left}"
    statuses = [bank.get_object(key) for key in bank.list_objects("/")]
    assert set(statuses) <= {"deleted"}


@pytest.mark.parametrize("seed", range(6))
def test_deletes_in_a_random_order_leave_the_rest_restorable(harness, seed):
    rng = random.Random(seed)
    volume_id = harness.cloud.add_volume(data=chains.random_data(seed))
    points = build_chain(harness, volume_id, rng, 5)
    order = points[:]
    rng.shuffle(order)
    alive = list(points)
    for point in order:
        harness.delete(volume_id, checkpoint=point.checkpoint)
        alive.remove(point)
        for survivor in alive:
            chains.assert_restores(harness, volume_id, survivor)
    assert_nothing_left(harness.bank, volume_id)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_order_of_three(harness, order):
    rng = random.Random(sum(order))
    volume_id = harness.cloud.add_volume(data=chains.random_data(30))
    points = build_chain(harness, volume_id, rng, 3)
    alive = list(points)
    for position in order:
        harness.delete(volume_id, checkpoint=points[position].checkpoint)
        alive.remove(points[position])
        for survivor in alive:
            chains.assert_restores(harness, volume_id, survivor)
    assert_nothing_left(harness.bank, volume_id)


def test_a_deleted_parent_keeps_only_the_chunks_its_children_use(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(31))
    full = chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 0, chains.random_data(32, chunks=2))
    child = chains.protect_point(harness, volume_id, INCREMENTAL)
    # chunks 0 and 1 were rewritten whole: the child stored them itself
    assert [c.get("source") for c in child.manifest["chunks"][:2]] == [None, None]
    harness.delete(volume_id, checkpoint=full.checkpoint)
    kept = harness.section(volume_id, full.checkpoint).list_objects()
    assert sorted(kept) == sorted(["status"] + [f"data_{n}" for n in range(3, 9)])
    entry = harness.bank.get_object(
        f"/volume_glance/by-volume/{volume_id}/backups/{full.id}")
    assert entry["status"] == "retained" and entry["retains"] == list(range(2, 8))
    chains.assert_restores(harness, volume_id, child)


def test_a_failed_incremental_can_be_deleted_and_keeps_nothing_alive(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(33))
    full = chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 0, b"\x07" * 4096)
    failed = FakeCheckpoint(harness.bank)
    harness.cloud.inject("image.data", "drop", after_bytes=OBJECT_SIZE,
                         times=10)
    with pytest.raises(exceptions.ProtectFailed):
        harness.protect(volume_id, INCREMENTAL, checkpoint=failed)
    entry = harness.bank.get_object(
        f"/volume_glance/by-volume/{volume_id}/backups/{failed.id}")
    assert entry["status"] == "error" and entry["uses"] == {}
    harness.delete(volume_id, checkpoint=full.checkpoint)
    assert harness.section(volume_id, full.checkpoint).list_objects(
        prefix="data_") == []
    harness.delete(volume_id, checkpoint=failed)
    assert_nothing_left(harness.bank, volume_id)


def test_deleting_twice_is_harmless(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(34))
    full = chains.protect_point(harness, volume_id)
    child = chains.protect_point(harness, volume_id, INCREMENTAL)
    for _ in range(2):
        harness.delete(volume_id, checkpoint=full.checkpoint)
        chains.assert_restores(harness, volume_id, child)
    harness.delete(volume_id, checkpoint=child.checkpoint)
    harness.delete(volume_id, checkpoint=child.checkpoint)
    assert_nothing_left(harness.bank, volume_id)


def test_backups_of_other_volumes_are_not_touched(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(35))
    other_id = harness.cloud.add_volume(data=chains.random_data(36))
    other = chains.protect_point(harness, other_id)
    other_child = chains.protect_point(harness, other_id, INCREMENTAL)
    points = [chains.protect_point(harness, volume_id),
              chains.protect_point(harness, volume_id, INCREMENTAL)]
    for point in points:
        harness.delete(volume_id, checkpoint=point.checkpoint)
    for point in (other, other_child):
        chains.assert_restores(harness, other_id, point)
