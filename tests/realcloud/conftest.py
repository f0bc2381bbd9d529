"""Fixtures of the real tier: the real cloud, the product's CLI and a file bank.

Run by ``tox -e realcloud``, which brings the cloud up first
(``tools/realcloud/up``) and tears it down after (``tools/realcloud/down``).
A cloud that is not there fails every test (an error in :func:`real`):
never a skip, since a skipped test is not a passing one.

The expensive steps (1 GiB volumes: each protect or restore moves a whole
GiB through Glance) are session fixtures that several tests read: the
source volumes and their first checkpoint (:func:`full`), a user's snapshot
and an incremental (:func:`chain`), an in-use volume's checkpoint
(:func:`in_use`). Every volume and snapshot made here is deleted at the end
of the session; ``test_zz_cleanup.py`` (last by name) deletes the bank's
checkpoints and checks that nothing temporary is left.
"""

import types

import pytest

from tests.realcloud import cloud as rc

#: Per test, the bytes at the start of each source volume (the rest is zeros).
A_DATA = rc.seeded(42, 8 * rc.MiB)
B_DATA = rc.seeded(7, 4 * rc.MiB)
#: A UEFI boot disk's image properties, which Cinder copies into the
#: volume's volume_image_metadata.
A_PROPERTIES = {"hw_firmware_type": "uefi", "os_distro": "debian",
                "hw_disk_bus": "scsi"}


@pytest.fixture(scope="session")
def real():
    try:
        return rc.RealCloud()
    except rc.CloudMissing as exc:
        pytest.fail(f"the real cloud is not there: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def bank_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bank")


@pytest.fixture(scope="session")
def kvg(real, bank_dir, tmp_path_factory):
    config = tmp_path_factory.mktemp("conf") / "plugin.conf"
    config.write_text(rc.PLUGIN_CONF)
    return rc.Kvg(f"file://{bank_dir}", str(config))


@pytest.fixture(scope="session")
def made(real):
    """What the tests made (volume ids, snapshot ids), deleted at the end."""
    things = types.SimpleNamespace(volumes=[], snapshots=[])
    yield things
    cc = real.cinder()
    for snapshot_id in things.snapshots:
        try:
            cc.volume_snapshots.delete(snapshot_id)
            real.wait_gone(lambda s=snapshot_id: cc.volume_snapshots.get(s))
        except Exception as exc:  # noqa: BLE001 (go on deleting the rest)
            print(f"could not delete snapshot {snapshot_id}: {exc}")
    try:
        real.delete_volumes(things.volumes)
    except Exception as exc:  # noqa: BLE001
        print(f"could not delete volumes {things.volumes}: {exc}")


@pytest.fixture(scope="session")
def sources(real, made):
    """A: a UEFI boot volume made from an image (bootable, image properties,
    metadata); B: a blank, non-bootable volume with metadata."""
    a = real.make_volume("realcloud-a", A_DATA, image_properties=A_PROPERTIES,
                         metadata={"owner": "team-a"})
    made.volumes.append(a)
    b = real.make_volume("realcloud-b", B_DATA, metadata={"owner": "team-b"})
    made.volumes.append(b)
    return types.SimpleNamespace(a=a, b=b, a_sha=rc.volume_sha256(A_DATA),
                                 b_sha=rc.volume_sha256(B_DATA))


@pytest.fixture(scope="session")
def full(real, kvg, made, sources):
    """A and B protected in one checkpoint, then restored."""
    protect = kvg.ok("protect", sources.a, sources.b, "--name", "realcloud-full")
    checkpoint = protect.json["checkpoint_id"]
    restore = kvg.ok("restore", checkpoint, "--name", "realcloud-restored")
    restored = rc.restored_ids(restore)
    made.volumes.extend(restored.values())
    return types.SimpleNamespace(checkpoint=checkpoint, protect=protect,
                                 restore=restore, restored=restored)


@pytest.fixture(scope="session")
def chain(real, kvg, made, sources, full):
    """A user's snapshot of A, then A changed: the snapshot protected with
    --snapshot, A protected --incremental and that backup restored."""
    cc = real.cinder()
    snapshot = cc.volume_snapshots.create(sources.a, name="realcloud-user-snapshot")
    made.snapshots.append(snapshot.id)
    real.wait(lambda: cc.volume_snapshots.get(snapshot.id), ("available",))
    changes = [(10 * rc.MiB, rc.seeded(1, rc.MiB)), (200 * rc.MiB + 4096,
                                                      rc.seeded(2, 4096))]
    for offset, data in changes:
        real.rbd_write(sources.a, offset, data)
    changed_sha = real.rbd_sha256(sources.a)
    from_snapshot = kvg.ok("protect", sources.a, "--snapshot", snapshot.id,
                           "--name", "realcloud-from-snapshot")
    incremental = kvg.ok("protect", sources.a, "--incremental", "--name",
                         "realcloud-incremental")
    restore = kvg.ok("restore", incremental.json["checkpoint_id"], "--name",
                     "realcloud-restored-incremental")
    restored = rc.restored_ids(restore)
    made.volumes.extend(restored.values())
    return types.SimpleNamespace(
        snapshot=snapshot.id, changed_sha=changed_sha, from_snapshot=from_snapshot,
        incremental=incremental, restore=restore, restored=restored[sources.a])


@pytest.fixture(scope="session")
def in_use(real, kvg, sources, full):
    """B attached (in-use, without Nova) and protected; detached after."""
    attachment = real.attach(sources.b)
    try:
        volume = real.cinder().volumes.get(sources.b)
        rc.require(volume.status == "in-use", f"{sources.b} is {volume.status}")
        protect = kvg("protect", sources.b, "--name", "realcloud-in-use")
        yield types.SimpleNamespace(protect=protect, attachment=attachment)
    finally:
        real.detach(sources.b)
