"""Helpers for the incremental tests: volumes that change, backups to check."""

import dataclasses
import hashlib
import random

from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit.harness import OBJECT_SIZE

BLOCK = 4096
INCREMENTAL = {"backup_name": "incremental", "incremental": True}
#: The chain tests run on a plain bank and on an encrypted one (issue 15).
KEYINGS = ("plain", "encrypted")


def master_key(keying):
    """A new master key for an ``encrypted`` harness, None for ``plain``."""
    return MasterKey.generate() if keying == "encrypted" else None


@dataclasses.dataclass
class Point:
    """A backup and the volume data it must bring back."""

    checkpoint: FakeCheckpoint
    data: bytes
    manifest: dict

    @property
    def id(self):
        return self.checkpoint.id


def scatter(cloud, volume_id, rng, writes, size):
    """Overwrite ``writes`` random 4 KiB blocks of the volume; its new data."""
    for _ in range(writes):
        block = rng.randrange(size // BLOCK)
        cloud.write_volume(volume_id, block * BLOCK, rng.randbytes(BLOCK))
    return cloud.volume_data(volume_id)


def protect_point(harness, volume_id, params=None):
    checkpoint = FakeCheckpoint(harness.bank)
    data = harness.cloud.volume_data(volume_id)
    manifest = harness.protect(volume_id, params or {"backup_name": "full"},
                               checkpoint=checkpoint)
    return Point(checkpoint, data, manifest)


def restored_data(harness, volume_id, point):
    """The data of a volume restored from ``point``, cut to the image size."""
    new_volume = harness.restore(volume_id, checkpoint=point.checkpoint)
    return harness.cloud.volume_data(new_volume)[:len(point.data)]


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def assert_restores(harness, volume_id, point):
    restored = restored_data(harness, volume_id, point)
    assert sha256_hex(restored) == sha256_hex(point.data), (
        f"checkpoint {point.id} did not restore exactly")


def own_stored_bytes(manifest):
    """The bytes a backup stored in its own section."""
    return sum(chunk["stored_size"] for chunk in manifest["chunks"]
               if not chunk.get("zero") and "source" not in chunk)


def backup_keys(bank):
    """Every key of the bank that holds backup data, a manifest or an index
    entry (the sections' ``status`` objects are bookkeeping)."""
    return sorted(key for key in bank.list_objects("/")
                  if not key.endswith("/status"))


def random_data(seed, chunks=8):
    return random.Random(seed).randbytes(chunks * OBJECT_SIZE)
