"""Background work: status changes that take time, and byte copies.

A request that starts something slow (creating a volume, uploading it to an
image, attaching it) answers at once and leaves the rest to a job running in
its own daemon thread. Jobs wait with :meth:`Jobs.sleep` and check
:meth:`Jobs.check` between pieces of a copy, so :meth:`Jobs.stop` ends them
promptly.
"""

import contextlib
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class Stopped(Exception):
    """The cloud is stopping: the job gives up quietly."""


class Jobs:
    def __init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = set()

    @property
    def stopping(self):
        return self._stop.is_set()

    def check(self):
        if self._stop.is_set():
            raise Stopped()

    def sleep(self, seconds):
        """Wait ``seconds``, or raise Stopped as soon as the cloud stops."""
        if seconds > 0 and self._stop.wait(seconds):
            raise Stopped()
        self.check()

    def pause(self, seconds):
        """Wait ``seconds`` (for a request thread), less if the cloud stops."""
        if seconds > 0:
            self._stop.wait(seconds)

    @contextlib.contextmanager
    def at_least(self, seconds):
        """The block, then whatever is left of ``seconds`` since it started."""
        start = time.monotonic()
        yield
        self.sleep(seconds - (time.monotonic() - start))

    def spawn(self, name, function, *args, on_failure=None):
        """Run ``function(*args)`` in a daemon thread.

        ``on_failure(exc)`` is called (in that thread) if it raises anything
        but Stopped, so the resource can end in its failure status.
        """
        thread = threading.Thread(
            target=self._run, args=(name, function, args, on_failure),
            name=f"localcloud-{name}", daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _run(self, name, function, args, on_failure):
        try:
            function(*args)
        except Stopped:
            LOG.debug("Job %s stopped with the cloud", name)
        except Exception as exc:
            LOG.exception("Job %s failed", name)
            if on_failure is not None:
                try:
                    on_failure(exc)
                except Exception:
                    LOG.exception("Job %s: recording the failure failed", name)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def stop(self, timeout=5.0):
        """Ask every job to stop and wait for them (at most ``timeout``)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
