"""The fake ``glance.images`` controller: create, get, list, upload, data, delete.

Behaves as python-glanceclient v2 over a Glance API: images come back as
schema models wrapped in glanceclient's request-id proxy, errors are the real
:mod:`glanceclient.exc` classes, uploads read the data in pieces and fill in
size, md5 checksum and sha512 multihash, downloads come in pieces and are
checked against the hash.
"""

import warlock
from glanceclient import exc as glance_exceptions

from karbor_volume_glance.testing import faults, glance_models, timestamps
from karbor_volume_glance.testing.identifiers import new_id
from karbor_volume_glance.testing.image_stream import download_body
from karbor_volume_glance.testing.lifecycle import Lifecycle
from karbor_volume_glance.testing.records import ImageRecord
from karbor_volume_glance.testing.responses import make_response

UPLOAD_READ_SIZE = 65536


class FakeImagesController:
    def __init__(self, cloud):
        self._cloud = cloud

    # --- records -------------------------------------------------------------

    def create(self, **kwargs):
        fault = self._cloud.enter_step("image.create")
        kwargs.pop("backend", None)
        _check_against_schema(kwargs)
        with self._cloud.lock:
            images = self._cloud.state.images
            read_only = sorted(set(kwargs) & glance_models.READ_ONLY_ATTRIBUTES)
            if read_only:
                raise glance_exceptions.HTTPForbidden(
                    f"Attribute '{read_only[0]}' is read-only."
                )
            image_id = kwargs.pop("id", None) or new_id()
            if image_id in images:
                raise glance_exceptions.HTTPConflict(
                    f"Image with identifier {image_id} already exists!"
                )
            columns = {
                k: kwargs.pop(k) for k in glance_models.IMAGE_COLUMNS if k in kwargs
            }
            image = ImageRecord(
                id=image_id,
                name=columns.get("name"),
                owner=columns.get("owner") or self._cloud.project_id,
                life=Lifecycle("killed" if faults.is_error(fault) else "queued"),
                created_at=timestamps.now(),
                disk_format=columns.get("disk_format"),
                container_format=columns.get("container_format"),
                visibility=columns.get("visibility") or "shared",
                protected=bool(columns.get("protected", False)),
                min_disk=columns.get("min_disk", 0),
                min_ram=columns.get("min_ram", 0),
                os_hidden=bool(columns.get("os_hidden", False)),
                tags=list(columns.get("tags", [])),
                properties=dict(kwargs),
            )
            images[image.id] = image
            self._cloud.record_created("image", image.id, image.name)
            return self._proxied_model(image)

    def get(self, image_id):
        fault = self._cloud.enter_step("image.get")
        with self._cloud.lock:
            image = self._find(image_id)
            if faults.is_error(fault):
                image.life.end_in("killed")
            else:
                image.life.extend(faults.extra_polls(fault))
                image.life.observe()
            return self._proxied_model(image)

    def list(self, **kwargs):
        """Images whose fields equal ``filters``; lazy, like glanceclient's."""
        self._cloud.enter_step("image.list")
        filters = dict(kwargs.get("filters") or {})
        limit = kwargs.get("limit")
        with self._cloud.lock:
            infos = [
                glance_models.image_info(i) for i in self._cloud.state.images.values()
            ]
        chosen = [
            info
            for info in infos
            if all(info.get(key) == value for key, value in filters.items())
        ]
        if limit is not None:
            chosen = chosen[: int(limit)]
        for info in chosen:
            yield glance_models.unvalidated_model()(**info)

    def delete(self, image_id):
        self._cloud.enter_step("image.delete")
        with self._cloud.lock:
            image = self._find(image_id)
            if image.protected:
                raise glance_exceptions.HTTPForbidden(
                    f"Image {image.id} is protected and cannot be deleted."
                )
            del self._cloud.state.images[image.id]
            image.life.end_in("deleted")
        response = make_response(204)
        return glance_models.with_request_id((response, None), response)

    # --- data ----------------------------------------------------------------

    def upload(self, image_id, image_data, image_size=None, u_url=None, backend=None):
        """Read ``image_data`` in pieces into a queued image, making it active.

        While the data is read the image is ``saving``; if reading raises, the
        image goes back to ``queued`` and the error reaches the caller.
        """
        fault = self._cloud.enter_step("image.upload")
        if image_size is not None and not isinstance(image_size, int):
            raise TypeError(
                f"image_size must be an integer, got {type(image_size).__name__}"
            )
        with self._cloud.lock:
            image = self._find(image_id)
            if image.status != "queued":
                raise glance_exceptions.HTTPConflict(
                    f"Image status transition from {image.status} to saving is "
                    "not allowed"
                )
            image.life.end_in("saving")
        try:
            data = b"".join(_read_in_pieces(image_data))
        except BaseException:
            with self._cloud.lock:
                if image.status == "saving":
                    image.life.end_in("queued")
            raise
        with self._cloud.lock:
            if image.id not in self._cloud.state.images:
                raise glance_exceptions.HTTPException(
                    f"Image {image.id} could not be found after upload. The image "
                    "may have been deleted during the upload."
                )
            if image.status != "saving":
                raise glance_exceptions.HTTPConflict(
                    f"Image {image.id} went {image.status} during the upload"
                )
            if faults.is_error(fault):
                image.life.end_in("killed")
                raise glance_exceptions.HTTPInternalServerError(
                    f"Injected fault: failed to store the data of image {image.id}"
                )
            image.store(data)
            image.life.end_in("active")
        response = make_response(204)
        return glance_models.with_request_id((response, None), response)

    def data(self, image_id, do_checksum=True, allow_md5_fallback=False, prefer=None):
        """The image's bytes as glanceclient streams them; falsy if it has none.

        For an image without data Glance answers 204 and glanceclient returns
        its request-id proxy around None (``not result`` holds, ``result is
        None`` does not).
        """
        fault = self._cloud.enter_step("image.data")
        with self._cloud.lock:
            image = self._find(image_id)
            if image.data is None:
                response = make_response(204)
                return glance_models.with_request_id(None, response)
            body = download_body(image, fault, do_checksum, allow_md5_fallback)
        response = make_response(200, {"content-length": str(body.length)})
        return glance_models.with_request_id(body, response)

    # --- helpers -------------------------------------------------------------

    def _find(self, image_id):
        image = self._cloud.state.images.get(image_id)
        if image is None:
            raise glance_exceptions.HTTPNotFound(f"No image found with ID {image_id}")
        return image

    @staticmethod
    def _proxied_model(image):
        return glance_models.with_request_id(
            glance_models.image_model(image), make_response(200)
        )


def _check_against_schema(kwargs):
    """Refuse what glanceclient refuses before sending (TypeError)."""
    model = glance_models.validated_model()()
    for key, value in kwargs.items():
        try:
            setattr(model, key, value)
        except warlock.InvalidOperation as error:
            raise TypeError(str(error)) from None


def _read_in_pieces(image_data):
    """The pieces of a file-like object or an iterable of bytes."""
    if isinstance(image_data, bytes | bytearray | memoryview):
        yield bytes(image_data)
        return
    if hasattr(image_data, "read"):
        while True:
            piece = image_data.read(UPLOAD_READ_SIZE)
            if not piece:
                return
            yield piece
    else:
        for piece in image_data:
            yield bytes(piece)
