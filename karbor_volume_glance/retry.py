"""Retrying a bank call that failed for a passing reason, with backoff.

:func:`bank_call` calls one bank method (``update_object``, ``get_object``,
``delete_object`` …) and, if it raises a transient error, calls it again after
a pause that starts at :data:`FIRST_WAIT` seconds and doubles up to
:data:`MAX_WAIT`, at most ``retries`` more times (the ``bank_retries``
option). After the last try the last error is raised unchanged, so callers
catch exactly what the bank raises. Each retry is logged at WARNING, saying
``what`` was being done and which attempt failed::

    data = retry.bank_call(section.get_object, key, retries=settings.bank_retries,
                           what=f"reading {key} of volume {volume_id}")

Transient (see :func:`is_transient`): a :class:`~.exceptions.BankError`
(a backend that could not read or write) and ``OSError``, which includes the
builtin ``ConnectionError`` and requests' errors. Never retried, because
trying again gives the same answer: a missing object, an invalid key, a
read-only section, an unknown backend, and corrupted data.

The call must be safe to repeat (a whole ``update_object`` is; a generator
that was half consumed is not).
"""

import time

import tenacity
from oslo_log import log as logging

from karbor_volume_glance import exceptions

LOG = logging.getLogger(__name__)

#: Seconds before the first retry; each further one waits twice as long.
FIRST_WAIT = 0.05
#: The longest pause between two tries, in seconds.
MAX_WAIT = 2.0

TRANSIENT_ERRORS = (exceptions.BankError, OSError)
PERMANENT_ERRORS = (
    exceptions.BankObjectNotFound,
    exceptions.InvalidBankKey,
    exceptions.BankReadOnly,
    exceptions.UnknownBankBackend,
    exceptions.ChunkIntegrityError,
)


def is_transient(error):
    """Whether trying again might succeed where ``error`` was raised."""
    return isinstance(error, TRANSIENT_ERRORS) and not isinstance(
        error, PERMANENT_ERRORS
    )


def bank_call(func, *args, retries, what, first_wait=FIRST_WAIT,
              max_wait=MAX_WAIT, sleep=time.sleep, **kwargs):
    """``func(*args, **kwargs)``, retried up to ``retries`` times on transient errors.

    ``what`` says what the call does, for the log ("writing data_7 of volume
    X"). ``first_wait``, ``max_wait`` and ``sleep`` shape the pauses (tests
    make them tiny or record them); the other keyword arguments go to
    ``func``. Returns what ``func`` returns; raises its last error unchanged.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(retries + 1),
        wait=tenacity.wait_exponential(multiplier=first_wait, max=max_wait),
        before_sleep=_log_retry(what, retries + 1),
        sleep=sleep,
        reraise=True,
    )
    return retrying(func, *args, **kwargs)


def _log_retry(what, attempts):
    def log(retry_state):
        error = retry_state.outcome.exception()
        LOG.warning(
            "%(what)s failed (attempt %(attempt)d of %(attempts)d): "
            "%(error)s: %(cause)s; trying again in %(pause).2f s",
            {"what": what, "attempt": retry_state.attempt_number,
             "attempts": attempts, "error": type(error).__name__,
             "cause": error, "pause": retry_state.next_action.sleep},
        )

    return log
