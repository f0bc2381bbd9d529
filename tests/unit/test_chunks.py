"""Chunk encoding: zero chunks, compression choices, and decoding checks."""

import hashlib
import os
import zlib

import pytest

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.format import chunks, compression

MiB = 1024 * 1024
TEXT = b"".join(b"line %d of a compressible log file\n" % i for i in range(40000))


@pytest.mark.parametrize("algorithm", compression.ALGORITHMS)
@pytest.mark.parametrize("data", [b"x", TEXT[:MiB], os.urandom(MiB),
                                  os.urandom(1000) + bytes(MiB)],
                         ids=["one byte", "text", "random", "random then zeros"])
def test_every_chunk_round_trips(algorithm, data):
    record, stored = chunks.encode(3, 3 * MiB, data, algorithm)
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert chunks.decode(record, stored) == data
    assert record.stored_size == len(stored)


def test_zero_chunks_are_recorded_not_stored():
    record, stored = chunks.encode(0, 0, bytes(MiB), "zstd")
    assert stored is None
    assert record.zero and record.object is None
    assert record.sha256 == hashlib.sha256(bytes(MiB)).hexdigest()
    assert record.to_dict() == {"index": 0, "offset": 0, "length": MiB,
                                "sha256": record.sha256, "zero": True}
    assert chunks.decode(record, None) == bytes(MiB)


def test_a_single_non_zero_byte_is_not_a_zero_chunk():
    data = bytearray(MiB)
    data[-1] = 1
    record, stored = chunks.encode(0, 0, bytes(data), "none")
    assert not record.zero and stored == bytes(data)


@pytest.mark.parametrize("algorithm", ["zlib", "zstd"])
def test_compressible_chunks_are_compressed(algorithm):
    record, stored = chunks.encode(0, 0, TEXT[:MiB], algorithm)
    assert record.compression == algorithm
    assert len(stored) < MiB / 3


@pytest.mark.parametrize("algorithm", ["zlib", "zstd"])
def test_chunks_that_do_not_shrink_are_stored_plain(algorithm):
    data = os.urandom(MiB)
    record, stored = chunks.encode(0, 0, data, algorithm)
    assert record.compression == "none"
    assert stored is data  # not even copied


def test_a_random_start_skips_compressing_the_rest():
    data = os.urandom(compression.PROBE_SIZE) + TEXT[:MiB]
    algorithm, stored = compression.compress(data, "zstd")
    assert algorithm == "none" and stored is data


@pytest.mark.parametrize("algorithm", ["zlib", "zstd"])
def test_damaged_compressed_chunks_are_named(algorithm):
    record, stored = chunks.encode(4, 4 * MiB, TEXT[:MiB], algorithm)
    damaged = bytearray(stored)
    damaged[len(damaged) // 2] ^= 0xFF
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        chunks.decode(record, bytes(damaged))
    assert info.value.chunk == "data_5"


def test_a_chunk_inflating_past_its_length_is_refused():
    bomb = zlib.compress(bytes(10 * MiB))
    record = chunks.ChunkRecord(0, 0, MiB, "0" * 64, object="data_1",
                                  stored_size=len(bomb), compression="zlib")
    with pytest.raises(exceptions.ChunkIntegrityError, match="data_1"):
        chunks.decode(record, bomb)


def test_ordered_map_keeps_order_and_bounds_work_in_flight():
    import threading
    import time

    in_flight, peak, lock = 0, 0, threading.Lock()

    def work(item):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.001 * (item % 3))
        with lock:
            in_flight -= 1
        return item * 2

    assert list(datapath.ordered_map(work, range(50), 4)) == [
        i * 2 for i in range(50)]
    assert peak <= 4


def test_ordered_map_reads_no_further_than_its_window():
    pulled = []

    def source():
        for i in range(100):
            pulled.append(i)
            yield i

    results = datapath.ordered_map(lambda x: x, source(), 3)
    assert next(results) == 0
    assert len(pulled) <= 4
    results.close()


def test_ordered_map_raises_the_first_error_in_order():
    def work(item):
        if item == 5:
            raise ValueError("five")
        return item

    results = []
    with pytest.raises(ValueError, match="five"):
        for value in datapath.ordered_map(work, range(10), 3):
            results.append(value)
    assert results == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("length", [1, 4096, 3 * 1024 * 1024 + 7])
def test_is_zero_at_any_length_sees_a_last_nonzero_byte(length):
    assert chunks.is_zero(bytes(length))
    assert not chunks.is_zero(bytes(length - 1) + b"\x01")
    assert chunks.is_zero(bytearray(length))  # the same answer, cached zeros
