"""Progress of several volumes at once, reported one call at a time.

The operations call ``progress(volume_id, done, total)`` from the engine's
worker threads; :class:`Serialized` hands those calls to a reporter that
expects one caller at a time (the CLI's ProgressBars keep a dict of bars)
under a lock.
"""

import threading


class Serialized:
    """``progress(volume_id, done, total)`` calls passed on under a lock."""

    def __init__(self, progress):
        self._progress = progress
        self._lock = threading.Lock()

    def __call__(self, volume_id, done, total):
        with self._lock:
            self._progress(volume_id, done, total)

    def close(self):
        close = getattr(self._progress, "close", None)
        if close is not None:
            with self._lock:
                close()


def serialized(progress):
    """``progress`` made safe for worker threads (None stays None)."""
    if progress is None or isinstance(progress, Serialized):
        return progress
    return Serialized(progress)
