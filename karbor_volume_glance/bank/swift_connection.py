"""Talking to Swift for the Swift bank: python-swiftclient (the optional
extra ``[swift]``), imported only if it is installed; a connection per thread
(swiftclient's ``Connection`` is not thread-safe); requests whose errors
become :class:`SwiftBankError`, with every key and token scrubbed out.

Without swiftclient this module still imports; the Swift bank then refuses
to open, saying ``pip install 'karbor-volume-glance[swift]'``.
"""

import contextlib
import hashlib
import http.client
import threading
import weakref

import requests
import urllib3

from karbor_volume_glance.bank import optional
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    VolumeGlanceError,
)

try:  # the optional extra [swift]: without it, this module still imports
    from swiftclient import client as swift_client
    from swiftclient import exceptions as swift_exceptions

    _ClientException = swift_exceptions.ClientException
    _IMPORT_ERROR = None
    # swiftclient's request log shows the first 16 characters of tokens and
    # keys by default; show none. (A process-wide setting: it only ever
    # hides more.)
    swift_client.logger_settings["reveal_sensitive_prefix"] = 0
except ImportError as exc:  # pragma: no cover - the [swift] extra is installed
    swift_client = swift_exceptions = None
    _ClientException = optional.Missing
    _IMPORT_ERROR = exc


def require_swiftclient():
    """BankError saying what to install, unless swiftclient is there."""
    if swift_client is None:
        raise optional.missing("Swift", "python-swiftclient", "swift",
                               _IMPORT_ERROR)


class SwiftBankError(BankError):
    """A Swift request of the bank failed.

    ``operation`` is what the bank was doing (``read``, ``write`` …),
    ``container`` the container, ``key`` the bank key (or listing prefix) and
    ``http_status`` Swift's answer (``None`` when none came).
    """

    def __init__(self, message, key=None, operation=None, container=None,
                 http_status=None):
        self.operation = operation
        self.container = container
        self.http_status = http_status
        super().__init__(message, key=key)


def md5(data):
    """The hex MD5 of ``data``, as Swift's ETags carry it."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def is_cut_off(exc):
    """Whether ``exc`` says a response body ended before its length."""
    return isinstance(exc, (http.client.IncompleteRead,
                            urllib3.exceptions.ProtocolError,
                            requests.exceptions.ChunkedEncodingError))


def normalize_etag(etag):
    """An ETag without quotes, in lower case."""
    return (etag or "").strip().strip('"').lower()


class Connections:
    """Connections to Swift and requests through them.

    ``connection`` is a swiftclient ``Connection`` shared under a lock, or a
    callable returning a new one for each thread; without it each thread
    makes ``swiftclient.client.Connection(**options)``. ``key`` is a secret
    to scrub from messages besides the connections' own tokens.
    """

    def __init__(self, connection=None, options=None, key=None):
        self._shared = None
        self._factory = None
        self._shared_lock = threading.RLock()
        if connection is not None:
            if callable(connection) and not hasattr(connection, "get_object"):
                self._factory = connection
            else:
                self._shared = connection
        else:
            require_swiftclient()
        self._options = options
        self._key = key
        self.local = threading.local()
        self._connections = weakref.WeakSet()
        self._connections_lock = threading.Lock()

    def close(self):
        """Close every connection opened here (they are opened again as needed)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()

    @contextlib.contextmanager
    def _connection(self):
        if self._shared is not None:
            with self._shared_lock:
                yield self._shared
            return
        connection = getattr(self.local, "connection", None)
        if connection is None:
            if self._factory is not None:
                connection = self._factory()
            else:
                connection = swift_client.Connection(**self._options)
            self.local.connection = connection
            with self._connections_lock:
                self._connections.add(connection)
        yield connection

    def scrub(self, text):
        """``text`` without the key or any token these connections know."""
        secrets = {self._key} if self._key else set()
        with self._connections_lock:
            connections = list(self._connections)
        if self._shared is not None:
            connections.append(self._shared)
        for connection in connections:
            for attribute in ("key", "token", "service_token"):
                value = getattr(connection, attribute, None)
                if isinstance(value, str) and value:
                    secrets.add(value)
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text

    def error(self, operation, key, container, exc, what="object"):
        status = getattr(exc, "http_status", None)
        if isinstance(exc, _ClientException) and status:
            reason = getattr(exc, "http_reason", "") or ""
            answer = f"HTTP {status} {reason}".rstrip()
            transaction = getattr(exc, "transaction_id", None)
            if transaction:
                answer += f", transaction {transaction}"
            if status in (401, 403):
                detail = f"access refused ({answer}); check the credentials"
            elif status == 404:
                detail = f"not found ({answer}); does the container exist?"
            elif status == 409 and operation == "read":
                detail = (f"conflict ({answer}); a segment of this large object "
                          "is missing")
            elif status == 422:
                detail = (f"the upload arrived damaged ({answer}): the data did "
                          "not match its MD5")
            else:
                detail = answer
        else:
            message = getattr(exc, "msg", None) or str(exc)
            detail = f"{type(exc).__name__}: {message}"
        if key is None:
            where = f"container {container!r}"
        else:
            where = f"{what} {key!r} in container {container!r}"
        return SwiftBankError(
            self.scrub(f"Swift bank could not {operation} {where}: {detail}"),
            key=key, operation=operation, container=container, http_status=status,
        )

    def request(self, operation, key, container, method, *args, missing="error",
                 what="object", **kwargs):
        """``Connection.<method>(*args, **kwargs)`` with errors translated.

        On HTTP 404, ``missing`` says what happens: ``"raise"`` raises
        BankObjectNotFound(key), ``"none"`` returns None, ``"error"`` raises
        SwiftBankError like any other failure.
        """
        try:
            with self._connection() as connection:
                return getattr(connection, method)(*args, **kwargs)
        except _ClientException as exc:
            if exc.http_status == 404 and missing == "raise":
                raise BankObjectNotFound(key) from None
            if exc.http_status == 404 and missing == "none":
                return None
            raise self.error(operation, key, container, exc, what) from exc
        except VolumeGlanceError:
            raise
        except Exception as exc:  # requests, sockets, keystoneauth …
            raise self.error(operation, key, container, exc, what) from exc
