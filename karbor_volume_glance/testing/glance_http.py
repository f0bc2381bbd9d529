"""The fake glance client's ``http_client``: raw GETs of an image and its data.

glanceclient's controllers send their requests through ``client.http_client``
(a SessionClient), whose ``get(url, headers=...)`` answers ``(response,
body)``: the decoded JSON for a record, a lazy iterator of bytes for image
data. Code that needs a request the controllers do not offer, such as a
``Range`` request to resume a download, uses it directly; this fake answers
``GET /v2/images/<id>`` and ``GET /v2/images/<id>/file`` the same way:

* no ``Range``: 200 with the whole image (204 and no body for an image
  without data);
* ``Range: bytes=N-`` or ``bytes=N-M``: 206 with ``Content-Range`` and those
  bytes, or HTTP 416 when ``N`` is past the end;
* like Glance, every answer for data carries the whole image's
  ``Content-MD5``.

A data request is a call of the ``image.data`` step, so the ``drop`` and
``corrupt`` faults apply to it, counted in the bytes of that one answer (as
the local cloud does). Set :attr:`FakeGlanceHttpClient.honours_range` to
False to play a server or proxy that ignores ``Range`` and answers 200.
"""

import io
import re

from glanceclient import exc as glance_exceptions

from karbor_volume_glance.testing import glance_models
from karbor_volume_glance.testing.image_stream import pieces_on_the_wire
from karbor_volume_glance.testing.responses import make_response

_RECORD_URL = re.compile(r"^/v2/images/(?P<image_id>[^/?]+)$")
_DATA_URL = re.compile(r"^/v2/images/(?P<image_id>[^/?]+)/file$")
_RANGE = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


class FakeGlanceHttpClient:
    """``get(url, headers=...)`` of glanceclient's SessionClient, for images."""

    def __init__(self, cloud):
        self._cloud = cloud
        #: False: answer a Range request with the whole image (200).
        self.honours_range = True

    def get(self, url, headers=None, **kwargs):
        """``(response, body)`` for an image record or an image's data."""
        path = url.split("?", 1)[0]
        match = _DATA_URL.match(path)
        if match:
            return self._data(match["image_id"], dict(headers or {}))
        match = _RECORD_URL.match(path)
        if match:
            return self._record(match["image_id"])
        raise NotImplementedError(
            f"the fake glance http_client only answers GET /v2/images/<id> and "
            f"/v2/images/<id>/file, not {url!r}"
        )

    def _record(self, image_id):
        self._cloud.enter_step("image.get")
        with self._cloud.lock:
            image = _find(self._cloud, image_id)
            info = glance_models.image_info(image)
        return make_response(200, {"content-type": "application/json"}), info

    def _data(self, image_id, headers):
        fault = self._cloud.enter_step("image.data")
        with self._cloud.lock:
            image = _find(self._cloud, image_id)
            data = image.data
            checksum = image.checksum
        if data is None:
            return make_response(204), None
        start, stop, status = 0, len(data), 200
        response_headers = {"content-type": "application/octet-stream"}
        requested = _header(headers, "Range")
        if requested is not None and self.honours_range:
            start, stop = _byte_range(requested, len(data))
            status = 206
            response_headers["content-range"] = (
                f"bytes {start}-{stop - 1}/{len(data)}"
            )
        response_headers["content-length"] = str(stop - start)
        response_headers["content-md5"] = checksum
        body = pieces_on_the_wire(data[start:stop], fault)
        return _streamed(make_response(status, response_headers)), body


def _streamed(response):
    """A response whose body is streamed: ``close()`` works as on a real one."""
    response.raw = io.BytesIO()
    return response


def _find(cloud, image_id):
    image = cloud.state.images.get(image_id)
    if image is None:
        raise glance_exceptions.HTTPNotFound(f"No image found with ID {image_id}")
    return image


def _header(headers, name):
    """A request header by case-insensitive name (str or bytes), or None."""
    for key, value in headers.items():
        key = key.decode() if isinstance(key, bytes) else key
        if key.lower() == name.lower():
            return value.decode() if isinstance(value, bytes) else value
    return None


def _byte_range(header, size):
    """``(start, stop)`` of a ``bytes=N-`` or ``bytes=N-M`` header; 416 otherwise."""
    match = _RANGE.match(header.strip())
    if match is None:
        raise _not_satisfiable("Invalid Range header.")
    start = int(match["start"])
    end = int(match["end"]) + 1 if match["end"] else size
    if start >= size or end <= start:
        raise _not_satisfiable(
            "Invalid start position in Range header. Start position MUST be "
            f"in the inclusive range [0, {size - 1}].")
    return start, min(end, size)


def _not_satisfiable(explanation):
    """The error glanceclient makes of Glance's 416 answer."""
    response = make_response(416, {"content-type": "text/plain"})
    body = f"HTTP 416 Requested Range Not Satisfiable: {explanation}"
    return glance_exceptions.from_response(response, body.encode())
