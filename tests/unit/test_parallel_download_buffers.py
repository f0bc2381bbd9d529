"""The buffers of a parallel download's ranges (issue 16, item 2): each range
is handed out in a buffer of its own, reused for a later range only once
nothing else refers to it, and the chunks assembled from them (with the
protect's pool, :func:`.datapath.rechunk`) are the image exactly.

A stub Glance answers Range requests in pieces (the pieces path: the
socket path is tested over HTTP in tests/functional/test_download_readinto.py).
"""

import hashlib
import os
import threading
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import datapath
from karbor_volume_glance.cloud import download
from tests.unit.test_parallel_download import _Body, _pieces, stub_glance


def _download(data, piece, range_size, streams, retries=3):
    return download.parallel_download(
        lambda: None, "image", _Body(_pieces(data, piece), len(data)),
        streams=streams, range_size=range_size, retries=retries,
        pauses_of=lambda: iter(lambda: 0, None), sleep=lambda s: None)


def test_each_range_is_one_buffer_of_its_length():
    data = os.urandom(10 * 1000 + 7)
    with stub_glance(data, 300):
        got = list(_download(data, 300, 1000, 3))
    assert [type(piece) for piece in got] == [bytearray] * 11
    assert [len(piece) for piece in got] == [1000] * 10 + [7]
    assert b"".join(got) == data


def test_ranges_kept_by_the_consumer_stay_intact():
    data = os.urandom(20 * 512)
    with stub_glance(data, 100):
        kept = [memoryview(piece)[1:] for piece in _download(data, 100, 512, 2)]
    assert b"".join(kept) == b"".join(data[i + 1:i + 512]
                                      for i in range(0, len(data), 512))


def test_ranges_let_go_are_reused():
    data = os.urandom(40 * 512)
    pools = []
    real = download.pool.BufferPool

    def recorded(keep):
        pools.append(real(keep))
        return pools[-1]

    digest = hashlib.sha256()
    with stub_glance(data, 100), \
            mock.patch.object(download.pool, "BufferPool", recorded):
        for piece in _download(data, 100, 512, 2):
            digest.update(piece)
            del piece
    assert digest.digest() == hashlib.sha256(data).digest()
    assert pools[0].allocated <= 2 + 2  # fetched, waiting, handed out


@given(size=st.integers(0, 6000), piece=st.integers(1, 700),
       range_size=st.integers(1, 1500), chunk=st.integers(1, 2500),
       streams=st.integers(2, 5),
       breaks=st.lists(st.integers(0, 6000), max_size=3))
def test_chunks_assembled_in_the_pool_are_the_image(size, piece, range_size,
                                                    chunk, streams, breaks):
    data = os.urandom(size)
    chunks = datapath.BufferPool(3)
    got = []
    with stub_glance(data, piece, breaks):
        for part in datapath.rechunk(
                _download(data, piece, range_size, streams,
                          retries=len(breaks) + 1), chunk, None, chunks):
            got.append(bytes(part))  # a copy: the chunk goes back
            chunks.give_back(part)
            del part
    assert b"".join(got) == data
    assert all(len(part) == chunk for part in got[:-1])


def test_blocks_of_a_chunk_are_read_by_ranges():
    data = os.urandom(7 * 1000 + 5)
    with stub_glance(data, 300):
        got = list(download.parallel_download(
            lambda: None, "image", _Body(_pieces(data, 300), len(data)),
            streams=3, range_size=1000, retries=1, block_size=2500,
            pauses_of=lambda: iter(lambda: 0, None), sleep=lambda s: None))
    assert [type(block) for block in got] == [bytearray] * 3
    assert [len(block) for block in got] == [2500, 2500, 2005]
    assert b"".join(got) == data


def test_a_block_smaller_than_a_range_is_a_range():
    data = os.urandom(4 * 1000)
    with stub_glance(data, 300):
        got = list(download.parallel_download(
            lambda: None, "image", _Body(_pieces(data, 300), len(data)),
            streams=2, range_size=1000, retries=1, block_size=10,
            pauses_of=lambda: iter(lambda: 0, None), sleep=lambda s: None))
    assert [len(block) for block in got] == [1000] * 4
    assert b"".join(got) == data


def test_whole_chunks_pass_uncopied_and_others_are_assembled():
    pool = datapath.BufferPool(2)
    whole = bytearray(os.urandom(8))
    pieces = [whole, b"abcd", bytearray(b"efgh"), bytes(8), b"xyz"]
    got = list(datapath.rechunk(iter(pieces), 8, None, pool, whole=True))
    assert got[0] is whole
    assert got[1] == b"abcdefgh"
    assert got[2] == bytes(8) and got[3] == b"xyz"
    # without ``whole``, a whole chunk is copied into the pool's buffer
    copied = next(datapath.rechunk(iter([whole]), 8, None, pool))
    assert copied == whole and copied is not whole


@given(size=st.integers(0, 6000), piece=st.integers(1, 700),
       range_size=st.integers(1, 1500), chunk=st.integers(1, 2500),
       streams=st.integers(2, 5), keep=st.sets(st.integers(0, 12)),
       breaks=st.lists(st.integers(0, 6000), max_size=3))
def test_blocks_taken_as_chunks_are_the_image_even_when_kept(
        size, piece, range_size, chunk, streams, keep, breaks):
    """As a protect takes them (blocks of a chunk, ``whole``): the chunks a
    consumer keeps (``keep``: their numbers) stay intact however many
    blocks come after them; the others are let go as soon as read."""
    data = os.urandom(size)
    chunks = datapath.BufferPool(3)
    got, kept = [], {}
    with stub_glance(data, piece, breaks):
        stream = download.parallel_download(
            lambda: None, "image", _Body(_pieces(data, piece), size),
            streams=streams, range_size=range_size, block_size=chunk,
            retries=len(breaks) + 1, pauses_of=lambda: iter(lambda: 0, None),
            sleep=lambda s: None)
        for number, part in enumerate(datapath.rechunk(
                stream, chunk, None, chunks, whole=True)):
            got.append(bytes(part))
            if number in keep:
                kept[number] = part
            else:
                chunks.give_back(part)
            del part
    assert b"".join(got) == data
    assert all(len(part) == chunk for part in got[:-1])
    assert all(bytes(part) == got[number] for number, part in kept.items())


def test_chunks_smaller_than_a_block_are_assembled_in_the_pool():
    """Blocks of one range cut into smaller chunks (views of the block):
    each chunk is copied into a buffer of the pool, not a fresh bytes."""
    data = os.urandom(6 * 1000)
    chunks = datapath.BufferPool(2)
    got = []
    with stub_glance(data, 300):
        for part in datapath.rechunk(_download(data, 300, 1000, 2), 250,
                                     None, chunks, whole=True):
            assert type(part) is bytearray
            got.append(bytes(part))
            assert chunks.give_back(part)
            del part
    assert b"".join(got) == data
    assert chunks.allocated == 1


def test_a_range_read_from_longer_pieces_stops_at_its_end():
    """The first range is read from glanceclient's answer, the whole image,
    in pieces that need not end where the range does: the bytes past the
    range (the next range's place in the block, another thread's) are not
    written, and the range ends at its end."""
    data = os.urandom(1400)
    buffer = bytearray(b"\xee" * 2000)
    resumer = download._Resumer(lambda: None, "image", len(data), 0, iter(()),
                                lambda s: None, start=0, end=1000)
    download._fill(resumer, iter(_pieces(data, 700)), buffer, 0,
                   threading.Event())
    assert resumer.offset == 1000
    assert buffer[:1000] == data[:1000]
    assert buffer[1000:] == b"\xee" * 1000
