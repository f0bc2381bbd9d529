"""Backup format 2 through the plugin: zero chunks, compression, every manifest
field's validation, and restores of format 1 and of Karbor's own layout."""

import hashlib
import os

import pytest

from karbor_volume_glance import exceptions
from tests.unit.harness import OBJECT_SIZE, Harness

TEXT = b"".join(b"%d: a line of compressible volume text\n" % i for i in range(60000))


def stored_objects(section):
    return [key for key in section.list_objects() if key.startswith("data_")]


def test_zero_chunks_are_not_stored_and_come_back(harness):
    data = (os.urandom(OBJECT_SIZE) + bytes(3 * OBJECT_SIZE) + os.urandom(10))
    volume_id = harness.cloud.add_volume(data=data)
    meta = harness.protect(volume_id)
    section = harness.section(volume_id)
    assert stored_objects(section) == ["data_1", "data_5"]
    assert [c.get("zero", False) for c in meta["chunks"]] == [
        False, True, True, True, False]
    assert meta["chunks_num"] == 5
    assert harness.cloud.volume_data(harness.restore(volume_id)) == data


def test_an_all_zero_volume_stores_no_data_at_all(harness):
    volume_id = harness.cloud.add_volume(data=bytes(8 * OBJECT_SIZE))
    harness.protect(volume_id)
    assert stored_objects(harness.section(volume_id)) == []
    assert harness.cloud.volume_data(harness.restore(volume_id)) == bytes(
        8 * OBJECT_SIZE)


@pytest.mark.parametrize("algorithm", ["zlib", "zstd"])
def test_compressible_data_is_stored_compressed(cloud, bank, algorithm):
    harness = Harness(cloud, bank, compression=algorithm)
    data = TEXT[:6 * OBJECT_SIZE]
    volume_id = cloud.add_volume(data=data)
    meta = harness.protect(volume_id)
    assert meta["compression"] == algorithm
    assert {c["compression"] for c in meta["chunks"]} == {algorithm}
    assert sum(c["stored_size"] for c in meta["chunks"]) < len(data) / 3
    assert cloud.volume_data(harness.restore(volume_id)) == data


def test_the_protect_option_overrides_the_configured_compression(harness):
    volume_id = harness.cloud.add_volume(data=TEXT[:2 * OBJECT_SIZE])
    meta = harness.protect(volume_id, {"backup_name": "b", "compression": "none"})
    assert {c["compression"] for c in meta["chunks"]} == {"none"}
    assert harness.section(volume_id).get_object("data_1") == TEXT[:OBJECT_SIZE]


def test_manifest_records_offsets_and_hashes(harness):
    data = os.urandom(2 * OBJECT_SIZE + 3)
    volume_id = harness.cloud.add_volume(data=data)
    meta = harness.protect(volume_id)
    assert meta["format_version"] == 3
    assert meta["hash_algorithm"] == "sha256"
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert [c["offset"] for c in meta["chunks"]] == [0, OBJECT_SIZE,
                                                      2 * OBJECT_SIZE]
    assert meta["chunks"][2]["sha256"] == hashlib.sha256(
        data[2 * OBJECT_SIZE:]).hexdigest()


CHUNK_DAMAGE = {
    "offset": ({"offset": 5}, "offset 5 is not"),
    "unknown field": ({"colour": "red"}, "unknown fields ['colour']"),
    "source not in sources": ({"source": "elsewhere"},
                              "source 'elsewhere' is not in sources"),
    "base not in sources": ({"base": {"source": "x", "sha256": "0" * 64,
                                      "stored_size": 1, "compression": "none"},
                             "delta_size": 30}, "base source 'x' is not in sources"),
    "delta size without a base": ({"delta_size": 30}, "delta_size without a base"),
    "unknown compression": ({"compression": "lz4"}, "compression 'lz4'"),
    "stored size of a plain chunk": ({"stored_size": 7}, "stored_size 7"),
    "object elsewhere": ({"object": "../../x/data_2"}, "object '../../x/data_2'"),
    "zero with an object": ({"zero": True}, "unknown fields"),
    "negative length": ({"length": -1}, "length -1"),
    "malformed sha256": ({"sha256": "zz"}, "sha256 'zz' is malformed"),
    "index out of place": ({"index": 7}, "out of place"),
    "overflowing stored size": ({"stored_size": 10**30}, "stored_size"),
}


@pytest.mark.parametrize("change, words", CHUNK_DAMAGE.values(),
                         ids=CHUNK_DAMAGE.keys())
def test_each_chunk_field_is_validated_before_anything_is_made(harness, change,
                                                                words):
    volume_id = harness.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.protect(volume_id)
    section = harness.section(volume_id)
    meta = section.get_object("metadata")
    meta["chunks"][1].update(change)
    section.update_object("metadata", meta)
    created = len(harness.cloud.created())
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id)
    assert isinstance(info.value.cause, exceptions.ChunkIntegrityError)
    assert info.value.cause.chunk == "data_2"
    assert words in str(info.value)
    assert harness.cloud.created()[created:] == []


@pytest.mark.parametrize("field, value", [("hash_algorithm", "md5"),
                                          ("chunk_size", 0),
                                          ("image_size", 10**20)])
def test_manifest_level_fields_are_validated(harness, field, value):
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.protect(volume_id)
    section = harness.section(volume_id)
    meta = section.get_object("metadata")
    meta[field] = value
    section.update_object("metadata", meta)
    with pytest.raises(exceptions.RestoreFailed, match=field.split("_")[0]):
        harness.restore(volume_id)


def test_a_compressed_chunk_damaged_in_the_bank_is_named(cloud, bank):
    harness = Harness(cloud, bank, compression="zstd")
    volume_id = cloud.add_volume(data=TEXT[:3 * OBJECT_SIZE])
    harness.protect(volume_id)
    section = harness.section(volume_id)
    stored = bytearray(section.get_object("data_2"))
    stored[len(stored) // 2] ^= 0x55
    section.update_object("data_2", bytes(stored))
    with pytest.raises(exceptions.RestoreFailed, match="chunk data_2"):
        harness.restore(volume_id)
    assert cloud.leftovers() == []


def karbor_layout(section, volume_id, objects, checksum=None):
    """A backup as Karbor's own volume-glance plugin writes it."""
    data = b"".join(objects)
    section.update_object("status", "available")
    for index, chunk in enumerate(objects, start=1):
        section.update_object(f"data_{index}", chunk)
    section.update_object("metadata", {
        "volume_id": volume_id, "volume_size": 1, "chunks_num": len(objects),
        "image_metadata": {"checksum": checksum or hashlib.md5(data).hexdigest(),
                           "disk_format": "raw", "container_format": "bare"},
    })
    return data


def test_a_backup_in_karbors_layout_restores_byte_exact(harness):
    volume_id = "karbor-made-volume"
    objects = [os.urandom(65536 * 512 // 256) for _ in range(3)] + [b"tail"]
    data = karbor_layout(harness.section(volume_id), volume_id, objects)
    new_id = harness.restore(volume_id)
    assert harness.cloud.volume_data(new_id) == data
    assert harness.cloud.leftovers(keep=[new_id]) == []
    assert harness.verify(volume_id, params={"deep": True})["bytes"] == len(data)


def test_a_damaged_karbor_layout_backup_fails_before_a_volume_is_made(harness):
    volume_id = "karbor-made-volume"
    objects = [os.urandom(1000), os.urandom(1000)]
    karbor_layout(harness.section(volume_id), volume_id, objects)
    harness.section(volume_id).update_object("data_2", os.urandom(1000))
    with pytest.raises(exceptions.RestoreFailed, match="md5"):
        harness.restore(volume_id)
    assert [kind for kind, _, _ in harness.cloud.created()] == ["image"]
    assert harness.cloud.leftovers() == []
    with pytest.raises(exceptions.VerifyFailed, match="hash"):
        harness.verify(volume_id, params={"deep": True})


def test_a_karbor_layout_backup_missing_an_object_names_it(harness):
    volume_id = "karbor-made-volume"
    karbor_layout(harness.section(volume_id), volume_id, [b"a", b"b", b"c"])
    harness.section(volume_id).delete_object("data_2")
    with pytest.raises(exceptions.RestoreFailed, match="chunk data_2: is missing"):
        harness.restore(volume_id)
    assert harness.cloud.created() == []


def test_a_format_1_backup_still_restores(harness):
    volume_id = "first-format-volume"
    data = os.urandom(OBJECT_SIZE + 9)
    section = harness.section(volume_id)
    pieces = [data[:OBJECT_SIZE], data[OBJECT_SIZE:]]
    for index, piece in enumerate(pieces, start=1):
        section.update_object(f"data_{index}", piece)
    section.update_object("metadata", {
        "format_version": 1, "volume_id": volume_id, "volume_size": 1,
        "chunks_num": 2, "image_size": len(data), "chunk_size": OBJECT_SIZE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "image_metadata": {"checksum": hashlib.md5(data).hexdigest(),
                           "disk_format": "raw", "container_format": "bare"},
        "chunks": [{"index": i, "name": f"data_{i + 1}", "length": len(p),
                    "sha256": hashlib.sha256(p).hexdigest()}
                   for i, p in enumerate(pieces)],
    })
    section.update_object("status", "available")
    assert harness.cloud.volume_data(harness.restore(volume_id)) == data
