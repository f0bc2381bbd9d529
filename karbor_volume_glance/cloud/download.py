"""Image downloads from Glance that survive a dropped connection.

:func:`resumable_download` hands out the bytes of an image download as they
come and counts them. When the connection breaks off (a transport failure,
see :data:`TRANSPORT_ERRORS`) it asks Glance for the rest with an HTTP
``Range: bytes=<offset>-`` request made with the glance client's own
``http_client`` (the same session, token and endpoint as the ``images``
controller; see :func:`range_request` for why not its ``get``), asked for
only then, and goes on
from there: no byte is handed out twice and none is skipped. A download is
resumed at most ``retries`` times, with a short growing pause before each
try; then it fails with :class:`DownloadInterrupted`, naming the image, the
byte reached and the cause. Anything else (HTTP 404, 403, 5xx …) is not retried.

The answer to a resume must be ``206 Partial Content`` with a
``Content-Range`` that starts at the offset. A ``200`` means the server (or a
proxy) ignored the ``Range``: the whole image comes again, and its first
``offset`` bytes are read and dropped before handing out more. That costs
the bytes already fetched once more, but it is correct and works with any
server; the caller's checksum covers the result either way. Any other answer
fails the download.

:func:`parallel_download` reads an image with several concurrent Range
requests (``download_streams``): the image is cut into ranges of
``range_size`` bytes (:func:`split_ranges`), at most ``streams`` of them are
fetched at once, each by a worker thread into memory, and they are handed
out in order; each range is resumed on its own as above, with its own
``retries``. The first range is read from the answer that told the image's
length; the second range's request is made first and alone: a ``200`` to it
means Glance ignores ``Range``, and the download goes on as one stream
(said at INFO). At most ``streams + 1`` ranges are in memory at once (those
being fetched, and the one being handed out), in blocks: with blocks of
several ranges, up to one block more; plus those the consumer still holds.

A parallel download hands the image out in blocks (``block_size``: a
protect asks for its chunk size, so that each block is a chunk, stored
uncopied; one range by default), each a ``bytearray`` read into by its
ranges and reused for a later block once nothing else refers to it (the
interpreter's reference count, as :class:`~karbor_volume_glance.datapath.
BufferPool` checks it): a consumer that keeps a block (or a view of it)
keeps it intact, and costs a new buffer. The bytes land there once: an
answer is read with the standard library's
:meth:`http.client.HTTPResponse.readinto` (the socket's ``recv_into``, TLS
too), 1 MiB at a time, below requests and urllib3, whose
own reads copy each piece two or three times (urllib3 2's ``readinto`` is a
``read`` and a copy). That is done only where nothing is lost by it
(:func:`_direct_source`): a ``206`` whose ``Content-Length`` is the range's
length, no ``Content-Encoding``, not chunked, nothing read yet; any other
answer (and the first range, read from glanceclient's answer) is read
through requests as before and copied into the buffer. An answer longer
than its range fails the download; a shorter one is a break, resumed.
Once the range is whole the connection goes back to urllib3's pool
(``release_conn``, as urllib3 does at the end of a body); an answer not read
to its end closes its connection.
"""

import collections
import http.client
import re
import sys
import threading
import time
from concurrent import futures

import urllib3
from glanceclient import exc as glance_exc
from glanceclient.common import http as glance_http
from keystoneauth1 import adapter as ksa_adapter
from keystoneauth1 import exceptions as ksa_exc
from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.datapath import buffers as pool

LOG = logging.getLogger(__name__)

#: Errors that mean "the connection failed", not "Glance said no". OSError
#: covers requests' ChunkedEncodingError, ConnectionError and Timeout, the
#: builtin ConnectionError and socket errors.
TRANSPORT_ERRORS = (
    OSError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    http.client.IncompleteRead,
    glance_exc.CommunicationError,
    glance_exc.InvalidEndpoint,  # what glanceclient makes of a connect timeout
    ksa_exc.ConnectionError,
)

#: The bytes of one Range request of a parallel download (16 MiB): large
#: enough that a request's own cost is small beside its transfer, small
#: enough that ``download_streams + 1`` of them in memory are little. A
#: request costs about 3 ms of the client's CPU (keystoneauth's endpoint
#: lookup, requests' proxy settings, the HTTP exchange) and about as much of
#: the local Glance's: at 8 MiB that was about 1 ms per MiB of the two
#: together, at 16 MiB half of it (issue 16's measurements, doc/testing.rst).
RANGE_SIZE = 16 * 1024 * 1024

#: The most bytes one read of a range asks for (1 MiB, glanceclient's
#: piece size): a break loses at most this much of what was read, and a
#: cancellation is seen between two reads.
READ_SIZE = glance_http.CHUNKSIZE

#: The longest pause, in seconds, before a resume (they start at a tenth).
MAX_PAUSE = 2.0

PARTIAL_CONTENT = 206
OK = 200
_CONTENT_RANGE = re.compile(r"^bytes (?P<start>\d+)-(?P<end>\d+)/(?P<total>\d+|\*)$")


class DownloadInterrupted(exceptions.CloudError):
    """An image download broke off and could not be resumed (often enough)."""

    def __init__(self, image_id, offset, resumes, cause):
        self.offset = offset
        self.resumes = resumes
        self.cause = cause
        super().__init__(
            f"downloading image {image_id} failed at byte {offset} after "
            f"{resumes} resume(s): {type(cause).__name__}: {cause}",
            kind="image",
            resource_id=image_id,
        )


class ShortDownload(OSError):
    """The server ended an answer before the length it promised."""


def data_url(image_id):
    """The path of an image's data, relative to the Image service endpoint."""
    return f"/v2/images/{image_id}/file"


def resumable_download(http_client_of, image_id, body, *, retries, pauses,
                       sleep=time.sleep):
    """Yield the bytes of ``body``, resuming from where it broke off.

    ``body`` is what ``images.data(image_id)`` returned (its ``len()`` is the
    promised Content-Length, 0 if unknown); ``http_client_of()`` gives the
    glance client's ``http_client``, asked for only when a resume is needed;
    ``pauses`` an iterator of seconds to sleep before each resume (e.g.
    :func:`.polling.intervals`).
    """
    total = _length(body)
    resumer = _Resumer(http_client_of, image_id, total, retries, pauses, sleep)
    return _resumed(resumer, iter(body))


def _resumed(resumer, pieces, cancelled=None):
    """The bytes of ``resumer``'s range from ``pieces`` on (None: not yet
    asked for), resuming where they break off; ``cancelled`` (an Event)
    stops it between two pieces."""
    try:
        if pieces is None:
            pieces = resumer.open()
        while True:
            if cancelled is not None and cancelled.is_set():
                raise _Cancelled()
            try:
                piece = next(pieces)
            except StopIteration:
                if resumer.complete():
                    return
                cause = ShortDownload(
                    f"the answer ended at byte {resumer.offset} of "
                    f"{resumer.end}")
            except TRANSPORT_ERRORS as exc:
                cause = exc
            else:
                if piece:
                    room = resumer.room()
                    if room is not None and len(piece) >= room:
                        resumer.offset += room
                        yield piece[:room] if room < len(piece) else piece
                        return  # the range is whole (a longer answer is cut)
                    resumer.offset += len(piece)
                    yield piece
                continue
            _close(pieces)
            pieces = resumer.resume(cause)
    finally:
        _close(pieces)


class _Cancelled(Exception):
    """The consumer of a parallel download went away."""


class _Resumer:
    """Where a download of the bytes ``[start, end)`` is, and how to get the
    rest of it after a failure (``end`` None: to the image's end)."""

    def __init__(self, http_client_of, image_id, total, retries, pauses, sleep,
                 start=0, end=None):
        self.http_client_of = http_client_of
        self.image_id = image_id
        self.total = total
        self.end = total if end is None else end
        self.retries = retries
        self.pauses = pauses
        self.sleep = sleep
        self.offset = start
        self.resumes = 0

    def complete(self):
        """Whether every promised byte arrived (unknown length: trust the end)."""
        return self.end is None or self.offset >= self.end

    def room(self):
        """Bytes still missing, None when the length is unknown."""
        return None if self.end is None else self.end - self.offset

    def open(self):
        """The first request of the range; a transport failure is resumed."""
        try:
            return self._request()
        except TRANSPORT_ERRORS as exc:
            return self.resume(exc)

    def _request(self):
        return request_rest(self.http_client_of(), self.image_id, self.offset,
                            self.total, self.end)

    def resume(self, cause):
        """The rest of the range after ``cause``; DownloadInterrupted when spent."""
        while True:
            if self.complete() and self.end is not None:
                return iter(())  # every byte came; only the answer's end was lost
            if self.resumes >= self.retries:
                raise DownloadInterrupted(self.image_id, self.offset,
                                          self.resumes, cause) from cause
            self.resumes += 1
            LOG.warning(
                "Download of image %(image)s broke off at byte %(offset)d "
                "(%(error)s: %(cause)s); resuming from there (%(resume)d of "
                "%(retries)d)",
                {"image": self.image_id, "offset": self.offset,
                 "error": type(cause).__name__, "cause": cause,
                 "resume": self.resumes, "retries": self.retries},
            )
            self.sleep(next(self.pauses))
            try:
                return self._request()
            except TRANSPORT_ERRORS as exc:
                cause = exc


def split_ranges(total, range_size):
    """``[(start, end), ...]``: ``[0, total)`` cut into ranges of
    ``range_size`` bytes (the last one may be shorter), in order."""
    if range_size <= 0:
        raise ValueError(f"range size must be positive, got {range_size}")
    return [(start, min(start + range_size, total))
            for start in range(0, total, range_size)]


def parallel_download(http_client_of, image_id, body, *, streams, range_size,
                      retries, pauses_of, sleep=time.sleep, block_size=None):
    """Yield the bytes of the image in order, read with up to ``streams``
    concurrent Range requests of ``range_size`` bytes each.

    ``body`` and ``http_client_of`` as for :func:`resumable_download`;
    ``pauses_of()`` gives a new iterator of pauses, one per range. One
    stream, an unknown length or an image of one range: as
    :func:`resumable_download`. A Glance that answers the first Range
    request with the whole image (200) is read in one stream.

    Otherwise the bytes come as bytearrays of ``block_size`` bytes each
    (the last one shorter; ``range_size`` when None or smaller): each is
    read by ranges of at most ``range_size`` into a buffer of its own, and
    that buffer is written again (for a later block) only once nothing but
    this generator refers to it. A consumer that cuts the image into chunks
    of ``block_size`` can take each block as a chunk, uncopied.
    """
    total = _length(body)
    ranges = split_ranges(total or 0, range_size)
    if streams <= 1 or len(ranges) <= 1:
        return resumable_download(http_client_of, image_id, body,
                                  retries=retries, pauses=pauses_of(),
                                  sleep=sleep)
    blocks = split_ranges(total, max(block_size or 0, range_size))
    spans = [(block, start, min(start + range_size, block_end))
             for block, (block_start, block_end) in enumerate(blocks)
             for start in range(block_start, block_end, range_size)]
    return _parallel(http_client_of, image_id, body, streams, blocks, spans,
                     total, retries, pauses_of, sleep)


def _parallel(http_client_of, image_id, body, streams, blocks, spans, total,
              retries, pauses_of, sleep):
    def resumer(index):
        _, start, end = spans[index]
        return _Resumer(http_client_of, image_id, total, retries, pauses_of(),
                        sleep, start, end)

    second = resumer(1)
    try:
        probe = request_rest(http_client_of(), image_id, second.offset, total,
                             second.end, whole_refused=True)
    except TRANSPORT_ERRORS as exc:
        probe = _Deferred(second, exc)
    except _WholeImage as whole:
        whole.close()
        LOG.info("Glance answered a Range request for image %(image)s with "
                 "the whole image (HTTP 200): downloading it in one stream "
                 "instead of %(streams)d", {"image": image_id,
                                            "streams": streams})
        yield from resumable_download(http_client_of, image_id, body,
                                      retries=retries, pauses=pauses_of(),
                                      sleep=sleep)
        return
    except BaseException:
        _close(body)
        raise
    LOG.debug("Downloading image %s in %d ranges, %d at a time", image_id,
              len(spans), streams)
    cancelled = threading.Event()
    openers = {0: (resumer(0), iter(body)), 1: (second, probe)}
    # the blocks' buffers: taken for a block, handed out once its ranges
    # are in, and back in the pool once nothing but ``handed`` refers to
    # them; ``filling`` holds those being read into
    buffers = pool.BufferPool(streams + 2)
    handed, filling = [], {}

    def fetch(index):
        opened = openers.pop(index, None)
        resumer_, pieces = opened if opened else (resumer(index), None)
        if isinstance(pieces, _Deferred):
            pieces = pieces.resume()
        block, start, _ = spans[index]
        # the buffer is only an argument: nothing here holds it once done
        _fill(resumer_, pieces, filling[block], start - blocks[block][0],
              cancelled)

    pending = collections.deque()
    submitted = 0
    executor = futures.ThreadPoolExecutor(
        max_workers=streams, thread_name_prefix=f"download-{image_id}")
    try:
        while submitted < len(spans) or pending:
            # the range handed out next, and up to ``streams`` after it
            while len(pending) <= streams and submitted < len(spans):
                block, _, end = spans[submitted]
                if block not in filling:
                    _reclaim(handed, buffers)
                    block_start, block_end = blocks[block]
                    filling[block] = buffers.take(block_end - block_start)
                pending.append((executor.submit(fetch, submitted), block,
                                end == blocks[block][1]))
                submitted += 1
            future, block, last = pending.popleft()
            future.result()
            if last:
                handed.append(filling.pop(block))
                yield handed[-1]
    finally:
        cancelled.set()
        for future, _, _ in pending:
            future.cancel()
        executor.shutdown(wait=True)
        for _, pieces in list(openers.values()):
            _close(pieces)


def _alone():
    """What :func:`sys.getrefcount` says of a local variable's object that
    nothing else refers to, in this interpreter (the argument may or may
    not count: CPython 3.14 can pass a local borrowed)."""
    buffer = bytearray(1)
    return sys.getrefcount(buffer)


_ALONE = _alone()


def _reclaim(handed, buffers):
    """Give the buffers of ``handed`` that nothing else refers to back to
    ``buffers``; keep the others in ``handed``."""
    held = []
    while handed:
        buffer = handed.pop()
        if sys.getrefcount(buffer) > _ALONE:  # a consumer still has it
            held.append(buffer)
        else:
            buffers.give_back(buffer)
    handed.extend(held)


def _fill(resumer, answer, buffer, at, cancelled):
    """Read ``resumer``'s range into ``buffer`` from its byte ``at`` on,
    from ``answer`` on (None: not yet asked for), resuming where it breaks
    off; ``cancelled`` (an Event) stops it between two reads."""
    start = resumer.offset - at
    reader = None
    try:
        if answer is None:
            answer = resumer.open()
        reader, answer = _reader(answer), None
        with memoryview(buffer) as view:
            while resumer.offset < resumer.end:
                if cancelled.is_set():
                    raise _Cancelled()
                position = resumer.offset - start
                # never past the range: the first range's answer is the
                # whole image's (and a 200 skipped to a resume's offset goes
                # on to its end), whose pieces need not stop where it does
                stop = min(position + READ_SIZE, resumer.end - start)
                try:
                    count = reader.readinto(view[position:stop])
                except TRANSPORT_ERRORS as exc:
                    cause = exc
                else:
                    if count:
                        resumer.offset += count
                        continue
                    cause = ShortDownload(
                        f"the answer ended at byte {resumer.offset} of "
                        f"{resumer.end}")
                broken, reader = reader, None
                _close(broken)
                reader = _reader(resumer.resume(cause))
    finally:
        _close(reader)
        _close(answer)


def _reader(answer):
    """Something with ``readinto`` and ``close`` over ``answer``."""
    return answer if isinstance(answer, _Closing) else _PieceReader(answer)


_END = object()


class _PieceReader:
    """``readinto`` over an iterator of pieces (bytes): each copied once."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.pending = memoryview(b"")

    def readinto(self, view):
        """Up to ``len(view)`` bytes into ``view``; how many, 0 at the end."""
        while not self.pending:
            piece = next(self.pieces, _END)
            if piece is _END:
                return 0
            if piece:
                self.pending = memoryview(piece).cast("B")
        count = min(len(view), len(self.pending))
        view[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count

    def close(self):
        self.pending = memoryview(b"")
        _close(self.pieces)


class _Deferred:
    """A range whose first request failed in transit: resumed in its worker."""

    def __init__(self, resumer, cause):
        self.resumer, self.cause = resumer, cause

    def resume(self):
        return self.resumer.resume(self.cause)


class _WholeImage(Exception):
    """A Range request was answered with the whole image (200)."""

    def __init__(self, response, body):
        super().__init__("HTTP 200 to a Range request")
        self.response, self.body = response, body

    def close(self):
        _close_response(self.response, self.body)


def request_rest(http_client, image_id, offset, total, end=None,
                 whole_refused=False):
    """The bytes of the image from ``offset`` on (to ``end``, exclusive, if
    given), asked for with a Range request.

    ``total`` is the image's length as the first answer gave it (None if
    unknown), to make sure the image did not change in between. A 200 (the
    whole image) is skipped to ``offset`` (the caller stops at ``end``), or,
    with ``whole_refused``, raises :class:`_WholeImage` holding the answer.
    """
    last = end - 1 if end is not None and end != total else None
    response, body = range_request(http_client, data_url(image_id), offset,
                                   last)
    status = getattr(response, "status_code", None)
    if status == PARTIAL_CONTENT:
        _check_content_range(response, body, image_id, offset, total, last)
        span = (last if last is not None else total - 1
                if total is not None else None)
        return _Closing(response, body, image_id=image_id, offset=offset,
                        length=None if span is None else span - offset + 1)
    if status == OK:
        length = _header_int(response, "Content-Length")
        if total is not None and length is not None and length != total:
            _close_response(response, body)
            raise exceptions.CloudError(
                f"image {image_id} changed during the download: it was "
                f"{total} bytes long, now {length}",
                kind="image", resource_id=image_id)
        if whole_refused:
            raise _WholeImage(response, body)
        LOG.warning(
            "Glance ignored the Range request for image %(image)s and sent "
            "the whole image: skipping the %(offset)d bytes already received",
            {"image": image_id, "offset": offset})
        return _skipped(_Closing(response, body), offset)
    _close_response(response, body)
    raise exceptions.CloudError(
        f"resuming the download of image {image_id} at byte {offset}: "
        f"Glance answered HTTP {status}, expected 206 Partial Content",
        kind="image", resource_id=image_id)


def range_request(http_client, url, first_byte, last_byte=None):
    """``(response, pieces)`` of ``GET url`` with ``Range: bytes=<first_byte>-``
    (``bytes=<first_byte>-<last_byte>`` when ``last_byte`` is given).

    glanceclient's own ``http_client.get(url, headers=...)`` cannot send this
    header: both its SessionClient and its HTTPClient percent-encode header
    values, so ``bytes=N-`` leaves as ``bytes%3DN-`` and Glance answers 416.
    The request is therefore made one level below glanceclient, with what its
    ``http_client`` holds: a SessionClient is a keystoneauth1 Adapter, whose
    own ``request`` (the one glanceclient overrides) sends it with the same
    session, token, endpoint and retries; an HTTPClient (endpoint and token,
    as Karbor builds it) has a requests Session, endpoint and token. The body
    is streamed in glanceclient's piece size, never held whole; an error
    status raises the glanceclient exception glanceclient would raise.
    """
    last = "" if last_byte is None else str(last_byte)
    headers = {"Range": f"bytes={first_byte}-{last}"}
    if isinstance(http_client, glance_http.SessionClient):
        _add_request_id(http_client, headers)
        response = ksa_adapter.Adapter.request(
            http_client, url, "GET", headers=headers, stream=True, raise_exc=False
        )
    else:
        response = _endpoint_get(http_client, url, headers)
    if not response.ok:
        try:
            raise glance_exc.from_response(response, response.content)
        finally:
            response.close()
    return response, response.iter_content(chunk_size=glance_http.CHUNKSIZE)


def _add_request_id(http_client, headers):
    if getattr(http_client, "global_request_id", None):
        headers[glance_http.REQ_ID_HEADER] = http_client.global_request_id


def _endpoint_get(http_client, url, headers):
    """A streamed GET through a glanceclient HTTPClient's requests Session."""
    headers = {**(http_client.identity_headers or {}), **headers}
    if not headers.get("X-Auth-Token"):
        headers["X-Auth-Token"] = http_client.auth_token
    _add_request_id(http_client, headers)
    endpoint = http_client.endpoint
    if endpoint.endswith("/") and url.startswith("/"):
        url = url[1:]
    separator = "" if endpoint.endswith("/") or url.startswith("/") else "/"
    return http_client.session.get(endpoint + separator + url, headers=headers,
                                   stream=True, timeout=http_client.timeout)


def _check_content_range(response, body, image_id, offset, total, last=None):
    content_range = _header(response, "Content-Range") or ""
    match = _CONTENT_RANGE.match(content_range.strip())
    problem = None
    if match is None:
        problem = f"a malformed Content-Range {content_range!r}"
    elif int(match["start"]) != offset:
        problem = f"Content-Range {content_range!r}, not from byte {offset}"
    elif last is not None and int(match["end"]) != last:
        problem = f"Content-Range {content_range!r}, not to byte {last}"
    elif total is not None and match["total"] not in ("*", str(total)):
        problem = (f"Content-Range {content_range!r}: the image is no longer "
                   f"{total} bytes long")
    if problem is not None:
        _close_response(response, body)
        raise exceptions.CloudError(
            f"resuming the download of image {image_id} at byte {offset}: "
            f"Glance answered {problem}",
            kind="image", resource_id=image_id)


def _skipped(pieces, count):
    """``pieces`` without their first ``count`` bytes."""
    for piece in pieces:
        if count >= len(piece):
            count -= len(piece)
            continue
        if count:
            piece, count = piece[count:], 0
        yield piece


class _Closing:
    """The pieces of an answer's ``body``; closing it closes the answer, also
    before the first piece was asked for.

    A ``206`` (``length``: the bytes its Content-Range promises) can also
    be read with :meth:`readinto`, straight from the socket where
    :func:`_direct_source` allows it, else from its pieces."""

    def __init__(self, response, body, image_id=None, offset=None,
                 length=None):
        self.response, self.body = response, body
        self.pieces = iter(body or ())
        self.image_id, self.offset, self.length = image_id, offset, length
        self._source = None  # what readinto reads from, once asked

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.pieces)

    def readinto(self, view):
        """Up to ``len(view)`` bytes of the answer into ``view``; how many,
        0 at its end. An answer longer than its range raises CloudError."""
        if self._source is None:
            self._source = self._open_source()
        if isinstance(self._source, _PieceReader):
            return self._source.readinto(view)
        count = self._source.readinto(view)
        self.length -= count
        if not self.length:  # read to its end: the connection can be reused
            _release(self.response)
        return count

    def _open_source(self):
        # with a Content-Encoding, Content-Length counts the encoded bytes
        promised = (_header_int(self.response, "Content-Length")
                    if _identity(self.response) else None)
        if (self.length is not None and promised is not None
                and promised > self.length):
            raise exceptions.CloudError(
                f"downloading image {self.image_id} from byte {self.offset}: "
                f"Glance promised {promised} bytes for a range of "
                f"{self.length}", kind="image", resource_id=self.image_id)
        direct = _direct_source(self.response, self.length)
        return direct if direct is not None else _PieceReader(self.pieces)

    def close(self):
        _close(self.body)
        _close(self.response)


def _direct_source(response, length):
    """The standard library's answer under a requests ``response`` (urllib3
    2), to ``readinto`` from; None unless that reads exactly what requests
    would: nothing read yet, no Content-Encoding (urllib3 would decode it),
    not chunked, and a Content-Length of ``length`` bytes (http.client stops
    there: a longer answer cannot be read past its range)."""
    raw = getattr(response, "raw", None)
    if not isinstance(raw, urllib3.HTTPResponse) or length is None:
        return None
    source = getattr(raw, "_fp", None)  # urllib3 has no public way to it
    if (not isinstance(source, http.client.HTTPResponse) or raw.tell()
            or source.chunked or source.length != length
            or _header_int(response, "Content-Length") != length
            or not _identity(response)):
        return None
    return source


def _identity(response):
    """Whether the answer's body is sent as it is (no Content-Encoding)."""
    encoding = _header(response, "Content-Encoding") or "identity"
    return encoding.strip().lower() == "identity"


def _release(response):
    """Give a requests ``response``'s connection back to urllib3's pool, its
    body read to the end (what urllib3 does there itself)."""
    release = getattr(getattr(response, "raw", None), "release_conn", None)
    if release is not None:
        release()


def _length(body):
    """The promised length of a download, None if unknown (0 from glanceclient)."""
    try:
        length = len(body)
    except TypeError:
        return None
    return length or None


def _header(response, name):
    headers = getattr(response, "headers", None) or {}
    return headers.get(name)


def _header_int(response, name):
    try:
        return int(_header(response, name))
    except (TypeError, ValueError):
        return None


def _close_response(response, body):
    _close(body)
    _close(response)


def _close(thing):
    close = getattr(thing, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # closing a broken connection may fail again
            LOG.debug("Closing %r failed", thing, exc_info=True)
