"""The HTTP door hands large pieces to waitress as Pieces (issue 16).

A :class:`~karbor_volume_glance.testing.localcloud.server.Piece` is sent by
waitress's loop from the piece itself: cut to the answer's length with
``piece[:n]`` (``task.write``), then ``get(n)`` / ``skip(sent)`` until it is
empty, then ``close()``. These tests drive a Piece the way waitress does,
with any sizes, and check the bytes it gives are the piece's, in order; and
they drive waitress's own channel with a socket that takes nothing until the
whole body is queued, so that a piece the app changes after handing it over
(a reused buffer) would show its later bytes in the body.
"""

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st
from waitress.adjustments import Adjustments
from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import HTTPChannel

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


def sized_app(body, headers=(("Content-Length", "1"),)):
    def app(environ, start_response):
        start_response("200 OK", list(headers))
        return body
    return app


def start_response(status, headers, exc_info=None):
    pass


def test_only_large_bytes_pieces_become_pieces():
    large = b"x" * server.PIECE_MIN
    mutable = bytearray(large)
    body = Body([b"small", large, mutable, memoryview(large)])
    app = server.send_pieces(sized_app(body))
    sent = app({}, start_response)
    out = list(sent)
    assert out[0] == b"small"
    assert isinstance(out[1], server.Piece) and bytes(out[1].get()) == large
    # what the app may reuse goes through waitress's copying path
    assert out[2] is mutable and type(out[3]) is memoryview
    sent.close()
    assert body.closed


def test_a_whole_body_list_is_left_alone():
    body = [b"{}"]
    app = server.send_pieces(sized_app(body))
    assert app({}, start_response) is body


def test_a_body_without_a_length_is_left_to_waitress():
    # waitress frames it in chunks: hex(len(data)) + data + CRLF, bytes only
    large = b"x" * server.PIECE_MIN
    app = server.send_pieces(sized_app(Body([large]), headers=[]))
    assert list(app({}, start_response)) == [large]


def test_the_length_may_come_with_the_first_piece():
    large = b"x" * server.PIECE_MIN

    def app(environ, start_response):  # start_response once iterated
        start_response("200 OK", [("content-length", str(len(large)))])
        yield large
    (piece,) = list(server.send_pieces(app)({}, start_response))
    assert isinstance(piece, server.Piece)


def test_read_only_views_of_a_mapped_file_become_pieces(tmp_path):
    import mmap

    path = tmp_path / "image"
    path.write_bytes(b"y" * (2 * server.PIECE_MIN))
    with open(path, "r+b") as stream:
        read_only = mmap.mmap(stream.fileno(), 0, prot=mmap.PROT_READ)
        writable = mmap.mmap(stream.fileno(), 0)
    app = server.send_pieces(sized_app(iter(
        [memoryview(read_only), memoryview(writable)])))
    out = list(app({}, start_response))
    assert isinstance(out[0], server.Piece)
    assert bytes(out[0].get()) == path.read_bytes()
    assert type(out[1]) is memoryview  # could change under waitress: copied


class Channel(HTTPChannel):
    """waitress's channel, its socket replaced by a list of what was sent;
    ``window``: how much one send takes (0: the socket is full)."""

    window = 0

    def send(self, data, do_close=True):
        taken = min(len(data), self.window)
        self.sent.append(bytes(data[:taken]))
        return taken


class Server:
    """What a channel asks of its server."""

    def __init__(self):
        self.active_channels = {}

    def pull_trigger(self):
        pass


def reused_buffer_body(data, sizes, fresh, views=True):
    """``data`` cut at ``sizes`` (cycled); ``fresh``: as bytes, else as one
    bytearray (or, with ``views``, every other piece a view of it)
    overwritten as soon as the app resumes."""
    buffers = {}  # one bytearray per piece size, reused
    position, index = 0, 0
    while position < len(data):
        size = min(sizes[index % len(sizes)], len(data) - position)
        index += 1
        if fresh:
            yield data[position:position + size]
        else:
            buffer = buffers.setdefault(size, bytearray(size))
            buffer[:] = data[position:position + size]
            yield memoryview(buffer) if views and index % 2 else buffer
            buffer[:] = b"\xee" * size  # what a reuse does next
        position += size


@given(sizes=st.lists(st.sampled_from([1000, 5000, server.PIECE_MIN - 1,
                                       server.PIECE_MIN, 100_000, 300_000]),
                      min_size=1, max_size=5),
       fresh=st.booleans(), window=st.sampled_from([1000, 65536, 1 << 22]))
def test_waitress_sends_the_body_s_bytes_even_from_a_reused_buffer(
        sizes, fresh, window):
    data = bytes(range(256)) * 4000  # about 1 MiB: below OUTBUF_HIGH
    left, right = socket.socketpair()
    try:
        adj = Adjustments(outbuf_high_watermark=server.OUTBUF_HIGH,
                          outbuf_overflow=server.OUTBUF_OVERFLOW)
        channel = Channel(Server(), left, ("127.0.0.1", 0), adj, map={})
        channel.sent = []
        app = server.send_pieces(sized_app(reused_buffer_body(data, sizes,
                                                              fresh)))
        written = 0
        for item in app({}, start_response):  # as Task.write hands them on
            towrite = item[:len(data) - written]
            written += len(towrite)
            channel.write_soon(towrite)
        assert not b"".join(channel.sent)  # the socket took nothing so far
        channel.window = window
        while channel.total_outbufs_len:
            channel._flush_some()
        assert b"".join(channel.sent) == data
    finally:
        left.close()
        right.close()
