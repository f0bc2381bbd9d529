"""A restore opens encrypted chunks over their stored bytes (issue 15, item
5): a bank that reads into buffers (file, memory) fills the buffer the chunk
is opened in, and AES-GCM decrypts it where it is. What it gives is what the
reference open gives, byte for byte; damaged, truncated and oversized
objects are still named errors, read no further than their bound; a restore
through it is byte-exact.
"""

import hashlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat, open_bank, retrying
from karbor_volume_glance.bank import file as file_bank
from karbor_volume_glance.datapath import BufferPool
from karbor_volume_glance.format import chunks, compression, sealing
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.operations import transfer
from tests.unit.test_sealing_buffers import read_as_restore_does

VOLUME = "vol"
CHECKPOINT = "0f0e0d0c-0000-4000-8000-00000000000c"
KEYS = sealing.VolumeKeys(MasterKey.generate(), VOLUME)
CHUNK = 64 * 1024


def chunk_data(size, seed, text=False):
    if text:
        return (b"text %d " % seed * size)[:size]
    return hashlib.shake_256(b"%d" % seed).digest(size)


def split(stored):
    """A sealed object as a bank reads it into buffers: nonce, the rest."""
    return (bytearray(stored[:sealing.NONCE_BYTES]),
            bytearray(stored[sealing.NONCE_BYTES:]))


@pytest.fixture(params=["file", "memory"])
def section(request, tmp_path):
    url = f"file://{tmp_path}/bank" if request.param == "file" else "memory://"
    return open_bank(url).get_sub_section("/c/")


# --- the sealer: in place is the reference open ------------------------------

@given(st.binary(min_size=1, max_size=5000), st.booleans(),
       st.sampled_from(compression.ALGORITHMS), st.integers(0, 1000))
def test_hypothesis_open_in_place_is_the_reference_open(data, text, algorithm,
                                                        index):
    """Any chunk, any compression: opened over its stored bytes, it is byte
    for byte what :meth:`open` gives, and decodes to the chunk."""
    if text:
        data = data * 3
    sealer = KEYS.chunks(CHECKPOINT)
    record, stored = chunks.encode(index, 0, data, algorithm, sealer=sealer)
    if record.zero:
        return
    stored = bytes(stored)
    reference = bytes(KEYS.chunks(CHECKPOINT).open(record, stored))
    nonce, buffer = split(stored)
    opened = sealer.open_in_place(record, nonce, buffer)
    assert opened is buffer and type(opened) is bytearray
    assert bytes(opened) == reference
    nonce, buffer = split(stored)
    assert bytes(chunks.decode_in_place(record, nonce, buffer,
                                        sealer=sealer)) == data


@given(st.binary(min_size=1, max_size=3000), st.data())
def test_hypothesis_a_flipped_bit_fails_named_in_place(data, draw):
    sealer = KEYS.chunks(CHECKPOINT)
    record, stored = chunks.encode(3, 0, b"\x01" + data, compression.NONE,
                                   sealer=sealer)
    damaged = bytearray(stored)
    position = draw.draw(st.integers(0, len(damaged) - 1))
    damaged[position] ^= 1 << draw.draw(st.integers(0, 7))
    nonce, buffer = split(damaged)
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        chunks.decode_in_place(record, nonce, buffer, sealer=sealer)
    assert info.value.chunk == record.name
    assert "does not authenticate" in info.value.reason


def test_in_place_checks_the_stored_size_and_the_seal():
    sealer = KEYS.chunks(CHECKPOINT)
    record, stored = chunks.encode(0, 0, b"x" * 100, compression.NONE,
                                   sealer=sealer)
    nonce, buffer = split(bytes(stored)[:-1])
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        chunks.decode_in_place(record, nonce, buffer, sealer=sealer)
    assert f"the manifest says {record.stored_size}" in info.value.reason
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        sealer.open_in_place(record, bytearray(12), bytearray(15))
    assert "less than a seal's 28" in info.value.reason


def test_a_chunk_of_another_index_does_not_open_in_place():
    sealer = KEYS.chunks(CHECKPOINT)
    record, stored = chunks.encode(0, 0, b"y" * 100, compression.NONE,
                                   sealer=sealer)
    stored = bytes(stored)  # the scratch buffer is the next seal's
    moved, _ = chunks.encode(1, 0, b"y" * 100, compression.NONE, sealer=sealer)
    assert bytes(sealer.open_in_place(record, *split(stored))) == b"y" * 100
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        sealer.open_in_place(moved, *split(stored))
    assert info.value.chunk == moved.name


# --- the pool: a buffer cut by its tag is grown back where it is ------------

def test_the_pool_grows_back_a_buffer_opened_in_place():
    pool = BufferPool(2)
    buffer = pool.take(4096 + sealing.TAG_BYTES)
    del buffer[4096:]  # what open_in_place leaves
    assert pool.give_back(buffer)
    assert pool.take(4096 + sealing.TAG_BYTES) is buffer
    assert len(buffer) == 4096 + sealing.TAG_BYTES and pool.allocated == 1
    del buffer[1000:]  # far shorter: not grown, let go
    assert pool.give_back(buffer)
    assert pool.take(4096 + sealing.TAG_BYTES) is not buffer
    assert pool.allocated == 2


# --- the banks: reading into buffers -----------------------------------------

def test_a_bank_reads_bytes_into_buffers_in_order(section):
    section.update_object("k", b"0123456789")
    first, second = bytearray(3), bytearray(7)
    assert compat.read_into(section, "k", (first, second)) == 10
    assert (first, second) == (b"012", b"3456789")
    short = bytearray(20)
    assert compat.read_into(section, "k", [short]) == 10
    assert short[:10] == b"0123456789"


def test_a_bank_refuses_an_object_larger_than_the_buffers(section):
    section.update_object("k", b"0123456789")
    buffer = bytearray(9)
    with pytest.raises(exceptions.BankObjectTooLarge) as info:
        compat.read_into(section, "k", [buffer])
    assert info.value.max_size == 9 and info.value.size == 10
    assert "'/c/k'" in str(info.value)


def test_a_bank_reads_only_bytes_into_buffers(section):
    section.update_object("s", "text")
    section.update_object("j", {"a": 1})
    for key in ("s", "j"):
        with pytest.raises(exceptions.BankError, match="not bytes"):
            compat.read_into(section, key, [bytearray(64)])
    with pytest.raises(exceptions.BankObjectNotFound):
        compat.read_into(section, "missing", [bytearray(64)])


def test_the_file_bank_reads_no_further_than_the_buffers(tmp_path,
                                                         monkeypatch):
    """An object that grew between the size check and the read is refused
    after one byte past the buffers."""
    section = open_bank(f"file://{tmp_path}/bank").get_sub_section("/c/")
    section.update_object("k", b"a" * 100)
    monkeypatch.setattr(file_bank.os, "fstat",
                        lambda fd: type("S", (), {"st_size": 0})())
    read = []
    real = io.BufferedReader.readinto

    class Counting(io.BufferedReader):
        def readinto(self, view):
            got = real(self, view)
            read.append(got)
            return got

    real_open = open

    def counting_open(path, mode="r", *args, **kwargs):
        stream = real_open(path, mode, *args, **kwargs)
        if mode == "rb" and path.endswith(file_bank.OBJECT_SUFFIX):
            return Counting(stream.detach())
        return stream

    monkeypatch.setattr("builtins.open", counting_open)
    with pytest.raises(exceptions.BankObjectTooLarge):
        compat.read_into(section, "k", [bytearray(40)])
    assert sum(read) == 40


def test_read_into_goes_through_retries_and_not_karbor(section):
    wrapped = retrying.retrying(section, retries=1)
    assert compat.reads_into(wrapped)
    assert compat.reads_into(wrapped.get_sub_section("d/"))
    assert wrapped.get_object_into.retried_by is wrapped.policy
    wrapped.update_object("k", b"abc")
    buffer = bytearray(3)
    assert compat.read_into(wrapped, "k", [buffer]) == 3 and buffer == b"abc"

    class KarborSection:  # Karbor's own: get_object only
        def get_object(self, key):
            return b"abc"

    assert not compat.reads_into(KarborSection())
    assert compat.read_into(KarborSection(), "k", [bytearray(3)]) is None


def test_s3_and_swift_read_bytes():
    from karbor_volume_glance.bank import s3, swift

    assert not s3.S3Backend.READS_INTO
    assert not swift.SwiftBackend.READS_INTO


# --- a restore through it -----------------------------------------------------

def reads_of(monkeypatch, section):
    """Record the keys read whole and read into buffers from ``section``'s
    bank (its backend's methods)."""
    backend = type(compat.backend_of(section))
    seen = {"get": [], "into": []}
    real_get, real_into = backend.get_object, backend.get_object_into

    def get_object(self, key, context=None, max_size=None):
        seen["get"].append(key)
        return real_get(self, key, context=context, max_size=max_size)

    def get_object_into(self, key, buffers, context=None):
        seen["into"].append((key, [len(buffer) for buffer in buffers]))
        return real_into(self, key, buffers, context=context)

    monkeypatch.setattr(backend, "get_object", get_object)
    monkeypatch.setattr(backend, "get_object_into", get_object_into)
    return seen


@pytest.mark.parametrize("parallelism", [1, 3])
def test_a_restore_opens_chunks_where_the_bank_read_them(section, monkeypatch,
                                                         recorded_pools,
                                                         parallelism):
    """Plain, compressed and zero chunks of an encrypted backup, restored
    through what the restore reads with: byte-exact, every stored chunk
    read into a buffer of its stored size less the nonce (none read
    whole), uncompressed ones into about parallelism + 2 pooled buffers."""
    pools = recorded_pools
    sealer = KEYS.chunks(CHECKPOINT)
    pieces = [chunk_data(CHUNK, i, text=i % 3 == 1) if i % 5 != 4
              else bytes(CHUNK) for i in range(15)] + [chunk_data(1000, 99)]
    data = b"".join(pieces)
    moved = transfer.Transfer(section, VOLUME, parallelism, sealer=sealer)
    records, _ = moved.save_stream(iter([data]), CHUNK, compression.ZSTD)
    kinds = {(r.zero, r.compression) for r in records}
    assert kinds == {(True, compression.NONE), (False, compression.NONE),
                     (False, compression.ZSTD)}
    pools.clear()  # the protect's (its chunks' buffers): the restore's next
    seen = reads_of(monkeypatch, section)
    assert read_as_restore_does(moved, records) == (
        data, hashlib.sha256(data).hexdigest())
    assert seen["get"] == []
    stored = [r for r in records if not r.zero]
    assert sorted(seen["into"]) == sorted(
        (f"/c/{r.object}", [sealing.NONCE_BYTES,
                            r.stored_size - sealing.NONCE_BYTES])
        for r in stored)
    assert 1 <= pools[0].allocated <= parallelism + 2


def test_an_incremental_chain_restores_in_place(section, monkeypatch):
    """Deltas and chunks referenced from the parent (another section)
    open in place too."""
    sealer = KEYS.chunks(CHECKPOINT)
    first = b"".join(chunk_data(CHUNK, i) for i in range(6))
    moved = transfer.Transfer(section, VOLUME, 2, sealer=sealer)
    parent, _ = moved.save_stream(iter([first]), CHUNK, compression.ZSTD)
    second = bytearray(first)
    second[CHUNK + 10:CHUNK + 20] = b"z" * 10  # a delta
    second[3 * CHUNK:4 * CHUNK] = chunk_data(CHUNK, 77)  # a new full chunk
    child_id = "0f0e0d0c-0000-4000-8000-00000000000d"
    child_section = compat.section_at(section, "/d/")
    child = transfer.Transfer(child_section, VOLUME, 2,
                              sources={CHECKPOINT: section},
                              sealer=KEYS.chunks(child_id))
    records, _ = child.save_stream(
        iter([bytes(second)]), CHUNK, compression.ZSTD,
        previous=[r.referenced_from(CHECKPOINT) for r in parent])
    assert any(r.is_delta for r in records)
    assert any(r.source == CHECKPOINT and not r.is_delta for r in records)
    seen = reads_of(monkeypatch, section)
    assert b"".join(child.read_verified(records)) == second
    assert seen["get"] == [] and seen["into"]


def test_damage_is_named_through_the_read_into_path(section):
    """A flipped byte, a truncated object and an oversized one each stop
    the restore with ChunkIntegrityError naming the chunk; the oversized
    one is refused by the bank, not read into a larger buffer."""
    sealer = KEYS.chunks(CHECKPOINT)
    data = b"".join(chunk_data(CHUNK, i) for i in range(4))
    moved = transfer.Transfer(section, VOLUME, 2, sealer=sealer)
    records, _ = moved.save_stream(iter([data]), CHUNK, compression.NONE)
    victim = records[2]
    original = section.get_object(victim.object)

    def restored_with(stored):
        section.update_object(victim.object, stored)
        with pytest.raises(exceptions.ChunkIntegrityError) as info:
            b"".join(moved.read_verified(records))
        assert info.value.chunk == victim.name
        return info.value

    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x80
    assert "does not authenticate" in restored_with(bytes(flipped)).reason
    truncated = restored_with(original[:-100])
    assert (f"is {len(original) - 100} bytes in the bank, the manifest says "
            f"{victim.stored_size}") in truncated.reason
    tiny = restored_with(original[:5])
    assert "is 5 bytes in the bank" in tiny.reason
    oversized = restored_with(original + b"x")
    assert "BankObjectTooLarge" in oversized.reason
    assert isinstance(oversized.__cause__, exceptions.BankObjectTooLarge)
    assert oversized.__cause__.max_size == victim.stored_size
    assert "'/c/data_3'" in str(oversized.__cause__)
    section.update_object(victim.object, original)
    assert b"".join(moved.read_verified(records)) == data
