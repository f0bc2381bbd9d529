"""A user's snapshot protected as it is, and an incremental backup restored
byte-exact, against the real cloud."""

from tests.realcloud import cloud as rc


def test_a_users_snapshot_is_protected_as_it_was(real, kvg, sources, full, chain):
    # the snapshot was taken before A changed: its backup holds A's first bytes
    checkpoint = chain.from_snapshot.json["checkpoint_id"]
    manifest = rc.manifest(kvg.bank_url, checkpoint, sources.a)
    assert manifest["sha256"] == sources.a_sha != chain.changed_sha
    assert manifest["snapshot_id"] == chain.snapshot
    shown = kvg.ok("show", checkpoint).json["volumes"][sources.a]
    assert shown["snapshot_id"] == chain.snapshot
    # the user's snapshot is never changed or deleted
    assert real.cinder().volume_snapshots.get(chain.snapshot).status == "available"


def test_an_incremental_backup_restores_byte_exact(real, sources, chain):
    [row] = chain.incremental.json["volumes"]
    assert row["incremental"] is True
    assert row["parent_checkpoint_id"] is not None
    # far less than the 12 MiB of data: a delta of the two changes
    assert row["stored_bytes"] < 4 * rc.MiB
    assert real.rbd_sha256(chain.restored) == chain.changed_sha
