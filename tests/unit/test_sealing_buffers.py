"""Encrypted chunks sealed and opened in reused buffers (issue 15, item 5):
what a reused buffer gives is what a fresh one gives, damage is still caught
and named, a buffer a consumer still holds is never reused, and a restore's
chunks are opened into a bounded set of buffers.
"""

import dataclasses
import hashlib
import io
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.bank import codec, compat, open_bank
from karbor_volume_glance.datapath import BufferPool, IterableReader
from karbor_volume_glance.format import chunks, compression, sealing
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.operations import restore, transfer

VOLUME = "vol"
CHECKPOINT = "0f0e0d0c-0000-4000-8000-00000000000c"
KEYS = sealing.VolumeKeys(MasterKey.generate(), VOLUME)
SIZES = st.integers(1, 5000)


def chunk_data(size, seed, text):
    if text:
        return (b"text %d " % seed * size)[:size]
    return hashlib.shake_256(b"%d" % seed).digest(size)


def sealed_copies(sealer, items):
    """Seal each (index, data, algorithm) in turn, keeping a bytes copy of
    each stored object as a bank would write it, and the buffers used."""
    out, buffers = [], set()
    for index, data, algorithm in items:
        record, stored = chunks.encode(index, 0, data, algorithm, sealer=sealer)
        buffers.add(id(stored))
        out.append((record, bytes(stored), data))
    return out, buffers


# --- sealing: one buffer per thread -----------------------------------------

def test_a_thread_seals_every_chunk_into_the_same_buffer():
    sealer = KEYS.chunks(CHECKPOINT)
    items = [(i, chunk_data(4096 + i, i, False), compression.NONE)
             for i in range(4)]
    stored, buffers = sealed_copies(sealer, items)
    assert len(buffers) == 1
    for record, sealed, data in stored:
        assert chunks.decode(record, sealed, sealer=sealer) == data


@given(st.lists(st.tuples(SIZES, st.booleans(),
                          st.sampled_from(compression.ALGORITHMS)),
                min_size=1, max_size=6))
def test_hypothesis_reused_buffers_open_like_fresh_ones(specs):
    """Chunks of any sizes and compressions sealed one after the other in a
    reused buffer open to their data, into the scratch buffer or a pool's,
    exactly as a sealer that never reused anything opens them."""
    reused = KEYS.chunks(CHECKPOINT)
    items = [(i, chunk_data(size, i, text), algorithm)
             for i, (size, text, algorithm) in enumerate(specs)]
    stored, _ = sealed_copies(reused, items)
    pool = BufferPool(2)
    for record, sealed, data in stored:
        fresh = KEYS.chunks(CHECKPOINT)  # a new sealer: nothing reused
        assert chunks.decode(record, sealed, sealer=fresh) == data
        opened = chunks.decode(record, sealed, sealer=reused, buffers=pool)
        assert opened == data
        pool.give_back(opened)
        del opened


@given(st.lists(st.tuples(SIZES, st.booleans(),
                          st.sampled_from(compression.ALGORITHMS)),
                min_size=2, max_size=5), st.data())
def test_hypothesis_a_damaged_chunk_fails_named_among_reused_buffers(
        specs, draw):
    sealer = KEYS.chunks(CHECKPOINT)
    items = [(i, chunk_data(size, i, text), algorithm)
             for i, (size, text, algorithm) in enumerate(specs)]
    stored, _ = sealed_copies(sealer, items)
    victim = draw.draw(st.integers(0, len(stored) - 1))
    position = draw.draw(st.integers(0, len(stored[victim][1]) - 1))
    pool = BufferPool(2)
    for index, (record, sealed, data) in enumerate(stored):
        if index != victim:
            opened = chunks.decode(record, sealed, sealer=sealer, buffers=pool)
            assert opened == data
            pool.give_back(opened)
            del opened
            continue
        damaged = bytearray(sealed)
        damaged[position] ^= 0x01
        with pytest.raises(exceptions.ChunkIntegrityError) as info:
            chunks.decode(record, bytes(damaged), sealer=sealer, buffers=pool)
        assert info.value.chunk == record.name
        assert "does not authenticate" in info.value.reason


def test_a_chunk_opened_from_the_buffer_it_was_sealed_in_is_not_overwritten():
    """Opening the very bytes seal() returned (still in the scratch buffer)
    does not decrypt them over themselves."""
    sealer = KEYS.chunks(CHECKPOINT)
    data = b"text " * 2000
    record, stored = chunks.encode(1, 0, data, compression.ZLIB, sealer=sealer)
    assert record.compression == compression.ZLIB
    assert chunks.decode(record, stored, sealer=sealer) == data


def test_a_buffer_still_viewed_is_replaced_not_resized():
    sealer = KEYS.chunks(CHECKPOINT)
    first = sealer.scratch(100)
    view = memoryview(first)  # e.g. kept alive by an exception's traceback
    second = sealer.scratch(200)
    assert second is not first and len(second) == 200
    assert len(view) == 100
    view.release()
    assert sealer.scratch(150) is second


# --- the pool ---------------------------------------------------------------

def test_the_pool_reuses_a_buffer_nobody_holds():
    pool = BufferPool(2)
    buffer = pool.take(64)
    assert pool.give_back(buffer)
    assert pool.take(64) is buffer
    assert pool.allocated == 1


def test_the_pool_never_takes_back_a_buffer_someone_holds():
    pool = BufferPool(2)
    buffer = pool.take(64)
    kept = [buffer]
    assert not pool.give_back(buffer)
    kept.clear()
    view = memoryview(buffer)
    assert not pool.give_back(buffer)
    view.release()
    del view
    assert pool.give_back(buffer)


def test_the_pool_keeps_at_most_keep_and_skips_other_sizes():
    pool = BufferPool(1)
    assert pool.give_back(bytearray(8))
    assert not pool.give_back(bytearray(8))
    assert not pool.give_back(b"12345678")  # not ours to overwrite
    assert len(pool.take(16)) == 16  # the idle 8-byte one is let go
    assert pool.allocated == 1


# --- the bank: a reused buffer is written, not kept -----------------------------

def test_the_codec_passes_a_bytearray_uncopied():
    buffer = bytearray(b"abc")
    assert codec.encode(buffer)[1] is buffer


def test_the_memory_bank_keeps_a_copy_of_a_reused_buffer():
    section = open_bank("memory://").get_sub_section("/s/")
    buffer = bytearray(b"first")
    compat.write_buffer(section, "k", buffer)
    buffer[:] = b"later"
    assert section.get_object("k") == b"first"


@dataclasses.dataclass
class KarborLikeSection:
    """A section without ``buffer_writes``: Karbor's own keep what they get."""

    objects: dict = dataclasses.field(default_factory=dict)

    def update_object(self, key, value):
        self.objects[key] = value


def test_a_section_of_karbor_is_given_bytes():
    section = KarborLikeSection()
    buffer = bytearray(b"first")
    compat.write_buffer(section, "k", buffer)
    buffer[:] = b"later"
    assert section.objects["k"] == b"first"
    assert type(section.objects["k"]) is bytes


# --- a restore's chunks --------------------------------------------------------

def read_as_restore_does(moved, records):
    """The bytes of ``records`` read through what a restore reads with
    (IterableReader over _tap, in 10000-byte reads) and their sha256 as
    the tap saw them."""
    digest = datapath.StreamDigest(md5=False)
    reader = IterableReader(restore._tap(moved.read_verified(records),
                                         digest.update))
    out = io.BytesIO()
    while piece := reader.read(10000):
        out.write(piece)
    return out.getvalue(), digest.sha256


CHUNK = 64 * 1024


@pytest.mark.parametrize("text", [False, True])
@pytest.mark.parametrize("parallelism", [1, 3])
def test_a_restore_opens_its_chunks_into_a_bounded_set_of_buffers(
        recorded_pools, text, parallelism):
    """Through what the restore reads with (IterableReader over _tap): every
    byte arrives; uncompressed chunks reuse about parallelism + 2 buffers,
    compressed ones are opened into each thread's scratch buffer."""
    pools = recorded_pools
    section = open_bank("memory://").get_sub_section("/c/")
    sealer = KEYS.chunks(CHECKPOINT)
    data = b"".join(chunk_data(CHUNK, i, text) for i in range(16))
    moved = transfer.Transfer(section, VOLUME, parallelism, sealer=sealer)
    records, _digest = moved.save_stream(iter([data]), CHUNK,
                                         compression.ZSTD)
    used = {record.compression for record in records}
    assert used == ({compression.ZSTD} if text else {compression.NONE})
    pools.clear()  # the protect's (its chunks' buffers): the restore's next
    assert read_as_restore_does(moved, records) == (
        data, hashlib.sha256(data).hexdigest())
    assert len(pools) == 1
    if text:
        assert pools[0].allocated == 0
    else:
        assert 1 <= pools[0].allocated <= parallelism + 2 < len(records)


def test_chunks_a_consumer_keeps_stay_intact():
    section = open_bank("memory://").get_sub_section("/c/")
    sealer = KEYS.chunks(CHECKPOINT)
    pieces = [chunk_data(CHUNK, i, False) for i in range(8)]
    moved = transfer.Transfer(section, VOLUME, 2, sealer=sealer)
    records, _digest = moved.save_stream(iter(pieces), CHUNK, compression.NONE)
    kept = list(moved.read_verified(records))
    assert kept == pieces


@pytest.mark.parametrize("nested", [False, True])
def test_our_sections_give_the_backend_a_bytearray_uncopied(monkeypatch,
                                                            nested):
    from karbor_volume_glance.bank import memory

    given_values = []
    real = memory.MemoryBackend.update_object

    def spy(self, key, value, context=None):
        given_values.append(value)
        return real(self, key, value, context)

    monkeypatch.setattr(memory.MemoryBackend, "update_object", spy)
    section = open_bank("memory://").get_sub_section("/c/")
    if nested:
        section = section.get_sub_section("d/")
    buffer = bytearray(b"sealed")
    compat.write_buffer(section, "k", buffer)
    assert given_values[0] is buffer
    assert section.get_object("k") == b"sealed"


# --- sealing in place: a chunk with room is sealed over itself ---------------

@given(st.lists(st.binary(min_size=1, max_size=3000), min_size=1,
                max_size=8), st.integers(1, 4000),
       st.sampled_from(compression.ALGORITHMS))
def test_hypothesis_a_chunk_sealed_in_place_is_the_reference_sealing(
        pieces, size, algorithm):
    """Chunks cut with a seal's room and encoded: an uncompressed one is
    sealed in its own buffer, byte for byte what sealing it anew gives
    (same nonce), and every one opens to its bytes."""
    sealer = KEYS.chunks(CHECKPOINT)
    data = b"".join(pieces)
    offset = 0
    for index, chunk in enumerate(datapath.rechunk(pieces, size,
                                                   room=sealing.ROOM)):
        plain = bytes(chunk)
        assert plain == data[offset:offset + len(plain)]
        buffer = datapath.room_of(chunk, *sealing.ROOM)
        record, stored = chunks.encode(index, offset, chunk, algorithm,
                                       sealer=sealer)
        offset += len(plain)
        if record.zero:
            continue
        if record.compression == compression.NONE:
            assert buffer is not None and stored is buffer  # in place
            nonce = bytes(stored[:sealing.NONCE_BYTES])
            ad = sealing.chunk_ad(VOLUME, CHECKPOINT, index, sealing.FULL,
                                  compression.NONE, len(plain))
            cipher = KEYS._cipher(sealing.DATA_PURPOSE, CHECKPOINT)
            assert bytes(stored) == nonce + cipher.encrypt(nonce, plain, ad)
        assert record.stored_size == len(stored)
        assert chunks.decode(record, bytes(stored), sealer=sealer) == plain
    assert offset == len(data)


def test_seal_in_place_refuses_a_chunk_without_room():
    sealer = KEYS.chunks(CHECKPOINT)
    record, _ = chunks.encode(0, 0, b"x" * 100, compression.NONE,
                              sealer=sealer)
    buffer = bytearray(100 + sealing.OVERHEAD)
    with pytest.raises(ValueError):
        sealer.seal_in_place(record, memoryview(buffer)[:100])
    with pytest.raises(ValueError):
        sealer.seal_in_place(record, b"x" * 100)


@pytest.mark.parametrize("parallelism", [1, 3])
def test_a_protect_hashes_the_plain_stream_before_sealing_it_in_place(
        monkeypatch, parallelism):
    """The whole stream's hashes read each chunk in threads of their own:
    held back here until the chunk's worker has compressed it (all it does
    before sealing), they still see the plain bytes, as the chunks are
    sealed over themselves only once the hashes are done with them."""
    compressed = {}
    real_compress = compression.compress

    def compress(data, algorithm):
        out = real_compress(data, algorithm)
        compressed.setdefault(bytes(data[:16]), threading.Event()).set()
        return out

    real_updaters = datapath.StreamDigest.updaters

    def updaters(self):
        def late(update):
            def run(data):
                event = compressed.setdefault(bytes(data[:16]), threading.Event())
                assert event.wait(30), "the chunk was never compressed"
                update(data)
            return run
        return [late(update) for update in real_updaters(self)]

    in_place = []
    real_in_place = sealing.ChunkSealer.seal_in_place

    def seal_in_place(self, record, chunk):
        in_place.append(record.index)
        return real_in_place(self, record, chunk)

    monkeypatch.setattr(compression, "compress", compress)
    monkeypatch.setattr(datapath.StreamDigest, "updaters", updaters)
    monkeypatch.setattr(sealing.ChunkSealer, "seal_in_place", seal_in_place)
    section = open_bank("memory://").get_sub_section("/c/")
    sealer = KEYS.chunks(CHECKPOINT)
    data = b"".join(chunk_data(CHUNK, i, False) for i in range(8))
    moved = transfer.Transfer(section, VOLUME, parallelism, sealer=sealer)
    records, digest = moved.save_stream(
        iter([data[i:i + 10000] for i in range(0, len(data), 10000)]), CHUNK,
        compression.ZSTD, whole_hash="sha512")
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.value == hashlib.sha512(data).hexdigest()
    assert sorted(in_place) == list(range(8))
    assert b"".join(moved.read_verified(records)) == data


def test_a_tampered_chunk_sealed_in_place_is_named():
    section = open_bank("memory://").get_sub_section("/c/")
    sealer = KEYS.chunks(CHECKPOINT)
    data = b"".join(chunk_data(CHUNK, i, False) for i in range(4))
    moved = transfer.Transfer(section, VOLUME, 2, sealer=sealer)
    records, _digest = moved.save_stream(iter([data]), CHUNK,
                                         compression.NONE)
    victim = records[2]
    stored = bytearray(section.get_object(victim.object))
    stored[len(stored) // 2] ^= 0x80
    section.update_object(victim.object, bytes(stored))
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        b"".join(moved.read_verified(records))
    assert info.value.chunk == victim.name
    assert "does not authenticate" in info.value.reason
