"""When a progress notification is worth sending.

Every ``every_chunks`` chunks, or on the first chunk after ``interval``
seconds without one; never twice for one chunk, never going back, and once
at 100 % when the last byte is done. Percent is of bytes, not of chunks (a
backup's zero chunks and its last, short chunk weigh what they hold).
"""

import threading
import time


class ProgressThrottle:
    """Calls ``send(done, total, percent)`` when progress is worth telling."""

    def __init__(self, send, every_chunks=10, interval=120.0, clock=time.monotonic):
        self._send = send
        self._every = every_chunks
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._chunks = 0
        self._last_time = clock()
        self._last_done = -1
        self._finished = False

    def chunk_done(self, done, total):
        """One more chunk is done: ``done`` of ``total`` bytes (total may be None)."""
        with self._lock:
            if self._finished or done <= self._last_done:
                return
            self._chunks += 1
            now = self._clock()
            last = total is not None and done >= total
            if not (last or self._chunks >= self._every
                    or now - self._last_time >= self._interval):
                return
            self._chunks, self._last_time, self._last_done = 0, now, done
            self._finished = last
        self._send(done, total, percent(done, total))

    def finish(self, total):
        """The operation's data is all done: 100 %, unless already said."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            done = total if total is not None else max(self._last_done, 0)
        self._send(done, total if total is not None else done, 100.0)


def percent(done, total):
    if not total:
        return None
    return round(min(100.0, 100.0 * done / total), 2)
