"""A requests transport adapter that calls a WSGI application in process.

Mounted on a :class:`requests.Session` (``session.mount(base_url,
WSGIAdapter(app))``) it hands each request to ``app`` through WebOb, with no
socket: the real python-cinderclient, glanceclient and novaclient then talk
to the local cloud's application inside the test process. Bodies stream both
ways: an iterable or file-like request body is read by the application as it
reads ``wsgi.input``, and the response's ``app_iter`` is read as the client
reads the response. A response that ends before its ``Content-Length`` raises
what urllib3 raises for a connection broken mid-body (requests turns it into
``ChunkedEncodingError``).
"""

import io

import requests.adapters
import urllib3
import webob


class _IterableReader(io.RawIOBase):
    """A readable stream over an iterable of bytes (a request or response body)."""

    def __init__(self, pieces):
        self._pieces = iter(pieces)
        self._buffer = memoryview(b"")
        self._source = pieces

    def readable(self):
        return True

    def readinto(self, target):
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._pieces)).cast("B")
            except StopIteration:
                return 0
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def close(self):
        close = getattr(self._source, "close", None)
        if close is not None and not self.closed:
            close()
        super().close()


def _request_body(body):
    """``(wsgi.input, Content-Length or None)`` for a prepared request's body."""
    if body is None:
        return io.BytesIO(b""), 0
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(body)), len(body)
    if hasattr(body, "read"):
        return body, None
    return io.BufferedReader(_IterableReader(body)), None


class DroppedConnection(requests.exceptions.ChunkedEncodingError):
    """The application's answer ended before its Content-Length: in process,
    this is how a dropped connection shows (an OSError, as over a socket)."""


class _Response(urllib3.HTTPResponse):
    """Hands out what has arrived, as a socket does, not a full ``amt``.

    urllib3 fills each ``read(amt)`` before returning it, and loses what it
    holds when the body then breaks off; glanceclient streams in 1 MiB
    reads. Reading with ``read1`` gives each piece the application sent as
    soon as it is there, so a drop loses nothing that came before it.
    """

    def stream(self, amt=2**16, decode_content=None):
        while True:
            try:
                data = self.read1(amt, decode_content=decode_content)
            except urllib3.exceptions.ProtocolError as exc:
                read = self._fp_bytes_read
                raise DroppedConnection(
                    f"Connection broken: the answer stopped after {read} of "
                    f"{read + (self.length_remaining or 0)} bytes",
                    response=self) from exc
            if not data:
                return
            yield data


class WSGIAdapter(requests.adapters.HTTPAdapter):
    """Send requests to a WSGI application instead of over the network."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def send(self, request, stream=False, timeout=None, verify=True, cert=None,
             proxies=None):
        wsgi_input, length = _request_body(request.body)
        environ = {"wsgi.input": wsgi_input, "wsgi.input_terminated": True,
                   "webob.is_body_readable": True}
        wsgi_request = webob.Request.blank(request.url, environ,
                                           method=request.method)
        for name, value in request.headers.items():
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            wsgi_request.headers[name] = value
        if length is not None:
            wsgi_request.content_length = length
        elif "Content-Length" not in request.headers:
            wsgi_request.content_length = None
        response = wsgi_request.get_response(self.app)
        body = io.BufferedReader(_IterableReader(response.app_iter), 65536)
        raw = _Response(
            body=body, headers=list(response.headerlist),
            status=response.status_code, reason=response.status.partition(" ")[2],
            preload_content=False, decode_content=False,
            enforce_content_length=True, request_method=request.method,
            request_url=request.url,
        )
        built = self.build_response(request, raw)
        if not stream:
            built.content  # noqa: B018 - read it now, as requests does
        return built

    def close(self):
        """Nothing to close: there are no connections."""


class InProcessSession(requests.Session):
    """A requests Session whose every request goes to ``app``, in process.

    Nothing of the environment applies (no proxies, no netrc) and no cookies
    are kept: requests only prepares each request and hands it to a
    :class:`WSGIAdapter`. keystoneauth1 takes it as its ``session``.
    """

    def __init__(self, app):
        super().__init__()
        self.trust_env = False
        self.adapter = WSGIAdapter(app)

    def request(self, method, url, params=None, data=None, headers=None,
                cookies=None, files=None, auth=None, timeout=None,
                allow_redirects=True, proxies=None, hooks=None, stream=None,
                verify=None, cert=None, json=None):
        prepared = requests.Request(
            method=method.upper(), url=url, headers=headers, files=files,
            data=data or {}, json=json, params=params or {}, auth=auth,
        ).prepare()
        return self.adapter.send(prepared, stream=bool(stream))

