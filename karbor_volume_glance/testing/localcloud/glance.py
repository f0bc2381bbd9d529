"""Glance v2 over HTTP, at ``/image``.

``GET /v2/schemas/image|images``; ``/v2/images`` (create 201, list with
``limit``/``marker`` and a ``next`` link while more remain, filters ``name``,
``status``, ``visibility``, ``owner``, ``disk_format``,
``container_format``); ``/v2/images/<id>`` (show; ``PATCH`` with top-level
JSON-patch operations; delete, 204, or 403 when protected);
``/v2/images/<id>/file``: ``PUT`` streams the body into the image (204; 409
unless ``queued``), ``GET`` streams it back with Content-Length and
``Content-MD5`` (204 for an image without data), or a part of it for
``Range: bytes=N-``, ``bytes=N-M`` or ``bytes=-N`` (206 with Content-Range;
416 when the start is past the end). As Glance, a 206 still carries the
whole image's ``Content-MD5``. With ``stream_cap`` (bytes per second) each
download is sent no faster than that (:mod:`.throttle`). Version documents
at ``/image/`` (300) and ``/image/versions``. Errors are WebOb's error
pages, as Glance's.
"""

import json
import urllib.parse

import webob
import webob.byterange

from karbor_volume_glance.testing.localcloud import (
    datafiles,
    errors,
    exceptions,
    glance_schema,
    service,
    throttle,
    versions,
    webutil,
)

_IMAGE_SCHEMA = glance_schema.image_schema()
_IMAGES_SCHEMA = glance_schema.images_schema()
LIST_FILTERS = ("name", "status", "visibility", "owner", "disk_format",
                "container_format")


def _time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(image):
    view = {
        "id": image.id, "name": image.name, "status": image.status,
        "visibility": image.visibility, "protected": image.protected,
        "os_hidden": image.os_hidden, "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
        "owner": image.owner, "size": image.size,
        "virtual_size": image.virtual_size, "min_disk": image.min_disk,
        "min_ram": image.min_ram, "container_format": image.container_format,
        "disk_format": image.disk_format, "tags": list(image.tags),
        "created_at": _time(image.created_at),
        "updated_at": _time(image.updated_at),
        "self": f"/v2/images/{image.id}", "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }
    view.update(image.properties)
    return view


def _byte_range(header, size):
    """``(offset, length, Content-Range)`` of a Range header, as Glance reads it."""
    requested = webob.byterange.Range.parse(header)
    if requested is None:
        raise exceptions.RangeNotSatisfiable("Invalid Range header.")
    if requested.start >= size:
        raise exceptions.RangeNotSatisfiable(
            "Invalid start position in Range header. Start position MUST be in "
            f"the inclusive range [0, {size - 1}].",
            headers={"Content-Range": f"bytes */{size}"},
        )
    if requested.start >= 0:
        offset = requested.start
    else:
        offset = size + requested.start if -requested.start < size else 0
    stop = requested.end if requested.end is not None and requested.end < size \
        else size
    return offset, stop - offset, f"bytes {offset}-{stop - 1}/{size}"


class GlanceService(service.Service):
    #: False: answer a Range request with the whole image (200), as a proxy
    #: that drops the header would
    honours_range = True
    #: bytes per second each image download may send (None: no cap); see
    #: :mod:`.throttle`
    stream_cap = None

    def __init__(self, identity, catalog, faults, jobs, images):
        super().__init__(identity, catalog, faults, jobs)
        self.images = images
        add = self.router.add
        add("GET", "/schemas/image", self.image_schema)
        add("GET", "/schemas/images", self.images_schema)
        add("GET", "/images", self.list_images, step="image.list")
        add("POST", "/images", self.create_image, step="image.create")
        add("GET", "/images/{image_id}", self.show_image, step="image.get")
        add("PATCH", "/images/{image_id}", self.update_image)
        add("DELETE", "/images/{image_id}", self.delete_image, step="image.delete")
        add("PUT", "/images/{image_id}/file", self.upload, step="image.upload")
        add("GET", "/images/{image_id}/file", self.download, step="image.data")

    def discovery(self, request):
        if request.method != "GET":
            return None
        if request.path_info in ("", "/"):
            return webutil.json_response(versions.image_versions(request.host_url),
                                         status=300)
        if request.path_info in ("/versions", "/versions/"):
            return webutil.json_response(versions.image_versions(request.host_url))
        return None

    def api_path(self, path):
        if not path.startswith("/v2/"):
            raise exceptions.NotFound("The resource could not be found.")
        return path[len("/v2"):], None

    def render_error(self, request, error):
        return errors.glance(error.code, error.message, error.headers)

    # --- schemas and records ----------------------------------------------

    def image_schema(self, call):
        return webutil.json_response(_IMAGE_SCHEMA)

    def images_schema(self, call):
        return webutil.json_response(_IMAGES_SCHEMA)

    def list_images(self, call):
        query = call.request.GET
        try:
            limit = int(query.get("limit", 25))
        except ValueError:
            raise exceptions.BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise exceptions.BadRequest("limit param must be positive")
        filters = {key: query[key] for key in LIST_FILTERS if key in query}
        marker = query.get("marker")
        page, more = self.images.list(call.token, dict(filters), marker, limit)
        body = {"images": [image_view(image) for image in page],
                "first": "/v2/images", "schema": "/v2/schemas/images"}
        if more and page:
            params = {**filters, "limit": limit, "marker": page[-1].id}
            body["next"] = "/v2/images?" + urllib.parse.urlencode(params)
        return webutil.json_response(body)

    def create_image(self, call):
        fields = webutil.read_json(call.request)
        image = self.images.create(call.token, fields, fail=call.failing)
        return webutil.json_response(
            image_view(image), status=201,
            headers={"Location": f"{call.host_url}/image/v2/images/{image.id}"},
        )

    def show_image(self, call, image_id):
        if call.failing:
            image = self.images.mark_killed(call.token, image_id)
        else:
            self.images.get(call.token, image_id)
            self.images.pacer.observe(image_id, call.extra)
            image = self.images.get(call.token, image_id)
        return webutil.json_response(image_view(image))

    def update_image(self, call, image_id):
        content_type = call.request.content_type
        if content_type != "application/openstack-images-v2.1-json-patch":
            raise exceptions.UnsupportedMediaType(
                f"Content-Type {content_type!r} is not supported; use "
                "application/openstack-images-v2.1-json-patch."
            )
        try:
            operations = json.loads(call.request.body or b"null")
        except ValueError:
            raise exceptions.BadRequest("Malformed JSON in request body.") from None
        image = self.images.update(call.token, image_id, operations)
        return webutil.json_response(image_view(image))

    def delete_image(self, call, image_id):
        self.images.delete(call.token, image_id, fail=call.failing)
        return webutil.empty_response(204)

    # --- data ---------------------------------------------------------------

    def upload(self, call, image_id):
        request = call.request
        if request.content_type != "application/octet-stream":
            raise exceptions.UnsupportedMediaType(
                f"Content-Type {request.content_type!r} is not supported for "
                "image data; use application/octet-stream."
            )
        self.images.upload(call.token, image_id, request.body_file.read,
                           check=self.jobs.check, fail=call.failing)
        return webutil.empty_response(204)

    def download(self, call, image_id):
        image, stream = self.images.open_data(call.token, image_id)
        if stream is None:
            return webutil.empty_response(204)
        size, checksum = image.size, image.checksum
        offset, length, status, headers = 0, size, 200, {}
        header = call.request.headers.get("Range")
        if header and self.honours_range:
            try:
                offset, length, headers["Content-Range"] = _byte_range(header, size)
            except exceptions.ApiError:
                stream.close()
                raise
            status = 206
        pieces = self.images.files.read_pieces(stream, offset, length)
        if call.corrupt_at is not None:
            pieces = datafiles.corrupted(pieces, offset, size,
                                         call.corrupt_at)
        if call.drop_after is not None:
            pieces = datafiles.truncated(pieces, call.drop_after)
        pieces = throttle.capped(pieces, self.stream_cap)
        response = webob.Response(status=status, app_iter=pieces,
                                  content_type="application/octet-stream")
        response.content_length = length
        response.headers.update(headers)
        if checksum:
            response.headers["Content-MD5"] = checksum
        return response
