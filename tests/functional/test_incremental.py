"""Incremental backups and backups of a user's snapshot, end to end over HTTP.

Local clouds, the real clients, a file bank. A volume's bytes are changed
between backups by writing into the local cloud's file of that volume, as a
guest writing to the disk would.
"""

import datetime
import hashlib
import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout

from karbor_volume_glance.cli import commands
from tests.functional.sites import GIB, OBJECT_SIZE

BLOCK = 4096
SIZE = 4  # the volumes' size in the local clouds' "GiB" (see sites.GIB)
DATA = 3 * GIB  # the bytes written into a new volume, then zeros


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def overwrite_blocks(site, volume_id, offsets):
    """Write random 4 KiB blocks at ``offsets`` of the volume's data."""
    with open(site.cloud.volume_path(volume_id), "r+b") as stream:
        for offset in offsets:
            stream.seek(offset)
            stream.write(os.urandom(BLOCK))


def protect(site, bank, volume_id, **options):
    result = site.runner(bank).protect(
        [volume_id], {volume_id: {"backup_name": "b", **options}})
    assert result.ok, result.failures()
    return result.checkpoint_id


def manifest_of(site, bank, checkpoint_id, volume_id):
    checkpoint = site.runner(bank).checkpoint(checkpoint_id)
    return checkpoint.get_resource_bank_section(volume_id).get_object("metadata")


def own_chunks(manifest):
    """The chunk records whose objects the backup stored itself."""
    return [chunk for chunk in manifest["chunks"]
            if not chunk.get("zero") and "source" not in chunk]


def own_bytes(manifest):
    return sum(chunk["stored_size"] for chunk in own_chunks(manifest))


def restored_sha256(site, bank, checkpoint_id):
    restored = site.runner(bank).restore(checkpoint_id, {})
    assert restored.ok, restored.failures()
    [outcome] = restored.outcomes
    return sha256(site.volume_bytes(outcome.new_volume_id))


def cinder_time(value):
    """A Cinder ``created_at`` (UTC without a zone) as an aware datetime."""
    return datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.UTC)


def test_incremental_restores_both_points_in_time_at_another_site(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(DATA), size=SIZE)
    at_full = sha256(sites.a.volume_bytes(volume_id))
    full_id = protect(sites.a, bank, volume_id)

    # scattered blocks: in the data (two in one chunk), and in its zero tail
    offsets = [5 * BLOCK, 7 * BLOCK, 100 * BLOCK + 3 * OBJECT_SIZE,
               DATA - BLOCK, DATA + 2 * OBJECT_SIZE]
    overwrite_blocks(sites.a, volume_id, offsets)
    at_incremental = sha256(sites.a.volume_bytes(volume_id))
    assert at_incremental != at_full
    before = sites.a.inventory()
    incremental_id = protect(sites.a, bank, volume_id, incremental=True)
    assert sites.a.inventory() == before  # nothing temporary left

    full = manifest_of(sites.a, bank, full_id, volume_id)
    incremental = manifest_of(sites.a, bank, incremental_id, volume_id)
    assert full["format_version"] == incremental["format_version"] == 3
    assert full["incremental"] is False and full["parent_checkpoint_id"] is None
    assert incremental["incremental"] is True
    assert incremental["parent_checkpoint_id"] == full_id
    assert incremental["full_reason"] is None
    assert set(incremental["sources"]) == {full_id}
    assert (datetime.datetime.fromisoformat(incremental["data_timestamp"])
            > datetime.datetime.fromisoformat(full["data_timestamp"]))
    assert incremental["snapshot_id"] is None  # a temporary one, not kept

    # only the changed chunks are its own; the others are the full's
    changed = {offset // OBJECT_SIZE for offset in offsets}
    assert {chunk["index"] for chunk in own_chunks(incremental)} == changed
    assert all(chunk.get("source") == full_id for chunk in incremental["chunks"]
               if not chunk.get("zero") and chunk["index"] not in changed)
    assert own_bytes(full) >= DATA  # random data does not compress
    assert own_bytes(incremental) <= len(changed) * OBJECT_SIZE
    assert own_bytes(incremental) < own_bytes(full) / 10

    shown = sites.a.runner(bank).show(incremental_id)["volumes"][volume_id]
    assert shown["incremental"] is True
    assert shown["parent_checkpoint_id"] == full_id
    assert shown["stored_bytes"] == own_bytes(incremental)
    assert shown["data_timestamp"] == incremental["data_timestamp"]

    assert sites.b.runner(bank).verify(incremental_id).ok
    assert restored_sha256(sites.b, bank, full_id) == at_full
    assert restored_sha256(sites.b, bank, incremental_id) == at_incremental


def test_a_users_snapshot_is_protected_as_it_was_and_kept(sites, bank):
    volume_id = sites.a.create_volume(os.urandom(DATA), size=SIZE)
    cinder = sites.a.clients.create_client("cinder", None)
    snapshot = cinder.volume_snapshots.create(volume_id, name="mine")
    sites.a.facade.wait_snapshot(snapshot.id)
    snapshot = cinder.volume_snapshots.get(snapshot.id)
    at_snapshot = sha256(sites.a.volume_bytes(volume_id))
    with open(sites.a.cloud.snapshot_path(snapshot.id), "rb") as stream:
        assert sha256(stream.read()) == at_snapshot

    overwrite_blocks(sites.a, volume_id, [0, 40 * BLOCK, DATA + BLOCK])
    newer = sha256(sites.a.volume_bytes(volume_id))
    assert newer != at_snapshot
    before = sites.a.inventory()
    assert before["snapshots"] == [snapshot.id]
    # a temporary snapshot would take this fault and fail the protect
    sites.a.cloud.inject("snapshot.create", "http", status=500)
    try:
        checkpoint_id = protect(sites.a, bank, volume_id, snapshot_id=snapshot.id)
        assert [fault["step"] for fault in sites.a.cloud.faults.armed()] == [
            "snapshot.create"]  # never taken: no snapshot was created
    finally:
        sites.a.cloud.clear_faults()

    assert sites.a.inventory() == before  # the snapshot kept, nothing left
    kept = cinder.volume_snapshots.get(snapshot.id)
    assert kept.status == "available" and kept.volume_id == volume_id
    manifest = manifest_of(sites.a, bank, checkpoint_id, volume_id)
    assert manifest["snapshot_id"] == snapshot.id
    assert (datetime.datetime.fromisoformat(manifest["data_timestamp"])
            == cinder_time(snapshot.created_at))
    assert manifest["incremental"] is False

    assert restored_sha256(sites.b, bank, checkpoint_id) == at_snapshot
    assert sha256(sites.a.volume_bytes(volume_id)) == newer  # left alone


def test_an_incremental_of_an_older_snapshot_is_full_and_says_why(sites, bank):
    """A snapshot older than the volume's latest backup has no older parent."""
    volume_id = sites.a.create_volume(os.urandom(GIB // 2), size=SIZE)
    cinder = sites.a.clients.create_client("cinder", None)
    snapshot = cinder.volume_snapshots.create(volume_id, name="old")
    sites.a.facade.wait_snapshot(snapshot.id)
    protect(sites.a, bank, volume_id)  # newer than the snapshot
    checkpoint_id = protect(sites.a, bank, volume_id, incremental=True,
                            snapshot_id=snapshot.id)
    manifest = manifest_of(sites.a, bank, checkpoint_id, volume_id)
    assert manifest["incremental"] is False
    assert manifest["parent_checkpoint_id"] is None
    assert "no available backup" in manifest["full_reason"]


def cli(*args, expect=0):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = commands.main(["--format", "json", *args])
    assert status == expect, err.getvalue()
    return json.loads(out.getvalue()) if out.getvalue() else None


def test_cli_incremental_parent_and_snapshot(sites, tmp_path, config_file):
    common = ["--os-cloud", "site-a", "--bank", f"file://{tmp_path}/bank",
              "--config-file", config_file]
    volume_id = sites.a.create_volume(os.urandom(GIB // 2), size=SIZE)
    full = cli(*common, "protect", volume_id)
    [row] = full["volumes"]
    assert row["incremental"] is False and row["stored_bytes"] >= GIB // 2

    cinder = sites.a.clients.create_client("cinder", None)
    snapshot = cinder.volume_snapshots.create(volume_id, name="mine")
    sites.a.facade.wait_snapshot(snapshot.id)
    overwrite_blocks(sites.a, volume_id, [BLOCK])
    incremental = cli(*common, "protect", volume_id, "--incremental",
                      "--parent", full["checkpoint_id"],
                      "--snapshot", snapshot.id)
    [row] = incremental["volumes"]
    assert row["incremental"] is True and row["snapshot_id"] == snapshot.id
    assert row["parent_checkpoint_id"] == full["checkpoint_id"]
    assert row["stored_bytes"] == 0  # the snapshot holds the full's data

    shown = cli(*common, "show", incremental["checkpoint_id"])
    details = shown["volumes"][volume_id]
    assert details["status"] == "available"
    assert details["incremental"] is True and details["stored_bytes"] == 0
    assert details["parent_checkpoint_id"] == full["checkpoint_id"]
    assert details["snapshot_id"] == snapshot.id
    assert (datetime.datetime.fromisoformat(details["data_timestamp"])
            == cinder_time(cinder.volume_snapshots.get(snapshot.id).created_at))
