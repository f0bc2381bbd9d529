"""What encryption costs the data path beyond AES-GCM: no copy of a chunk
(issue 15, item 5).

An encrypted backup's chunk is assembled with the room of a seal
(``datapath.rechunk``'s ``room``), its keyed hash and its compression
attempt read it where it is, an uncompressed one is sealed over itself, a
compressed one is sealed into the worker thread's reused buffer, and an
all-zero chunk still takes the zero shortcut. So, once the thread's buffer
is warm, sealing a chunk allocates no more than storing it plain, and
opening a compressed chunk no more than reading it plain. Memory is
measured with tracemalloc (its peak); any chunk-sized copy added on the
encrypted path (a memoryview turned into bytes for zstd or the HMAC, a
payload copied before it is sealed or decompressed) fails these tests.
"""

import functools
import hashlib
import tracemalloc

import pytest

from karbor_volume_glance import datapath
from karbor_volume_glance.format import chunks, compression, sealing
from karbor_volume_glance.format.keys import MasterKey

MiB = 1024 * 1024
CHUNK = 4 * MiB
#: Python's own small allocations around a call (records, framing, nonces).
SLACK = 64 * 1024
CHECKPOINT = "0f0e0d0c-0000-4000-8000-00000000000c"
KEYS = sealing.VolumeKeys(MasterKey.generate(), "vol")


def noise(seed, size):
    """``size`` incompressible bytes."""
    return hashlib.shake_256(b"%d" % seed).digest(size)


def compressible_pieces(seed):
    """A chunk's pieces: zeros, then as many incompressible bytes (its
    first 64 KiB shrink, so the whole chunk is compressed)."""
    half = CHUNK // 2
    return [bytes(half), noise(seed, half)]


def incompressible_pieces(seed):
    return [noise(seed, CHUNK // 2), noise(seed + 1000, CHUNK // 2)]


def one_chunk(pieces, room):
    [chunk] = list(datapath.rechunk(iter(pieces), CHUNK, room))
    return chunk


def peak_of(call):
    """``(call's result, peak bytes traced while it ran)``."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def encode_peak(index, pieces, sealer):
    """The peak of encoding chunk ``index`` made of ``pieces`` (assembled
    with a seal's room when ``sealer`` is given), its record and stored
    bytes (a copy)."""
    chunk = one_chunk(pieces, sealing.ROOM if sealer is not None else None)
    (record, stored), peak = peak_of(
        lambda: chunks.encode(index, 0, chunk, compression.ZSTD,
                              sealer=sealer))
    return record, bytes(stored), peak


def test_a_compressible_chunk_is_sealed_with_no_more_memory_than_stored_plain():
    sealer = KEYS.chunks(CHECKPOINT)
    for index in (0, 1):  # the thread's buffer, grown once
        encode_peak(index, compressible_pieces(index), sealer)
    for index in (2, 3):
        pieces = compressible_pieces(index)
        plain_record, _, plain_peak = encode_peak(index, pieces, None)
        record, stored, peak = encode_peak(index, pieces, sealer)
        assert plain_record.compression == record.compression == compression.ZSTD
        assert record.stored_size < CHUNK * 0.6
        assert peak <= plain_peak + SLACK, (peak, plain_peak)
        assert chunks.decode(record, stored, sealer=sealer) == b"".join(pieces)


def test_an_incompressible_chunk_is_sealed_where_it_is():
    """No chunk-sized buffer at all: the zstd probe's output and small
    objects are all that an uncompressed chunk's sealing allocates."""
    sealer = KEYS.chunks(CHECKPOINT)
    pieces = incompressible_pieces(7)
    record, stored, peak = encode_peak(0, pieces, sealer)
    assert record.compression == compression.NONE
    assert record.stored_size == CHUNK + sealing.OVERHEAD
    assert peak <= compression.PROBE_SIZE + 2 * SLACK, peak
    assert chunks.decode(record, stored, sealer=sealer) == b"".join(pieces)


@pytest.mark.parametrize("room", [None, sealing.ROOM])
def test_a_zero_chunk_takes_the_zero_shortcut_with_or_without_room(room):
    pieces = [bytes(CHUNK // 4)] * 4
    # the zeros it is compared with and their sha256, made once per length
    chunks.encode(0, 0, bytes(CHUNK), compression.ZSTD)
    chunk = one_chunk(pieces, room)
    assert chunk is datapath.stream.zeros(CHUNK)  # shared, never copied
    sealer = KEYS.chunks(CHECKPOINT) if room else None
    (record, stored), peak = peak_of(
        lambda: chunks.encode(0, 0, chunk, compression.ZSTD, sealer=sealer))
    assert record.zero and stored is None
    assert peak <= SLACK, peak


def test_a_compressed_chunk_is_opened_with_no_more_memory_than_read_plain():
    """Opened into the thread's reused buffer, then decompressed from it:
    the chunk's plain bytes are the one chunk-sized allocation, as when
    the stored bytes are decompressed as they are."""
    sealer = KEYS.chunks(CHECKPOINT)
    stored_of = {}
    for index in range(4):
        pieces = compressible_pieces(index)
        stored_of[index] = (encode_peak(index, pieces, None)[:2],
                            encode_peak(index, pieces, sealer)[:2])
    for index in (0, 1):  # the thread's buffer, grown once
        chunks.decode(*stored_of[index][1], sealer=sealer)
    for index in (2, 3):
        plain_stored, sealed = stored_of[index]
        plain, plain_peak = peak_of(
            functools.partial(chunks.decode, *plain_stored))
        opened, peak = peak_of(
            functools.partial(chunks.decode, *sealed, sealer=sealer))
        assert opened == plain == b"".join(compressible_pieces(index))
        del opened, plain
        assert peak <= plain_peak + SLACK, (peak, plain_peak)


def test_a_small_payload_leaves_the_threads_large_buffer_as_it_is():
    """Between two large compressed payloads, a small one is sealed into a
    buffer of its own: the large one keeps its memory (not given back and
    faulted in again), and the next large payload is sealed into it with
    nothing allocated."""
    sealer = KEYS.chunks(CHECKPOINT)
    large = compressible_pieces(1)
    small = [bytes(CHUNK - 4096), noise(5, 4096)]
    encode_peak(0, compressible_pieces(0), sealer)
    first = encode_peak(1, large, sealer)
    kept = sealer.scratch(1)  # what a small size gets: a new buffer
    assert len(kept) == 1
    record, stored, _ = encode_peak(2, small, sealer)
    assert record.compression == compression.ZSTD
    assert record.stored_size < CHUNK // 16
    assert chunks.decode(record, stored, sealer=sealer) == b"".join(small)
    buffer = sealer._local.buffer
    allocated = buffer.__alloc__()
    assert allocated > CHUNK // 2
    chunk = one_chunk(large, sealing.ROOM)
    (again, sealed), peak = peak_of(
        lambda: chunks.encode(1, 0, chunk, compression.ZSTD, sealer=sealer))
    assert sealed is buffer and buffer.__alloc__() == allocated
    plain_peak = encode_peak(1, large, None)[2]
    assert peak <= plain_peak + SLACK, (peak, plain_peak)
    assert again.stored_size == first[0].stored_size
    assert chunks.decode(again, bytes(sealed), sealer=sealer) == b"".join(large)
