"""Serve a WSGI application with waitress in a background thread.

waitress is threaded (slow requests do not hold others up) and decodes the
chunked request bodies glanceclient's uploads send. Port 0 takes a free
port; :attr:`BackgroundServer.port` says which. :meth:`BackgroundServer.stop`
ends the worker threads, then closes every socket from inside waitress's own
loop (through its trigger), so the loop ends.
"""

import threading

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


class BackgroundServer:
    def __init__(self, app, host="127.0.0.1", port=0, threads=16):
        self._server = waitress.server.create_server(
            app, host=host, port=port, threads=threads,
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
