"""The bank retries by itself: one tenacity policy around every bank call.

:func:`retrying` wraps a bank or a bank section -- ours, or a Karbor
``Bank``/``BankSection`` handed to the plugin (duck-typed: ``get_object``,
``update_object``, ``delete_object``, ``list_objects``, ``get_sub_section``)
-- so that each of those calls is retried on a transient error, with
exponential backoff, at most ``retries`` more times (the ``bank_retries``
option). Sections reached from a wrapped one (``get_sub_section``, and
:mod:`.compat`'s ``section_at``, which goes through the wrapped ``bank``) are
wrapped too, with the same policy, so the policy is applied once, where the
plugin receives its section, and no call site retries::

    section = retrying.retrying(section, retries=settings.bank_retries)

Transient (:func:`is_transient`): a :class:`~.exceptions.BankError` (a
backend that could not read, write or list, e.g. an S3 or Swift request that
failed after the client's own retries) and ``OSError`` (a disk error, the
builtin ``ConnectionError``/``TimeoutError``, requests' errors); also an
error that wraps one of these as its ``__cause__`` or ``__context__`` (Karbor's
``Bank*Failed`` raised over our backend or a connection error). Never
retried, because trying again gives the same answer: a missing object, an
invalid key, a read-only section, an unknown backend, corrupted data, an
object store's refusal that no retry changes (an S3 error code or Swift HTTP
status in :data:`PERMANENT_CODES`/:data:`PERMANENT_HTTP_STATUSES`: refused
credentials, a missing bucket or container), and anything else (a bug,
Karbor's not-found).

Every wrapped call is safe to repeat: a whole ``update_object`` replaces the
value atomically, a delete of an object that a failed try already removed
raises not-found (which :func:`.compat.delete_if_present` forgives), a
``create_object`` whose failed try did create the object answers False (so
its callers read back what won, :func:`.compat.create_if_absent`), a read
into buffers fills them again from their start, and
listings and reads have no effect. After the last try the last error is
raised unchanged, so callers catch exactly what the bank raises. Each retry
is logged at WARNING, saying which call on which key failed and how.
"""

import functools
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
#: Answers of an object store that trying again does not change: refused
#: credentials or access, a missing bucket or container, a bad request.
PERMANENT_HTTP_STATUSES = frozenset({400, 401, 403, 404, 405, 411, 413, 416})
PERMANENT_CODES = frozenset({
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "InvalidBucketName",
    "InvalidRequest", "NoSuchBucket", "NoCredentialsError",
    "PartialCredentialsError", "SignatureDoesNotMatch",
})
#: The bank methods that are retried; the others pass straight through.
RETRIED_METHODS = ("get_object", "update_object", "delete_object",
                   "list_objects", "get_owner_id", "create_object",
                   "get_object_into")
#: How deep :func:`is_transient` follows ``__cause__``/``__context__``.
_CHAIN_DEPTH = 4


def is_transient(error):
    """Whether trying again might succeed where ``error`` was raised."""
    for _ in range(_CHAIN_DEPTH):
        if error is None or isinstance(error, PERMANENT_ERRORS) or (
                getattr(error, "code", None) in PERMANENT_CODES) or (
                getattr(error, "http_status", None) in PERMANENT_HTTP_STATUSES):
            return False
        if isinstance(error, TRANSIENT_ERRORS):
            return True
        error = error.__cause__ or error.__context__
    return False


class Policy:
    """How bank calls are retried: ``retries`` more tries on a transient
    error, waiting ``first_wait`` seconds, doubling up to ``max_wait``.
    ``sleep`` is how to wait (tests record it); ``logger`` logs each retry."""

    def __init__(self, retries, first_wait=FIRST_WAIT, max_wait=MAX_WAIT,
                 sleep=time.sleep, logger=None):
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        self.retries = retries
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.sleep = sleep
        self.logger = logger or LOG

    @classmethod
    def from_settings(cls, settings, **kwargs):
        """The policy of the plugin's ``bank_retries`` setting."""
        return cls(settings.bank_retries, **kwargs)

    def call(self, func, *args, what=None, **kwargs):
        """``func(*args, **kwargs)``, retried; its last error raised unchanged."""
        attempts = self.retries + 1
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_transient),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.first_wait,
                                           max=self.max_wait),
            before_sleep=_log_retry(self.logger, what or getattr(
                func, "__name__", "a bank call"), attempts),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(func, *args, **kwargs)


def _log_retry(logger, what, attempts):
    def log(retry_state):
        error = retry_state.outcome.exception()
        logger.warning(
            "%(what)s failed (attempt %(attempt)d of %(attempts)d): "
            "%(error)s: %(cause)s; trying again in %(pause).2f s",
            {"what": what, "attempt": retry_state.attempt_number,
             "attempts": attempts, "error": type(error).__name__,
             "cause": error, "pause": retry_state.next_action.sleep},
        )

    return log


class Retrying:
    """A bank or bank section whose calls are retried by ``policy``.

    Every attribute not retried is the wrapped object's, so a wrapped section
    still looks like the section it wraps (``prefix``, ``is_writable`` …).
    """

    def __init__(self, target, policy):
        self._target = target
        self._policy = policy

    @property
    def wrapped(self):
        """The bank or section this one retries the calls of."""
        return self._target

    @property
    def policy(self):
        return self._policy

    def __repr__(self):
        return f"Retrying({self._target!r}, retries={self._policy.retries})"

    def __getattr__(self, name):
        if name in ("_target", "_policy") or name.startswith("__"):
            raise AttributeError(name)  # not set up yet (copy, pickle)
        value = getattr(self._target, name)
        if name in RETRIED_METHODS and callable(value):
            return self._retried(name, value)
        return value

    def _retried(self, name, method):
        @functools.wraps(method)
        def call(*args, **kwargs):
            subject = args[0] if args else kwargs.get("key", kwargs.get("prefix"))
            what = f"{name} {subject!r}" if subject is not None else name
            return self._policy.call(method, *args, what=what, **kwargs)
        call.retried_by = self._policy
        return call

    def get_sub_section(self, *args, **kwargs):
        """The wrapped object's sub-section, retried by the same policy."""
        return Retrying(self._target.get_sub_section(*args, **kwargs),
                        self._policy)

    @property
    def bank(self):
        """The bank of a wrapped section (ours: ``bank``; Karbor's: ``_bank``),
        retried by the same policy."""
        bank = getattr(self._target, "bank", None)
        if bank is None:
            bank = getattr(self._target, "_bank", None)
        return None if bank is None else Retrying(bank, self._policy)


def retrying(target, retries=None, policy=None):
    """``target`` (a bank or section) with its calls retried.

    Give ``retries`` (the ``bank_retries`` setting) or a ready ``policy``.
    Wrapping an already wrapped object re-wraps what it wraps, so a policy is
    never applied twice.
    """
    if policy is None:
        policy = Policy(retries)
    return Retrying(unwrap(target), policy)


def unwrap(target):
    """What ``target`` retries the calls of, or ``target`` if it is not wrapped."""
    while isinstance(target, Retrying):
        target = target.wrapped
    return target


def is_retrying(target):
    """Whether ``target``'s calls are already retried."""
    return isinstance(target, Retrying)
