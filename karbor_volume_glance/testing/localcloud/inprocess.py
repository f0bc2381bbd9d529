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
import sys
import urllib.parse

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


def _environ_key(name):
    """The WSGI environ key of an HTTP header (PEP 3333)."""
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return key
    return "HTTP_" + key


def _environ(method, url, wsgi_input):
    """A WSGI environ for ``method url``, as :meth:`webob.Request.blank` makes it."""
    scheme, netloc, path, query, _ = urllib.parse.urlsplit(url)
    host, _, port = netloc.partition(":")
    port = port or ("443" if scheme == "https" else "80")
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "HTTP_HOST": f"{host}:{port}",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": wsgi_input,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "webob.is_body_readable": True,
    }


def _complete(app_iter, headerlist):
    """Whether the answer is a list of bytes already whole (a JSON document,
    not a stream the application produces as it is read): a client that
    asked to stream it loses nothing when it is handed over read."""
    if not isinstance(app_iter, list):
        return False
    length = next((value for name, value in headerlist
                   if name.lower() == "content-length"), None)
    return length is None or length == str(sum(map(len, app_iter)))


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


class _Drained:
    """``Response.raw`` of an answer read in full: nothing more to read."""

    version = 11

    def __init__(self, status, reason, headers):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.closed = True

    def read(self, amt=None, decode_content=None):
        return b""

    def stream(self, amt=2**16, decode_content=None):
        return iter(())

    def close(self):
        """Nothing to close."""

    def release_conn(self):
        """No connection to release."""


class WSGIAdapter(requests.adapters.HTTPAdapter):
    """Send requests to a WSGI application instead of over the network."""

    def __init__(self, app):
        super().__init__()
        self.app = app

    def send(self, request, stream=False, timeout=None, verify=True, cert=None,
             proxies=None):
        wsgi_input, length = _request_body(request.body)
        environ = _environ(request.method, request.url, wsgi_input)
        for name, value in request.headers.items():
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            environ[_environ_key(name)] = value
        if length is not None:
            environ["CONTENT_LENGTH"] = str(length)
        elif "Content-Length" not in request.headers:
            environ.pop("CONTENT_LENGTH", None)
        status, headerlist, app_iter = webob.Request(environ).call_application(
            self.app)
        status_code, _, reason = status.partition(" ")
        if not stream or _complete(app_iter, headerlist):
            return self._read_response(request, int(status_code), reason,
                                       headerlist, app_iter)
        body = io.BufferedReader(_IterableReader(app_iter), 65536)
        raw = _Response(
            body=body, headers=headerlist,
            status=int(status_code), reason=reason,
            preload_content=False, decode_content=False,
            enforce_content_length=True, request_method=request.method,
            request_url=request.url,
        )
        return self.build_response(request, raw)

    def _read_response(self, request, status, reason, headerlist, app_iter):
        """The whole answer read now, as requests reads one when not streaming
        (or as a client streaming an answer already whole reads it).

        What :meth:`build_response` and ``Response.content`` make of it over
        urllib3, at a fraction of the cost: headers (repeated ones joined as
        urllib3 joins them), the body, and :class:`DroppedConnection` when
        the body is shorter than its ``Content-Length``.
        """
        try:
            content = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        headers = requests.structures.CaseInsensitiveDict()
        for name, value in headerlist:
            headers[name] = (f"{headers[name]}, {value}" if name in headers
                             else value)
        response = requests.Response()
        response.status_code = status
        response.reason = reason
        response.headers = headers
        response.encoding = requests.utils.get_encoding_from_headers(headers)
        response.url = request.url
        response.request = request
        response.connection = self
        response.raw = _Drained(status, reason, headers)
        response._content = content
        response._content_consumed = True
        expected = headers.get("Content-Length")
        if (expected is not None and expected.isdigit()
                and len(content) != int(expected) and request.method != "HEAD"
                and status not in (204, 304) and not 100 <= status < 200):
            raise DroppedConnection(
                f"Connection broken: the answer stopped after {len(content)} "
                f"of {expected} bytes", response=response)
        return response

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
        if (params or files or auth or cookies or hooks or json is not None
                or not isinstance(data, str | bytes | None)):
            prepared = requests.Request(
                method=method.upper(), url=url, headers=headers, files=files,
                data=data or {}, json=json, params=params or {}, auth=auth,
            ).prepare()
        else:
            prepared = _prepared(method.upper(), url, headers, data)
        return self.adapter.send(prepared, stream=bool(stream))


def _prepared(method, url, headers, body):
    """What ``requests.Request(...).prepare()`` makes of a request whose
    body is bytes, a string or nothing, and which has no parameters, files,
    authentication, cookies or hooks: the clients' every request but an
    upload. Preparing it in full costs more than the application's answer.
    """
    prepared = requests.PreparedRequest()
    prepared.method = method
    prepared.url = requests.utils.requote_uri(url)
    prepared.headers = requests.structures.CaseInsensitiveDict(headers or {})
    prepared.body = body or None
    prepared.hooks = requests.hooks.default_hooks()
    if prepared.body is not None:
        encoded = body.encode("utf-8") if isinstance(body, str) else body
        prepared.headers["Content-Length"] = str(len(encoded))
    elif (method not in ("GET", "HEAD")
          and prepared.headers.get("Content-Length") is None):
        prepared.headers["Content-Length"] = "0"
    return prepared

