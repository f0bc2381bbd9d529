"""The HTTP door hands large pieces to waitress as Pieces (issue 16).

A :class:`~karbor_volume_glance.testing.localcloud.server.Piece` is sent by
waitress's loop from the piece itself: cut to the answer's length with
``piece[:n]`` (``task.write``), then ``get(n)`` / ``skip(sent)`` until it is
empty, then ``close()``. These tests drive a Piece the way waitress does,
with any sizes, and check the bytes it gives are the piece's, in order.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from waitress.buffers import ReadOnlyFileBasedBuffer

from karbor_volume_glance.testing.localcloud import server


def drain(piece, sends):
    """What waitress's ``_flush_some`` sends from ``piece``: ``get(window)``,
    then a send that takes some of it, ``skip`` what it took, again."""
    out = bytearray()
    sends = iter(sends)
    while len(piece):
        window, share = next(sends, (1 << 30, 1.0))
        chunk = piece.get(window)
        taken = max(1, int(len(chunk) * share)) if len(chunk) else 0
        out += bytes(chunk[:taken])
        piece.skip(taken, True)
    piece.close()
    return bytes(out)


def test_waitress_queues_a_piece_as_it_is():
    # write_soon appends a ReadOnlyFileBasedBuffer to its outbufs uncopied
    assert isinstance(server.Piece(b"x" * 10), ReadOnlyFileBasedBuffer)


@given(data=st.binary(min_size=0, max_size=4096),
       cut=st.integers(min_value=0, max_value=5000),
       sends=st.lists(st.tuples(st.integers(min_value=1, max_value=5000),
                                st.floats(min_value=0.0, max_value=1.0)),
                      max_size=50))
def test_a_piece_sends_its_bytes_cut_to_the_length(data, cut, sends):
    piece = server.Piece(data)
    towrite = piece[:cut]  # task.write's data[: cl - content_bytes_written]
    assert len(towrite) == min(cut, len(data))
    assert bool(towrite) == bool(data[:cut])
    if cut >= len(data):
        assert towrite is piece  # task.write: towrite != data means "excess"
    assert drain(towrite, sends) == data[:cut]


@given(data=st.binary(min_size=1, max_size=4096),
       steps=st.lists(st.integers(min_value=1, max_value=600), max_size=20))
def test_a_cut_after_a_partial_send_starts_where_the_send_stopped(data, steps):
    piece = server.Piece(data)
    position = 0
    for step in steps:
        step = min(step, len(piece))
        piece.skip(step)
        position += step
    assert bytes(piece[:len(data)].get()) == data[position:]
    assert bytes(piece[:1].get()) == data[position:position + 1]


def test_skipping_more_than_is_left_is_refused():
    piece = server.Piece(b"abc")
    with pytest.raises(ValueError):
        piece.skip(4)


def test_a_piece_cut_with_a_step_is_refused():
    with pytest.raises(TypeError):
        server.Piece(b"abc")[::2]


class Body:
    """An answer's body whose close is recorded."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.closed = False

    def __iter__(self):
        return iter(self.pieces)

    def close(self):
        self.closed = True


def test_only_large_bytes_pieces_become_pieces():
    large = b"x" * server.PIECE_MIN
    mutable = bytearray(large)
    body = Body([b"small", large, mutable, memoryview(large)])
    app = server.send_pieces(lambda environ, start_response: body)
    sent = app({}, None)
    out = list(sent)
    assert out[0] == b"small"
    assert isinstance(out[1], server.Piece) and bytes(out[1].get()) == large
    # what the app may reuse goes through waitress's copying path
    assert out[2] is mutable and type(out[3]) is memoryview
    sent.close()
    assert body.closed


def test_a_whole_body_list_is_left_alone():
    body = [b"{}"]
    app = server.send_pieces(lambda environ, start_response: body)
    assert app({}, None) is body
