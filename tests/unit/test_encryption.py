"""Encrypted backups (issue 15, the data half): format 4's sealed chunks and
manifest, their round trips on the memory and file banks, and tampering with
an encrypted bank (flip, swap, replay, truncate), each caught and named.

The bank's master key comes from the caller (a ``MasterKey.generate()``
here); how a bank keeps wrapped copies of it is not this file's concern.
"""

import base64
import dataclasses
import json
import logging
import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import chunks, compression, manifest, sealing
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, Harness
from tests.unit.test_decoders_hypothesis import (
    MANIFEST_ERRORS,
    manifests,
    mutated,
    mutated_bytes,
)

KEY = MasterKey.generate()
VOLUME = "vol"
CHECKPOINT = "0f0e0d0c-0000-4000-8000-00000000000a"
OTHER = "0f0e0d0c-0000-4000-8000-00000000000b"
KEYS = sealing.VolumeKeys(KEY, VOLUME)
SEALER = KEYS.chunks(CHECKPOINT)
DATA = st.one_of(st.binary(min_size=1, max_size=3000),
                 st.integers(1, 3000).map(lambda n: b"text " * n))


# --- the sealed chunk decoder -------------------------------------------------

@given(DATA, st.sampled_from(compression.ALGORITHMS), st.integers(0, 2**20))
def test_hypothesis_sealed_chunks_round_trip(data, algorithm, index):
    record, stored = chunks.encode(index, 0, data, algorithm, sealer=SEALER)
    if record.zero:
        assert stored is None
        return
    assert record.stored_size == len(stored)
    assert record.sha256 == KEYS.digest(data) != chunks.sha256_of(data)
    assert chunks.decode(record, stored, sealer=SEALER) == data
    # the bytes stored are not the compressed plain ones
    packed = compression.compress(data, algorithm)[1]
    if len(packed) >= 32:
        assert packed not in stored


@given(DATA, st.sampled_from(compression.ALGORITHMS), st.data())
def test_hypothesis_any_damage_to_a_sealed_chunk_fails_named(
        data, algorithm, draw):
    record, stored = chunks.encode(6, 0, data + b"\x01", algorithm,
                                   sealer=SEALER)
    damaged = draw.draw(mutated_bytes(stored))
    if damaged == stored:
        return
    size = draw.draw(st.sampled_from([record.stored_size, len(damaged)]))
    forged = dataclasses.replace(record, stored_size=size)
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        chunks.decode(forged, bytes(damaged), sealer=SEALER)
    assert info.value.chunk == "data_7"


@given(DATA, st.sampled_from(["index", "source", "compression", "length",
                              "key"]))
def test_hypothesis_a_chunk_read_as_another_fails_named(data, change):
    """A sealed chunk opened at another index, from another backup, as
    another compression or size, or under another bank's key, never opens."""
    data = data + b"\x02"
    record, stored = chunks.encode(2, 0, data, compression.NONE,
                                   sealer=SEALER)
    sealer = SEALER
    if change == "index":
        record = dataclasses.replace(record, index=3, object="data_4")
    elif change == "source":
        record = dataclasses.replace(record, source=OTHER)
    elif change == "compression":
        record = dataclasses.replace(record, compression=compression.ZLIB)
    elif change == "length":
        record = dataclasses.replace(record, length=record.length + 1)
    else:
        sealer = sealing.VolumeKeys(MasterKey.generate(), VOLUME).chunks(
            CHECKPOINT)
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        chunks.decode(record, stored, sealer=sealer)
    assert info.value.chunk == record.name
    assert "does not authenticate" in info.value.reason


def test_a_sealed_delta_round_trips_and_is_bound_to_its_kind():
    base = os.urandom(8 * 4096)
    new = bytearray(base)
    new[5000:5010] = b"x" * 10
    base_record, _ = chunks.encode(1, 0, base, compression.NONE, sealer=SEALER)
    record, stored = chunks.encode_delta(
        1, 0, bytes(new), KEYS.digest(bytes(new)),
        dataclasses.replace(base_record, source=OTHER).as_base(), base,
        compression.ZSTD, SEALER)
    assert chunks.decode(record, stored, base, SEALER) == bytes(new)
    as_full = dataclasses.replace(record, base=None, delta_size=0)
    with pytest.raises(exceptions.ChunkIntegrityError, match="authenticate"):
        chunks.decode(as_full, stored, sealer=SEALER)


# --- the sealed manifest --------------------------------------------------------

def encrypted(raw):
    """A format-3 manifest from ``manifests()`` as format 4 would hold it:
    sizes with the seal's overhead, keyed hashes."""
    raw = json.loads(json.dumps(raw))
    raw.update(format_version=manifest.ENCRYPTED_VERSION,
               hash_algorithm=sealing.HASH_ALGORITHM,
               sources=raw.get("sources", {}))
    for record in raw["chunks"]:
        if not record.get("zero"):
            record["stored_size"] += sealing.OVERHEAD
            if "base" in record:
                record["base"]["stored_size"] += sealing.OVERHEAD
    return raw


PLAIN3 = manifests().filter(lambda raw: raw["format_version"] == 3)


@given(PLAIN3)
def test_hypothesis_sealed_manifests_round_trip(raw):
    inner = encrypted(raw)
    stored = manifest.seal(inner, KEYS, CHECKPOINT)
    assert set(stored) == sealing.OUTER_KEYS
    parsed = manifest.parse(json.loads(json.dumps(stored)), VOLUME, KEYS,
                            CHECKPOINT)
    assert parsed.encrypted
    assert [c.to_dict() for c in parsed.chunks] == inner["chunks"]
    assert parsed.backup_name == inner["backup_name"]


@given(PLAIN3, st.data())
def test_hypothesis_a_mutated_sealed_manifest_fails_only_named(raw, draw):
    stored = manifest.seal(encrypted(raw), KEYS, CHECKPOINT)
    damaged = draw.draw(mutated(stored))
    if damaged == stored:
        return
    with pytest.raises(MANIFEST_ERRORS):
        manifest.parse(damaged, VOLUME, KEYS, CHECKPOINT)


@given(PLAIN3, st.integers(0, 10_000), st.integers(0, 7))
def test_hypothesis_a_flipped_bit_in_the_sealed_text_is_named(raw, at, bit):
    stored = manifest.seal(encrypted(raw), KEYS, CHECKPOINT)
    sealed = bytearray(base64.b64decode(stored["sealed"]))
    sealed[at % len(sealed)] ^= 1 << bit
    stored["sealed"] = base64.b64encode(bytes(sealed)).decode()
    with pytest.raises(exceptions.InvalidBackupMetadata,
                       match="does not authenticate"):
        manifest.parse(stored, VOLUME, KEYS, CHECKPOINT)


def sealed_example():
    raw = {"format_version": 3, "volume_id": VOLUME, "volume_size": 1,
           "chunks_num": 1, "image_size": 10, "chunk_size": 10,
           "image_metadata": {}, "sha256": "0" * 64, "sources": {},
           "chunks": [chunks.zero_record(0, 0, 10).to_dict()]}
    return manifest.seal(encrypted(raw), KEYS, CHECKPOINT)


def test_a_manifest_replayed_into_another_backup_is_named():
    with pytest.raises(exceptions.InvalidBackupMetadata) as info:
        manifest.parse(sealed_example(), VOLUME, KEYS, OTHER)
    assert f"checkpoint {OTHER}" in str(info.value)
    assert "does not authenticate" in str(info.value)


def test_a_truncated_manifest_is_named():
    stored = sealed_example()
    stored["sealed"] = stored["sealed"][:-8]
    with pytest.raises(exceptions.InvalidBackupMetadata,
                       match="truncated or altered|does not authenticate"):
        manifest.parse(stored, VOLUME, KEYS, CHECKPOINT)


def test_a_sealed_manifest_without_its_key_names_the_key():
    with pytest.raises(exceptions.BackupKeyRequired) as info:
        manifest.parse(sealed_example(), VOLUME, None, CHECKPOINT)
    assert KEY.fingerprint() in str(info.value)
    other = sealing.VolumeKeys(MasterKey.generate(), VOLUME)
    with pytest.raises(exceptions.BackupKeyMismatch) as info:
        manifest.parse(sealed_example(), VOLUME, other, CHECKPOINT)
    assert KEY.fingerprint() in str(info.value)
    assert "MAC" not in str(info.value)


def test_key_material_is_nowhere_in_a_sealed_manifest_or_a_repr():
    stored = json.dumps(sealed_example())
    for secret in (KEY.material, KEYS._hash_key):
        assert secret.hex() not in stored
        assert base64.b64encode(secret).decode() not in stored
    assert KEY.material.hex() not in repr(KEYS) + repr(SEALER.keys)


# --- round trips with the operations ------------------------------------------

@pytest.fixture
def keyed(cloud, bank):
    return Harness(cloud, bank, master_key=MasterKey.generate())


def mixed_data(seed, count=6):
    """Random, text and zero chunks (the last one short)."""
    rng = random.Random(seed)
    parts = [rng.randbytes(OBJECT_SIZE), b"some text " * (OBJECT_SIZE // 10 + 1),
             bytes(OBJECT_SIZE), rng.randbytes(OBJECT_SIZE)]
    data = b"".join(parts[i % len(parts)][:OBJECT_SIZE] for i in range(count))
    return data[:-1000]


def bank_values(bank):
    """Every object of the bank, as the bytes a reader of it sees."""
    found = []
    for key in bank.list_objects("/"):
        value = bank.get_object(key)
        found.append(value if isinstance(value, bytes)
                     else json.dumps(value).encode())
    return found


def stored_manifest(harness, volume_id, point):
    return harness.section(volume_id, point.checkpoint).get_object("metadata")


@pytest.mark.parametrize("algorithm", compression.ALGORITHMS)
def test_encrypted_chains_round_trip_and_the_bank_learns_no_hash(
        keyed, algorithm):
    cloud = keyed.cloud
    data = mixed_data(1)
    volume_id = cloud.add_volume(data=data)
    params = {"backup_name": "secret-name-42", "description": "secret-desc",
              "compression": algorithm}
    points = [chains.protect_point(keyed, volume_id, params)]
    rng = random.Random(2)
    for step in range(3):
        chains.scatter(cloud, volume_id, rng, 3, len(data))
        if step == 1:  # a zero chunk becomes data, a data chunk zero
            cloud.write_volume(volume_id, 2 * OBJECT_SIZE, b"\x05" * 4096)
            cloud.write_volume(volume_id, 0, bytes(OBJECT_SIZE))
        points.append(chains.protect_point(keyed, volume_id,
                                           {**params, **INCREMENTAL}))
    for point in points[1:]:
        assert point.manifest["incremental"] is True, point.manifest
    assert any(c.get("base") for p in points for c in p.manifest["chunks"])
    for point in points:
        assert point.manifest["format_version"] == manifest.ENCRYPTED_VERSION
        assert set(stored_manifest(keyed, volume_id, point)) == \
            sealing.OUTER_KEYS
        chains.assert_restores(keyed, volume_id, point)
    values = b"\n".join(bank_values(keyed.bank))
    plain_hashes = {chains.sha256_hex(point.data) for point in points}
    for point in points:
        for record in point.manifest["chunks"]:
            plain_hashes.add(chains.sha256_hex(point.data[
                record["offset"]:record["offset"] + record["length"]]))
            assert record["sha256"].encode() not in values
    for secret in (*plain_hashes, "secret-name-42", "secret-desc"):
        assert secret.encode() not in values


def test_plain_banks_keep_format_3(harness):
    volume_id = harness.cloud.add_volume(data=mixed_data(3))
    harness.protect(volume_id)
    stored = harness.section(volume_id).get_object("metadata")
    assert stored["format_version"] == 3 and "sealed" not in stored
    assert stored["hash_algorithm"] == "sha256"


# --- tampering ------------------------------------------------------------------

@pytest.fixture
def two_backups(keyed):
    """Two full encrypted backups of one volume of incompressible chunks."""
    volume_id = keyed.cloud.add_volume(data=os.urandom(6 * OBJECT_SIZE))
    first = chains.protect_point(keyed, volume_id)
    keyed.cloud.write_volume(volume_id, 0, os.urandom(6 * OBJECT_SIZE))
    second = chains.protect_point(keyed, volume_id)
    return volume_id, first, second


def restore_failure(harness, volume_id, point):
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id, checkpoint=point.checkpoint)
    return info.value.cause


def deep_bad(harness, volume_id, point):
    with pytest.raises(exceptions.VerifyFailed) as info:
        harness.verify(volume_id, checkpoint=point.checkpoint,
                       params={"deep": True})
    return {item["object"]: item["reason"] for item in info.value.cause.bad}


def test_a_flipped_byte_is_named_by_restore_and_deep_verify(keyed, two_backups):
    volume_id, _, second = two_backups
    section = keyed.section(volume_id, second.checkpoint)
    damaged = bytearray(section.get_object("data_3"))
    damaged[-1] ^= 1  # in the tag: the plain bytes would be unchanged
    section.update_object("data_3", bytes(damaged))
    cause = restore_failure(keyed, volume_id, second)
    assert isinstance(cause, exceptions.ChunkIntegrityError)
    assert cause.chunk == "data_3" and "does not authenticate" in cause.reason
    bad = deep_bad(keyed, volume_id, second)
    assert list(bad) == ["data_3"] and "authenticate" in bad["data_3"]


def test_two_swapped_chunks_are_both_named(keyed, two_backups):
    volume_id, _, second = two_backups
    section = keyed.section(volume_id, second.checkpoint)
    one, two = section.get_object("data_2"), section.get_object("data_5")
    section.update_object("data_2", two)
    section.update_object("data_5", one)
    assert restore_failure(keyed, volume_id, second).chunk == "data_2"
    assert list(deep_bad(keyed, volume_id, second)) == ["data_2", "data_5"]


def test_a_chunk_swapped_in_from_another_backup_is_named(keyed, two_backups):
    volume_id, first, second = two_backups
    older = keyed.section(volume_id, first.checkpoint).get_object("data_4")
    keyed.section(volume_id, second.checkpoint).update_object("data_4", older)
    assert restore_failure(keyed, volume_id, second).chunk == "data_4"
    assert list(deep_bad(keyed, volume_id, second)) == ["data_4"]
    chains.assert_restores(keyed, volume_id, first)


def test_a_truncated_chunk_is_named(keyed, two_backups):
    volume_id, _, second = two_backups
    section = keyed.section(volume_id, second.checkpoint)
    section.update_object("data_6", section.get_object("data_6")[:-100])
    cause = restore_failure(keyed, volume_id, second)
    assert cause.chunk == "data_6" and "the manifest says" in cause.reason


def test_an_older_manifest_replayed_is_named_before_the_cloud(keyed, two_backups):
    volume_id, first, second = two_backups
    older = stored_manifest(keyed, volume_id, first)
    keyed.section(volume_id, second.checkpoint).update_object("metadata", older)
    made = len(keyed.cloud.created())
    cause = restore_failure(keyed, volume_id, second)
    assert isinstance(cause, exceptions.InvalidBackupMetadata)
    assert f"checkpoint {second.id}" in str(cause)
    assert "does not authenticate" in str(cause)
    assert len(keyed.cloud.created()) == made  # nothing made in the cloud
    with pytest.raises(exceptions.VerifyFailed):
        keyed.verify(volume_id, checkpoint=second.checkpoint,
                     params={"deep": True})


@pytest.mark.parametrize("edit", ["truncate", "edit", "add"])
def test_an_altered_manifest_is_named(keyed, two_backups, edit):
    volume_id, _, second = two_backups
    section = keyed.section(volume_id, second.checkpoint)
    stored = section.get_object("metadata")
    if edit == "truncate":
        stored["sealed"] = stored["sealed"][:len(stored["sealed"]) // 2]
    elif edit == "edit":
        stored["sealed"] = ("A" if stored["sealed"][0] != "A" else "B") + \
            stored["sealed"][1:]
    else:
        stored["backup_name"] = "not sealed"
    section.update_object("metadata", stored)
    cause = restore_failure(keyed, volume_id, second)
    assert isinstance(cause, exceptions.InvalidBackupMetadata)
    assert "the encrypted manifest of checkpoint" in str(cause)


# --- keys ---------------------------------------------------------------------

def test_no_key_or_another_key_fails_naming_it_before_the_cloud(
        cloud, bank, keyed, two_backups):
    volume_id, _, second = two_backups
    made = len(cloud.created())
    plain = Harness(cloud, bank)
    cause = restore_failure(plain, volume_id, second)
    assert isinstance(cause, exceptions.BackupKeyRequired)
    assert keyed.master_key.fingerprint() in str(cause)
    other = Harness(cloud, bank, master_key=MasterKey.generate())
    cause = restore_failure(other, volume_id, second)
    assert isinstance(cause, exceptions.BackupKeyMismatch)
    assert "MAC" not in str(cause)
    assert len(cloud.created()) == made


def test_a_plain_protect_never_builds_on_an_encrypted_parent(
        cloud, bank, keyed, two_backups):
    volume_id, _, _ = two_backups
    made = len(cloud.created())
    with pytest.raises(exceptions.ProtectFailed) as info:
        Harness(cloud, bank).protect(volume_id, INCREMENTAL,
                                     checkpoint=FakeCheckpoint(bank))
    assert isinstance(info.value.cause, exceptions.BackupKeyRequired)
    assert len(cloud.created()) == made


def test_an_encrypted_backup_over_a_plain_parent_is_full_saying_so(
        harness, cloud, bank):
    volume_id = cloud.add_volume(data=mixed_data(4))
    chains.protect_point(harness, volume_id)
    keyed = Harness(cloud, bank, master_key=MasterKey.generate())
    point = chains.protect_point(keyed, volume_id, INCREMENTAL)
    assert point.manifest["incremental"] is False
    assert "is not encrypted" in point.manifest["full_reason"]
    chains.assert_restores(keyed, volume_id, point)


def test_a_key_source_callable_is_asked_once_per_run_with_create(cloud, bank):
    key = MasterKey.generate()
    asked = []

    def keys(section, create=False, context=None):
        asked.append(create)
        return key

    harness = Harness(cloud, bank, master_key=keys)
    volume_id = cloud.add_volume(data=mixed_data(5))
    point = chains.protect_point(harness, volume_id)
    chains.assert_restores(harness, volume_id, point)
    harness.delete(volume_id, checkpoint=point.checkpoint)
    assert asked == [True, False]  # protect may create it; delete needs none


def test_show_opens_an_encrypted_backup_with_the_key_and_only_says_so_without(
        cloud, bank, keyed):
    from karbor_volume_glance.standalone.runner import Runner

    volume_id = cloud.add_volume(data=mixed_data(6))
    runner = Runner(keyed.plugin, bank, keyed.context)
    checkpoint_id = runner.protect(
        [volume_id], {volume_id: {"backup_name": "n"}}).checkpoint_id
    shown = runner.show(checkpoint_id)["volumes"][volume_id]
    assert shown["encrypted"] is True and shown["stored_bytes"] > 0
    blind = Runner(Harness(cloud, bank).plugin, bank, keyed.context)
    shown = blind.show(checkpoint_id)["volumes"][volume_id]
    assert shown["encrypted"] is True and "stored_bytes" not in shown


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_no_key_material_in_any_log_line_at_debug(cloud, bank):
    """What this half derives from the master key never reaches a log line:
    the key, the per-backup data and manifest keys, the hash key."""
    key = MasterKey.generate()
    harness = Harness(cloud, bank, master_key=key)
    volume_id = cloud.add_volume(data=mixed_data(7))
    logger = logging.getLogger("karbor_volume_glance")
    lines, level = Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    try:
        point = chains.protect_point(harness, volume_id)
        chains.assert_restores(harness, volume_id, point)
        harness.verify(volume_id, checkpoint=point.checkpoint,
                       params={"deep": True})
        harness.delete(volume_id, checkpoint=point.checkpoint)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    text = "\n".join(lines.lines)
    assert f"checkpoint {point.id}" in text  # the operations' lines were seen
    secrets = [key.material, key.derive(sealing.HASH_PURPOSE, volume_id),
               key.derive(sealing.DATA_PURPOSE, volume_id, point.id),
               key.derive(sealing.MANIFEST_PURPOSE, volume_id, point.id)]
    for secret in secrets:
        for shown in (secret.hex(), base64.b64encode(secret).decode(),
                      repr(secret)):
            assert shown not in text
