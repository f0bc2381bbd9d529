"""Serve a WSGI application with waitress in a background thread.

waitress is threaded (slow requests do not hold others up) and decodes the
chunked request bodies glanceclient's uploads send. Port 0 takes a free
port; :attr:`BackgroundServer.port` says which. :meth:`BackgroundServer.stop`
ends the worker threads, then closes every socket from inside waitress's own
loop (through its trigger), so the loop ends.

An answer's large pieces (an image download's) are handed to waitress as
:class:`Piece` objects, waitress's own type of outgoing buffer (its
``wsgi.file_wrapper`` class), so that waitress queues the piece itself and
sends from it, instead of copying it into a BytesIO and out again (two
copies, and a fresh multi-MiB allocation per send, that a C-speed Glance
server does not make). See :func:`send_pieces`.
"""

import mmap
import threading

import waitress.buffers
import waitress.server
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

#: No request body limit worth the name: images are as large as volumes.
MAX_BODY = 1 << 44
#: What one ``recv`` asks for: waitress's 8 KiB default makes its loop parse
#: a large upload's chunked body in 8 KiB steps, at a CPU cost real Glance
#: (a C-speed server in front) does not have.
RECV_BYTES = 256 * 1024
#: An answer's output buffer: up to OUTBUF_HIGH bytes are queued per
#: connection before the application thread waits for the socket, and they
#: stay in memory (below OUTBUF_OVERFLOW) instead of going through a
#: temporary file (waitress's default moves a buffer past 1 MiB, i.e. every
#: 1 MiB piece of an image download, to disk and reads it back).
OUTBUF_HIGH = 4 * 1024 * 1024
OUTBUF_OVERFLOW = 2 * OUTBUF_HIGH
#: Pieces of an answer at least this long go to waitress as :class:`Piece`;
#: smaller ones (JSON bodies) take waitress's usual path.
PIECE_MIN = 64 * 1024


class Piece(waitress.buffers.ReadOnlyFileBasedBuffer):
    """One piece of an answer's body that waitress sends from the piece itself.

    waitress's ``channel.write_soon`` queues an instance of its
    ``ReadOnlyFileBasedBuffer`` as it is (any other data it copies into its
    own buffer), and its loop then calls ``get(n)`` (what to send next),
    ``skip(n)`` (what was sent) and, once all is sent or the connection
    closes, ``close()``; ``task.write`` first cuts the piece to the answer's
    Content-Length with ``piece[:n]``. ``data`` must not change until then:
    :func:`send_pieces` only makes Pieces of ``bytes`` and of read-only views
    of a mapped file (an image's: :func:`.datafiles.mapped_pieces`).
    """

    def __init__(self, data):  # no file: the buffer is the piece
        self.view = memoryview(data).cast("B")
        self.remain = len(self.view)
        self.position = 0

    def __bool__(self):
        return self.remain > 0

    def __getitem__(self, index):
        """``piece[:n]``, as ``task.write`` cuts a body to its length."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a Piece is only cut as piece[start:stop]")
        start, stop, _ = index.indices(self.remain)
        if (start, stop) == (0, self.remain):
            return self
        return Piece(self.view[self.position + start:
                               self.position + max(start, stop)])

    def prepare(self, size=None):
        return self.remain

    def get(self, numbytes=-1, skip=False):
        if numbytes < 0 or numbytes > self.remain:
            numbytes = self.remain
        chunk = self.view[self.position:self.position + numbytes]
        if skip:
            self.skip(numbytes)
        return chunk

    def skip(self, numbytes, allow_prune=False):
        if numbytes > self.remain:
            raise ValueError(f"cannot skip {numbytes} bytes of {self.remain}")
        self.position += numbytes
        self.remain -= numbytes

    def __iter__(self):
        if self.remain:
            yield self.get(skip=True)

    def close(self):
        self.remain = 0
        self.view = memoryview(b"")


def _unchanging(data):
    """Whether ``data`` stays as it is while waitress holds it: bytes, or a
    read-only view of a file mapped read-only in memory."""
    if type(data) is bytes:
        return True
    return (type(data) is memoryview and data.readonly
            and isinstance(data.obj, mmap.mmap))


class _Pieces:
    """An answer's body with its large pieces as :class:`Piece` when it has
    a Content-Length (``sized()``; waitress frames a body without one in
    chunks, which it builds by adding bytes to each piece); closing it
    closes the body."""

    def __init__(self, app_iter, sized):
        self._app_iter = app_iter
        self._sized = sized

    def __iter__(self):
        for data in self._app_iter:
            # only what cannot change while waitress still holds it (a
            # bytearray or view the app may reuse is copied by waitress)
            if len(data) >= PIECE_MIN and _unchanging(data) and self._sized():
                yield Piece(data)
            else:
                yield data

    def close(self):
        close = getattr(self._app_iter, "close", None)
        if close is not None:
            close()


def send_pieces(app):
    """``app`` with each answer's large pieces sent by waitress from the
    pieces themselves (for waitress only: a Piece is not bytes)."""
    def application(environ, start_response):
        headers = []

        def starting(status, response_headers, exc_info=None):
            headers[:] = response_headers
            return start_response(status, response_headers, exc_info)

        app_iter = app(environ, starting)
        if isinstance(app_iter, (list, tuple)):
            return app_iter  # a whole body at once: small (JSON, errors)
        return _Pieces(app_iter, lambda: any(
            name.lower() == "content-length" for name, _value in headers))
    return application


class BackgroundServer:
    def __init__(self, app, host="127.0.0.1", port=0, threads=16):
        self._server = waitress.server.create_server(
            send_pieces(app), host=host, port=port, threads=threads,
            max_request_body_size=MAX_BODY, channel_timeout=300,
            recv_bytes=RECV_BYTES, outbuf_high_watermark=OUTBUF_HIGH,
            outbuf_overflow=OUTBUF_OVERFLOW,
            ident="localcloud", clear_untrusted_proxy_headers=False,
        )
        self._thread = None

    @property
    def host(self):
        return self._server.effective_host

    @property
    def port(self):
        return self._server.effective_port

    def start(self):
        self._thread = threading.Thread(target=self._server.run,
                                        name=f"localcloud-server-{self.port}",
                                        daemon=True)
        self._thread.start()
        LOG.info("Serving on %s:%s", self.host, self.port)

    def _close_all(self):
        for dispatcher in list(self._server._map.values()):
            try:
                dispatcher.close()
            except OSError:
                LOG.debug("Closing %r failed", dispatcher, exc_info=True)

    def stop(self, timeout=5.0):
        if self._thread is None:
            self._server.close()
            return
        # Workers first: once they are gone none of them wakes the loop
        # through the trigger that _close_all is about to close.
        self._server.task_dispatcher.shutdown(timeout=timeout)
        try:
            self._server.trigger.pull_trigger(self._close_all)
        except OSError:
            # The loop woke on an earlier byte and already ran _close_all,
            # closing the trigger before this wake-up byte was written.
            LOG.debug("The trigger closed before the wake-up byte was written")
        self._thread.join(timeout)
        if self._thread.is_alive():
            LOG.warning("The server loop did not end within %s s", timeout)
        self._thread = None
        LOG.info("Stopped serving on %s:%s", self.host, self.port)
