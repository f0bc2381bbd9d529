"""Decompression bombs in place of chunks: they fail at once naming the chunk,
and the memory a reader takes stays within the chunk's bound.

Each bomb is small in the bank and expands far past its chunk's recorded
length: a zstd frame whose header declares its content size, one without it,
a crafted frame whose header claims 64 GiB, and a zlib stream. Memory is
measured with tracemalloc (its peak), not with a timer.
"""

import functools
import os
import struct
import tracemalloc
import zlib

import pytest
import zstandard

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import chunks, compression
from tests.unit.harness import OBJECT_SIZE

MiB = 1024 * 1024
EXPANDS_TO = 64 * MiB
#: What a reader may hold for one chunk of ``bound`` bytes, beside the chunk.
SLACK = 2 * MiB


@functools.cache
def zstd_bomb(content_size=True):
    compressor = zstandard.ZstdCompressor(level=19,
                                          write_content_size=content_size)
    return compressor.compress(bytes(EXPANDS_TO))


def zstd_lying_frame(claimed=64 * 1024**3, blocks=512):
    """A frame whose header declares ``claimed`` bytes and whose RLE blocks
    give 128 KiB each (64 MiB for 512 of them, from 2 KiB)."""
    magic = struct.pack("<I", 0xFD2FB528)
    descriptor = bytes([0xC0])  # 8-byte content size, not single segment
    window = bytes([0x50])  # window log 20: 1 MiB
    header = magic + descriptor + window + struct.pack("<Q", claimed)
    block_size = 128 * 1024
    body = []
    for i in range(blocks):
        last = 1 if i == blocks - 1 else 0
        word = last | (1 << 1) | (block_size << 3)  # RLE block
        body.append(struct.pack("<I", word)[:3] + b"\0")
    return header + b"".join(body)


@functools.cache
def zlib_bomb():
    return zlib.compress(bytes(EXPANDS_TO), 9)


BOMBS = {
    "zstd with content size": (compression.ZSTD, zstd_bomb),
    "zstd without content size": (compression.ZSTD,
                                  lambda: zstd_bomb(content_size=False)),
    "zstd claiming 64 GiB": (compression.ZSTD, zstd_lying_frame),
    "zlib": (compression.ZLIB, zlib_bomb),
}


def peak_of(call):
    """``(exception raised by call, peak bytes traced while it ran)``."""
    tracemalloc.start()
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - returned to be checked
        raised = exc
    else:
        raised = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


def test_the_bombs_are_bombs():
    assert zstandard.frame_content_size(zstd_bomb()) == EXPANDS_TO
    assert zstandard.frame_content_size(zstd_bomb(False)) == -1
    assert zstandard.frame_content_size(zstd_lying_frame()) == 64 * 1024**3
    for _, make in BOMBS.values():  # zlib's ratio is at most ~1000:1
        assert len(make()) < EXPANDS_TO // 1000


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_fails_at_once_naming_the_chunk_within_its_bound(bomb):
    algorithm, make = BOMBS[bomb]
    stored = make()
    bound = 4 * MiB
    raised, peak = peak_of(
        lambda: compression.decompress("data_5", algorithm, stored, bound))
    assert isinstance(raised, exceptions.ChunkIntegrityError), raised
    assert raised.chunk == "data_5"
    assert f"past the {bound} bytes" in raised.reason
    # zlib's decompressor joins its output blocks: twice the bound at most
    assert peak < 2 * bound + SLACK, f"{bomb}: peak {peak} bytes"


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_in_a_chunk_record_names_the_chunk(bomb):
    algorithm, make = BOMBS[bomb]
    stored = make()
    record = chunks.ChunkRecord(2, 2 * MiB, MiB, "0" * 64, object="data_3",
                                stored_size=len(stored), compression=algorithm)
    raised, peak = peak_of(lambda: chunks.decode(record, stored))
    assert isinstance(raised, exceptions.ChunkIntegrityError), raised
    assert raised.chunk == "data_3"
    assert peak < 2 * MiB + SLACK


def test_a_memory_error_while_decompressing_names_the_chunk(monkeypatch):
    def no_memory(data, bound):
        raise MemoryError()

    monkeypatch.setitem(compression._DECOMPRESS, compression.ZSTD, no_memory)
    with pytest.raises(exceptions.ChunkIntegrityError, match="data_8.*memory"):
        compression.decompress("data_8", compression.ZSTD, b"x", 10)


def test_a_stream_exactly_at_its_bound_is_whole():
    data = b"abc" * 1000
    for algorithm in (compression.ZLIB, compression.ZSTD):
        used, stored = compression.compress(data, algorithm)
        assert compression.decompress("data_1", used, stored, len(data)) == data
        with pytest.raises(exceptions.ChunkIntegrityError, match="past the"):
            compression.decompress("data_1", used, stored, len(data) - 1)


@pytest.mark.parametrize("damage", ["cut short", "trailing bytes"])
def test_a_zlib_stream_cut_short_or_followed_by_bytes_is_named(damage):
    stored = zlib.compress(b"abc" * 1000)
    stored = stored[:-5] if damage == "cut short" else stored + b"junk"
    with pytest.raises(exceptions.ChunkIntegrityError, match="data_1"):
        compression.decompress("data_1", compression.ZLIB, stored, 3000)


def plant(harness, volume_id, stored, algorithm):
    """Put ``stored`` in place of chunk data_2, with a manifest that agrees
    on its size and compression (as a hostile writer would)."""
    section = harness.section(volume_id)
    section.update_object("data_2", stored)
    metadata = section.get_object("metadata")
    record = metadata["chunks"][1]
    record.update(stored_size=len(stored), compression=algorithm)
    section.update_object("metadata", metadata)


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_deep_verify_and_restore_of_a_bomb_stay_within_the_budget(harness, bomb):
    algorithm, make = BOMBS[bomb]
    volume_id = harness.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.protect(volume_id, {"backup_name": "b", "compression": "zstd"})
    plant(harness, volume_id, make(), algorithm)
    parallelism = harness.plugin.settings.parallelism
    budget = parallelism * 2 * OBJECT_SIZE + 4 * MiB  # chunks, and the process
    raised, peak = peak_of(
        lambda: harness.verify(volume_id, params={"deep": True}))
    assert isinstance(raised, exceptions.VerifyFailed), raised
    assert "chunk data_2" in str(raised) and "past the" in str(raised)
    assert peak < budget, f"deep verify of {bomb}: peak {peak} bytes"
    raised, peak = peak_of(lambda: harness.restore(volume_id))
    assert isinstance(raised, exceptions.RestoreFailed), raised
    assert "chunk data_2" in str(raised)
    assert peak < budget + 4 * MiB, f"restore of {bomb}: peak {peak} bytes"


@pytest.mark.parametrize("name", ["data_1", "data_2"])
def test_an_object_far_larger_than_its_record_is_not_read_whole(harness, name):
    """Issue 14: a chunk object larger than its recorded stored size is
    refused naming the chunk, having read no more than the record's size
    (plus one byte) of it: on the file bank the 64 MiB object never enters
    memory, on the memory bank it is never copied."""
    volume_id = harness.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.protect(volume_id, {"backup_name": "b", "compression": "none"})
    section = harness.section(volume_id)
    section.update_object(name, os.urandom(1024) * (EXPANDS_TO // 1024))
    parallelism = harness.plugin.settings.parallelism
    budget = parallelism * 2 * OBJECT_SIZE + 4 * MiB
    raised, peak = peak_of(
        lambda: harness.verify(volume_id, params={"deep": True}))
    assert isinstance(raised, exceptions.VerifyFailed), raised
    assert f"chunk {name}" in str(raised) and "BankObjectTooLarge" in str(raised)
    assert peak < budget, f"deep verify: peak {peak} bytes"
    raised, peak = peak_of(lambda: harness.verify(volume_id))
    assert isinstance(raised, exceptions.VerifyFailed), raised
    assert f"chunk {name}" in str(raised)
    assert peak < budget, f"shallow verify: peak {peak} bytes"
    raised, peak = peak_of(lambda: harness.restore(volume_id))
    assert isinstance(raised, exceptions.RestoreFailed), raised
    assert f"chunk {name}" in str(raised)
    assert peak < budget + 4 * MiB, f"restore: peak {peak} bytes"
