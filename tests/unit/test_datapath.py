"""The data path: re-chunking a stream, chunk records and checks, the reader."""

import hashlib
import io
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import datapath, exceptions
from karbor_volume_glance.format import chunks


@pytest.mark.parametrize("total", [0, 1, 9, 10, 11, 100, 1000])
@pytest.mark.parametrize("piece", [1, 3, 10, 64])
def test_rechunk_keeps_every_byte_in_exact_chunks(total, piece):
    data = os.urandom(total)
    pieces = [data[i:i + piece] for i in range(0, total, piece)]
    chunks = list(datapath.rechunk(pieces, 10))
    assert b"".join(chunks) == data
    assert all(len(chunk) == 10 for chunk in chunks[:-1])
    assert all(0 < len(chunk) <= 10 for chunk in chunks)
    assert len(chunks) == -(-total // 10)


@given(pieces=st.lists(st.one_of(st.integers(0, 40).map(bytes),
                                  st.binary(min_size=1, max_size=40),
                                  st.integers(1, 40).map(bytearray)),
                        max_size=30),
       size=st.integers(1, 50))
def test_rechunk_with_zero_pieces_keeps_every_byte(pieces, size):
    # runs of zero pieces become the shared zeros, data pieces are joined:
    # either way the chunks are the stream cut every ``size`` bytes
    data = b"".join(pieces)
    chunks = list(datapath.rechunk(pieces, size))
    assert chunks == [data[i:i + size] for i in range(0, len(data), size)]


def test_rechunk_hands_out_one_shared_object_for_zero_chunks():
    chunks = list(datapath.rechunk([bytes(4)] * 7, 8))
    assert chunks == [bytes(8)] * 3 + [bytes(4)]
    assert chunks[0] is chunks[1] is datapath.stream.zeros(8)


@pytest.mark.parametrize("room", [None, (2, 3)])
def test_rechunk_shares_zeros_after_a_piece_cut_across_chunks(room):
    """A chunk of zeros is the shared zeros also where its first part is the
    rest of a piece cut by the chunk before (a view), with or without room;
    the chunks with data are bytes without room."""
    pieces = [b"abc", bytes(3), bytes(3), bytes(3), memoryview(bytes(3))]
    chunks = list(datapath.rechunk(pieces, 4, room))
    assert [bytes(chunk) for chunk in chunks] == [b"abc\0"] + [bytes(4)] * 2 \
        + [bytes(3)]
    assert chunks[1] is chunks[2] is datapath.stream.zeros(4)
    assert chunks[3] is datapath.stream.zeros(3)
    assert type(chunks[0]) is (bytes if room is None else memoryview)


def test_rechunk_skips_empty_and_none_pieces():
    assert list(datapath.rechunk([b"", None, b"abc", b"", b"de"], 2)) == [
        b"ab", b"cd", b"e"]


def test_rechunk_refuses_a_non_positive_size():
    with pytest.raises(ValueError):
        list(datapath.rechunk([b"x"], 0))


def test_rechunk_is_lazy():
    def endless():
        while True:
            yield b"x" * 7

    chunks = datapath.rechunk(endless(), 5)
    assert [next(chunks) for _ in range(3)] == [b"xxxxx"] * 3


def test_stream_digest_matches_hashlib():
    digest = datapath.StreamDigest()
    data = os.urandom(5000)
    for i in range(0, 5000, 333):
        digest.update(data[i:i + 333])
    assert digest.size == 5000
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.md5 == hashlib.md5(data).hexdigest()


def test_chunk_names_follow_karbor():
    assert chunks.chunk_name(0) == "data_1"
    record, _ = chunks.encode(9, 9 * 10, b"abc", "none")
    assert (record.name, record.object) == ("data_10", "data_10")


def test_check_accepts_the_recorded_bytes():
    record, _ = chunks.encode(0, 0, b"hello", "none")
    assert chunks.check(record, b"hello") == b"hello"


@pytest.mark.parametrize(
    "stored, words",
    [
        (b"hell", "is 4 bytes in the bank, the manifest says 5"),
        (b"hellO", "sha256"),
        ("hello", "holds a str"),
        ({"a": 1}, "holds a dict"),
    ],
)
def test_decode_names_the_chunk_and_the_fault(stored, words):
    record, _ = chunks.encode(2, 20, b"hello", "none")
    with pytest.raises(exceptions.ChunkIntegrityError) as info:
        chunks.decode(record, stored)
    assert info.value.chunk == "data_3"
    assert str(info.value).startswith("chunk data_3: ")
    assert words in str(info.value)


def test_iterable_reader_streams_pieces_through_read():
    pieces = [b"ab", b"", b"cdef", b"g"]
    reader = datapath.IterableReader(pieces)
    assert reader.read(3) == b"abc"  # a read fills across pieces
    assert reader.read(100) == b"defg"
    assert reader.read() == b""
    assert reader.read(5) == b""
    assert reader.bytes_read == 7


def test_iterable_reader_works_under_a_buffered_reader():
    data = os.urandom(100_000)
    pieces = (data[i:i + 4096] for i in range(0, len(data), 4096))
    buffered = io.BufferedReader(datapath.IterableReader(pieces), 65536)
    out = b"".join(iter(lambda: buffered.read(65536), b""))
    assert out == data


def test_iterable_reader_keeps_the_error_it_raised():
    def failing():
        yield b"abc"
        raise exceptions.ChunkIntegrityError("data_2", "bad")

    reader = datapath.IterableReader(failing())
    assert reader.read(3) == b"abc"
    with pytest.raises(exceptions.ChunkIntegrityError):
        reader.read(3)
    assert isinstance(reader.error, exceptions.ChunkIntegrityError)
    assert reader.error.chunk == "data_2"


@given(pieces=st.lists(st.one_of(st.integers(0, 40).map(bytes),
                                  st.binary(min_size=1, max_size=40),
                                  st.integers(1, 40).map(bytearray)),
                        max_size=30),
       size=st.integers(1, 50), head=st.integers(0, 20),
       tail=st.integers(0, 20))
def test_hypothesis_rechunk_with_room_cuts_alike_and_leaves_room(
        pieces, size, head, tail):
    """With ``room`` the chunks are the same bytes; each that is not the
    shared zeros sits at ``head`` in a bytearray of its own with ``tail``
    bytes after it (room_of finds it)."""
    data = b"".join(pieces)
    cut = list(datapath.rechunk(pieces, size, room=(head, tail)))
    assert [bytes(chunk) for chunk in cut] == [
        data[i:i + size] for i in range(0, len(data), size)]
    buffers = set()
    for chunk in cut:
        if isinstance(chunk, bytes):
            assert chunk == bytes(len(chunk))  # the shared zeros
            continue
        buffer = datapath.room_of(chunk, head, tail)
        assert buffer is chunk.obj and len(buffer) == head + len(chunk) + tail
        assert buffer[head:head + len(chunk)] == chunk
        buffers.add(id(buffer))
    assert len(buffers) == sum(not isinstance(c, bytes) for c in cut)


def test_room_of_refuses_what_has_no_room_at_its_place():
    buffer = bytearray(b"hh" + b"data" + b"ttt")
    view = memoryview(buffer)
    assert datapath.room_of(view[2:6], 2, 3) is buffer
    assert datapath.room_of(view[1:5], 2, 3) is None  # another place
    assert datapath.room_of(view[2:6], 1, 4) is None
    assert datapath.room_of(view[2:6], 2, 2) is None  # another size
    assert datapath.room_of(b"data", 0, 0) is None  # not a view
    assert datapath.room_of(memoryview(b"hhdatattt")[2:6], 2, 3) is None
    assert datapath.room_of(view[2:6].toreadonly(), 2, 3) is None
