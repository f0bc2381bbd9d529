"""A protect assembles its chunks in reused buffers (issue 16, item 2; an
encrypted one too, with the room of a seal around each, issue 15 item 5):
:func:`datapath.rechunk` with ``buffers`` gives the same bytes as without,
a chunk someone still holds is never written over, and
:meth:`Transfer.save_stream` assembles a long stream in a bounded set of
buffers, the bank's objects and the whole stream's hashes unchanged.
"""

import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import datapath
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.datapath import BufferPool
from karbor_volume_glance.format import compression, sealing
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.operations import transfer

CHUNK = 64 * 1024
PIECE = 16 * 1024


def _pieces_of(data, cuts):
    """``data`` cut at the sorted positions ``cuts``."""
    bounds = [0, *sorted({cut % (len(data) + 1) for cut in cuts}), len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000)),
       size=st.integers(1, 700), give_back=st.booleans())
def test_chunks_from_buffers_are_the_chunks_without(data, cuts, size,
                                                    give_back):
    pool = BufferPool(2)
    plain = [bytes(chunk) for chunk in datapath.rechunk(
        _pieces_of(data, cuts), size)]
    pooled = []
    for chunk in datapath.rechunk(_pieces_of(data, cuts), size, buffers=pool):
        pooled.append(bytes(chunk))
        if give_back:
            pool.give_back(chunk)
        del chunk
    assert pooled == plain


def test_aligned_chunks_given_back_reuse_one_buffer():
    data = os.urandom(8 * CHUNK)
    pool = BufferPool(2)
    offset = 0
    # no enumerate(): it keeps its last tuple, the chunk in it
    for chunk in datapath.rechunk(
            _pieces_of(data, range(PIECE, len(data), PIECE)), CHUNK,
            buffers=pool):
        assert type(chunk) is bytearray
        assert chunk == data[offset:offset + CHUNK]
        offset += len(chunk)
        assert pool.give_back(chunk)
        del chunk
    assert offset == len(data)
    assert pool.allocated == 1


def test_chunks_a_consumer_keeps_are_never_written_over():
    data = os.urandom(8 * CHUNK)
    pool = BufferPool(2)
    kept = []
    for chunk in datapath.rechunk(
            _pieces_of(data, range(PIECE, len(data), PIECE)), CHUNK,
            buffers=pool):
        kept.append(chunk)
        assert not pool.give_back(chunk)  # the list holds it
    assert b"".join(kept) == data
    assert pool.allocated == 8


class _Keeping:
    """A bank section that keeps the very objects it is given (as a bank
    writing in the background might hold them for a while)."""

    buffer_writes = True

    def __init__(self):
        self.objects = {}

    def update_object(self, key, value, context=None):
        self.objects[key] = value


@pytest.mark.parametrize("parallelism", [1, 3])
def test_a_bank_that_holds_a_chunk_keeps_its_bytes(parallelism):
    data = os.urandom(10 * CHUNK)
    section = _Keeping()
    moved = transfer.Transfer(section, "vol", parallelism)
    records, digest = moved.save_stream(
        iter(_pieces_of(data, range(PIECE, len(data), PIECE))), CHUNK,
        compression.ZSTD)
    assert {record.compression for record in records} == {compression.NONE}
    assert b"".join(bytes(section.objects[record.object])
                    for record in records) == data
    assert digest.sha256 == hashlib.sha256(data).hexdigest()


class _KarborLike(_Keeping):
    """A section without ``buffer_writes``: compat gives it bytes copies."""

    buffer_writes = False


def test_a_bank_given_copies_gets_chunks_assembled_as_bytes(monkeypatch):
    pools = []
    monkeypatch.setattr(datapath, "BufferPool",
                        lambda keep: pools.append(keep) or BufferPool(keep))
    data = os.urandom(4 * CHUNK)
    section = _KarborLike()
    records, _digest = transfer.Transfer(section, "vol", 2).save_stream(
        iter(_pieces_of(data, range(PIECE, len(data), PIECE))), CHUNK,
        compression.NONE)
    assert pools == []
    assert {type(value) for value in section.objects.values()} == {bytes}
    assert b"".join(section.objects[record.object]
                    for record in records) == data


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("text", [False, True])
@pytest.mark.parametrize("parallelism", [1, 3])
def test_save_stream_assembles_in_a_bounded_set_of_buffers(
        recorded_pools, text, parallelism, encrypted):
    """Encrypted, the chunks (with the room of a seal) come from the pool
    too, sealed in place and taken back once stored: a buffer reused while
    its chunk was still being hashed, sealed or stored would break the
    restore or the whole stream's hashes."""
    pools = recorded_pools
    count = 16
    lines = (b"line %d of the text\n" % i for i in range(count * CHUNK // 10))
    data = (b"".join(lines)[:count * CHUNK] if text
            else os.urandom(count * CHUNK))
    section = open_bank("memory://").get_sub_section("/c/")
    sealer = (sealing.VolumeKeys(MasterKey.generate(), "vol").chunks("c-1")
              if encrypted else None)
    moved = transfer.Transfer(section, "vol", parallelism, sealer=sealer)
    records, digest = moved.save_stream(
        iter(_pieces_of(data, range(PIECE, len(data), PIECE))), CHUNK,
        compression.ZSTD, whole_hash="sha512")
    assert {record.compression for record in records} == (
        {compression.ZSTD} if text else {compression.NONE})
    assert len(pools) == 1  # the protect's (an encrypted restore has one)
    assert 1 <= pools[0].allocated <= parallelism + 3 < len(records)
    assert b"".join(moved.read_verified(records)) == data
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.value == hashlib.sha512(data).hexdigest()
