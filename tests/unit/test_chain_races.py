"""Protects and deletes of one volume's backups at once corrupt neither.

The interleavings that matter are forced with a bank that runs a delete at
an exact point of a protect (before or after its index entry is written,
while its chunks stream); a threaded run mixes many of them at random.
"""

import random
import threading

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.bank.section import BankSection
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, Harness


class HookedBank:
    """A bank that runs ``hook`` once, before or after a matching write."""

    def __init__(self, bank):
        self._bank = bank
        self.hooks = []  # (predicate(key, value), when, action)

    def on_write(self, predicate, action, when="before"):
        self.hooks.append((predicate, when, action))

    def _run(self, key, value, when):
        for hook in list(self.hooks):
            predicate, hook_when, action = hook
            if hook_when == when and predicate(key, value):
                self.hooks.remove(hook)
                action()

    def update_object(self, key, value, context=None):
        self._run(key, value, "before")
        self._bank.update_object(key, value, context=context)
        self._run(key, value, "after")

    def get_sub_section(self, section, is_writable=True):
        return BankSection(self, section, is_writable=is_writable)

    def __getattr__(self, name):
        return getattr(self._bank, name)


@pytest.fixture(params=chains.KEYINGS)
def harness(request, cloud, bank):
    """The harness of conftest, on a plain and on an encrypted bank."""
    return Harness(cloud, bank, master_key=chains.master_key(request.param))


@pytest.fixture(params=[(kind, keying) for kind in ("memory", "file")
                        for keying in chains.KEYINGS])
def hooked(request, tmp_path, cloud):
    kind, keying = request.param
    url = "memory://" if kind == "memory" else f"file://{tmp_path}/bank"
    return Harness(cloud, HookedBank(open_bank(url)),
                   master_key=chains.master_key(keying))


def entry_write(checkpoint, status):
    def matches(key, value):
        return (key.endswith(f"/backups/{checkpoint.id}")
                and isinstance(value, dict) and value.get("status") == status)
    return matches


def chunk_write(checkpoint):
    def matches(key, value):
        return f"/checkpoints/{checkpoint.id}/" in key and "/data_" in key
    return matches


def setup_parent(harness, seed):
    volume_id = harness.cloud.add_volume(data=chains.random_data(seed))
    parent = chains.protect_point(harness, volume_id)
    harness.cloud.write_volume(volume_id, 5 * 4096, b"\x08" * 4096)
    return volume_id, parent


def test_parent_deleted_before_the_protect_registers(hooked):
    volume_id, parent = setup_parent(hooked, 40)
    child = FakeCheckpoint(hooked.bank)
    hooked.bank.on_write(entry_write(child, "protecting"),
                         lambda: hooked.delete(volume_id, checkpoint=parent.checkpoint))
    meta = hooked.protect(volume_id, INCREMENTAL, checkpoint=child)
    # it chose the parent, then found it gone: a full backup, said so
    assert meta["incremental"] is False
    assert f"checkpoint {parent.id} is gone" in meta["full_reason"]
    chains.assert_restores(hooked, volume_id, chains.Point(
        child, hooked.cloud.volume_data(volume_id), meta))
    assert hooked.section(volume_id, parent.checkpoint).list_objects(
        prefix="data_") == []


def test_parent_deleted_right_after_the_protect_registers(hooked):
    volume_id, parent = setup_parent(hooked, 41)
    child = FakeCheckpoint(hooked.bank)
    hooked.bank.on_write(entry_write(child, "protecting"),
                         lambda: hooked.delete(volume_id, checkpoint=parent.checkpoint),
                         when="after")
    meta = hooked.protect(volume_id, INCREMENTAL, checkpoint=child)
    # the delete saw the registration and kept the parent's chunks; the
    # protect saw the parent no longer available and made a full backup
    assert meta["incremental"] is False
    assert "is retained" in meta["full_reason"]
    point = chains.Point(child, hooked.cloud.volume_data(volume_id), meta)
    chains.assert_restores(hooked, volume_id, point)
    hooked.delete(volume_id, checkpoint=child)
    assert chains.backup_keys(hooked.bank) == []


def test_parent_deleted_while_the_chunks_stream(hooked):
    volume_id, parent = setup_parent(hooked, 42)
    child = FakeCheckpoint(hooked.bank)
    hooked.bank.on_write(chunk_write(child),
                         lambda: hooked.delete(volume_id, checkpoint=parent.checkpoint))
    meta = hooked.protect(volume_id, INCREMENTAL, checkpoint=child)
    assert meta["incremental"] is True and meta["parent_checkpoint_id"] == parent.id
    point = chains.Point(child, hooked.cloud.volume_data(volume_id), meta)
    chains.assert_restores(hooked, volume_id, point)
    kept = hooked.section(volume_id, parent.checkpoint).list_objects(prefix="data_")
    assert len(kept) == 8  # all of them, until the child says which it uses
    hooked.delete(volume_id, checkpoint=child)
    assert chains.backup_keys(hooked.bank) == []


def test_a_backup_deleted_while_it_is_being_made_fails(hooked):
    volume_id, parent = setup_parent(hooked, 43)
    child = FakeCheckpoint(hooked.bank)
    hooked.bank.on_write(chunk_write(child),
                         lambda: hooked.delete(volume_id, checkpoint=child))
    with pytest.raises(exceptions.ProtectFailed) as info:
        hooked.protect(volume_id, INCREMENTAL, checkpoint=child)
    assert "deleted while it was being made" in str(info.value)
    assert hooked.cloud.leftovers() == []
    chains.assert_restores(hooked, volume_id, parent)


def test_a_new_child_racing_the_delete_of_its_grandparent(hooked):
    volume_id, first = setup_parent(hooked, 44)
    second = chains.protect_point(hooked, volume_id, INCREMENTAL)
    hooked.cloud.write_volume(volume_id, 9 * 4096, b"\x09" * 4096)
    third = FakeCheckpoint(hooked.bank)
    hooked.bank.on_write(chunk_write(third),
                         lambda: hooked.delete(volume_id, checkpoint=first.checkpoint))
    meta = hooked.protect(volume_id, INCREMENTAL, checkpoint=third)
    assert meta["parent_checkpoint_id"] == second.id
    assert first.id in meta["sources"]  # it reads first's chunks through second
    chains.assert_restores(hooked, volume_id, second)
    chains.assert_restores(hooked, volume_id, chains.Point(
        third, hooked.cloud.volume_data(volume_id), meta))


def test_two_protects_of_one_volume_at_once(harness):
    volume_id = harness.cloud.add_volume(data=chains.random_data(45))
    chains.protect_point(harness, volume_id)
    data = harness.cloud.volume_data(volume_id)
    points, errors = [], []

    def protect():
        try:
            checkpoint = FakeCheckpoint(harness.bank)
            meta = harness.protect(volume_id, INCREMENTAL, checkpoint=checkpoint)
            points.append(chains.Point(checkpoint, data, meta))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=protect) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for point in points:
        chains.assert_restores(harness, volume_id, point)


@pytest.mark.parametrize("keying", chains.KEYINGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_protects_and_deletes_in_threads(cloud, tmp_path, seed, keying):
    rng = random.Random(seed)
    harness = Harness(cloud, open_bank(f"file://{tmp_path}/bank"),
                      master_key=chains.master_key(keying))
    volume_id = cloud.add_volume(data=chains.random_data(seed))
    points = [chains.protect_point(harness, volume_id)]
    lock = threading.Lock()
    errors = []

    def protect(rng):
        # other threads write on: the point in time is whatever the
        # protect's snapshot caught, so restores are checked against the
        # hash the protect recorded of what it read
        data = chains.scatter(cloud, volume_id, rng, 2, 8 * OBJECT_SIZE)
        checkpoint = FakeCheckpoint(harness.bank)
        meta = harness.protect(volume_id, INCREMENTAL, checkpoint=checkpoint)
        with lock:
            points.append(chains.Point(checkpoint, data, meta))

    def delete(rng):
        with lock:
            if len(points) < 2:
                return
            point = points.pop(rng.randrange(len(points)))
        harness.delete(volume_id, checkpoint=point.checkpoint)

    def worker(seed):
        rng = random.Random(seed)
        try:
            for _ in range(4):
                (protect if rng.random() < 0.6 else delete)(rng)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(rng.random(),))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(points) >= 2
    for point in points:
        restored = chains.restored_data(harness, volume_id, point)
        assert chains.sha256_hex(restored) == point.manifest["sha256"]
    for point in points:
        harness.delete(volume_id, checkpoint=point.checkpoint)
    assert chains.backup_keys(harness.bank) == []
