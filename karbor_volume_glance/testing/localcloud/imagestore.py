"""Glance's side of the local cloud: image records and their data files.

Statuses: ``queued`` (no data) -> ``saving`` (data arriving) -> ``active``
(``size``, md5 ``checksum``, and ``os_hash_value`` in ``os_hash_algo``:
sha512, or the :mod:`hashlib` algorithm set as :attr:`ImageStore.hashing_algorithm`,
Glance's ``[DEFAULT] hashing_algorithm``). As Glance v2 does,
an upload that fails (the request body breaks off, the store fails) puts
the image back to ``queued`` so the upload can be retried; only an injected
``error`` fault leaves it ``killed``. An image deleted while its data
arrives is answered 410, as Glance does. Deletion is immediate (no
``pending_delete``).

With :attr:`ImageStore.rbd_direct_url` (Glance on the same Ceph as Cinder,
``show_image_direct_url = True``), Cinder's RBD driver makes a volume from a
``raw`` image as a copy-on-write clone of it: while such a volume exists,
deleting the image answers 409 with Glance's "in use through the backend
store" message (:mod:`.blockstorage` records the clone).

Who sees what, as Glance with its default policy: the owner's project sees
its images of any visibility, every project sees ``public`` and
``community`` ones, and a project with the ``admin`` role sees (and lists)
all images. Only the owner (or an admin) uploads to or deletes an image.
"""

import contextlib
import uuid

from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import exceptions
from karbor_volume_glance.testing.localcloud.state import Image, new_uuid, utcnow

LOG = logging.getLogger(__name__)

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi",
                "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker",
                     "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
READ_ONLY = ("status", "size", "virtual_size", "checksum", "os_hash_algo",
             "os_hash_value", "created_at", "updated_at", "self", "file",
             "schema", "direct_url", "locations", "stores")
CORE = ("id", "name", "visibility", "owner", "tags", "protected", "os_hidden",
        "disk_format", "container_format", "min_disk", "min_ram")
MAX_LIMIT = 1000


def _schema_error(message):
    return exceptions.BadRequest(
        f"Provided object does not match schema 'image': {message}"
    )


def _check_enum(fields, name, allowed):
    value = fields.get(name)
    if value is not None and value not in allowed:
        raise _schema_error(f"{value!r} is not one of {[None, *allowed]!r}")
    return value


def _check_int(fields, name):
    value = fields.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _schema_error(f"{value!r} is not a non-negative integer ({name})")
    return value


def _check_bool(fields, name):
    value = fields.get(name, False)
    if not isinstance(value, bool):
        raise _schema_error(f"{value!r} is not of type 'boolean' ({name})")
    return value


class ImageStore:
    #: Glance on RBD with direct URLs: volumes made from raw images are clones.
    rbd_direct_url = False
    #: Glance's ``hashing_algorithm`` option: the ``os_hash_algo`` of new data.
    hashing_algorithm = "sha512"

    def __init__(self, state, files, pacer, rbd_direct_url=False):
        self.state = state
        self.files = files
        self.pacer = pacer
        self.rbd_direct_url = rbd_direct_url

    # --- access -----------------------------------------------------------

    @staticmethod
    def visible(ctx, image):
        return (ctx.is_admin or image.owner == ctx.project_id
                or image.visibility in ("public", "community"))

    @staticmethod
    def _may_change(ctx, image):
        return ctx.is_admin or image.owner == ctx.project_id

    def get(self, ctx, image_id):
        with self.state.lock:
            image = self.state.images.get(image_id)
            if image is None or not self.visible(ctx, image):
                raise exceptions.NotFound(f"No image found with ID {image_id}")
            return image

    def mark_killed(self, ctx, image_id):
        """The ``error`` fault of a get: the image turns ``killed``."""
        with self.state.lock:
            image = self.get(ctx, image_id)
            self.state.set_status(image, "killed")
            return image

    def list(self, ctx, filters, marker=None, limit=25):
        """``(page, more)``: the images ``ctx`` lists, newest first."""
        visibility = filters.pop("visibility", None)
        with self.state.lock:
            images = [image for image in self.state.images.values()
                      if self._listed(ctx, image, visibility)
                      and all(str(getattr(image, key, image.properties.get(key)))
                              == value for key, value in filters.items())]
        images.sort(key=lambda image: (image.created_at, image.id), reverse=True)
        start = 0
        if marker is not None:
            ids = [image.id for image in images]
            if marker not in ids:
                raise exceptions.BadRequest(f"Invalid marker. Image {marker} "
                                            "could not be found.")
            start = ids.index(marker) + 1
        limit = min(limit, MAX_LIMIT)
        return images[start:start + limit], start + limit < len(images)

    def _listed(self, ctx, image, visibility):
        if not self.visible(ctx, image):
            return False
        if visibility in (None, "all"):
            return visibility == "all" or image.visibility != "community" or (
                image.owner == ctx.project_id)
        return image.visibility == visibility

    # --- create and update ------------------------------------------------

    @staticmethod
    def _check_writable(names):
        for key in names:
            if key in READ_ONLY:
                raise exceptions.Forbidden(f"Attribute '{key}' is read-only.")
            if key.startswith("os_glance"):
                raise exceptions.Forbidden(f"Attribute '{key}' is reserved.")

    @staticmethod
    def _validated(ctx, fields):
        """The Image keyword arguments of ``fields`` (Glance's schema checks)."""
        name = fields.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise _schema_error(f"{name!r} is not a valid name")
        visibility = fields.get("visibility") or "shared"
        if visibility not in VISIBILITIES:
            raise exceptions.BadRequest(f"Invalid visibility value: {visibility}")
        if visibility == "public" and not ctx.is_admin:
            raise exceptions.Forbidden(
                "You are not authorized to complete publicize_image action."
            )
        owner = fields.get("owner") or ctx.project_id
        if owner != ctx.project_id and not ctx.is_admin:
            raise exceptions.Forbidden("You are not permitted to set the owner "
                                       "of an image to another project.")
        tags = fields.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise _schema_error(f"{tags!r} is not a list of strings (tags)")
        properties = {key: value for key, value in fields.items()
                      if key not in CORE}
        for key, value in properties.items():
            if not isinstance(value, str):
                raise _schema_error(f"{value!r} is not of type 'string' ({key})")
        return dict(
            owner=owner, name=name, visibility=visibility,
            protected=_check_bool(fields, "protected"),
            os_hidden=_check_bool(fields, "os_hidden"),
            disk_format=_check_enum(fields, "disk_format", DISK_FORMATS),
            container_format=_check_enum(fields, "container_format",
                                         CONTAINER_FORMATS),
            min_disk=_check_int(fields, "min_disk"),
            min_ram=_check_int(fields, "min_ram"),
            tags=list(dict.fromkeys(tags)), properties=properties,
        )

    def create(self, ctx, fields, fail=False):
        """A new image from the fields of ``POST /v2/images``."""
        self._check_writable(fields)
        image_id = fields.get("id") or new_uuid()
        try:
            image_id = str(uuid.UUID(str(image_id)))
        except ValueError:
            raise _schema_error(f"{image_id!r} is not a valid id") from None
        image = Image(id=image_id, status="killed" if fail else "queued",
                      **self._validated(ctx, fields))
        with self.state.lock:
            if image_id in self.state.images:
                raise exceptions.Conflict(
                    f"Image with identifier {image_id} already exists!"
                )
            self.state.add("image", image)
        LOG.info("Image %s (%s) created for project %s", image_id, image.name,
                 image.owner)
        return image

    def update(self, ctx, image_id, operations):
        """Apply ``PATCH /v2/images/<id>`` JSON-patch operations (top level)."""
        if not isinstance(operations, list):
            raise exceptions.BadRequest("Request body must be a JSON array of "
                                        "operation objects.")
        with self.state.lock:
            image = self.get(ctx, image_id)
            if not self._may_change(ctx, image):
                raise exceptions.Forbidden("You are not permitted to modify this "
                                           "image.")
            fields = {key: getattr(image, key) for key in CORE if key != "id"}
            fields.update(image.properties)
            for operation in operations:
                self._apply(fields, operation)
            changes = self._validated(ctx, fields)
            if image.status != "queued" and any(
                changes[key] != getattr(image, key)
                for key in ("disk_format", "container_format")
            ):
                raise exceptions.Forbidden("Attribute container_format and "
                                           "disk_format can be only replaced for "
                                           "a queued image.")
            for key, value in changes.items():
                setattr(image, key, value)
            image.updated_at = utcnow()
            return image

    def _apply(self, fields, operation):
        if not isinstance(operation, dict):
            raise exceptions.BadRequest("Operations must be JSON objects.")
        kind, path = operation.get("op"), operation.get("path")
        if not isinstance(path, str) or not path.startswith("/") or \
                "/" in path[1:]:
            raise exceptions.BadRequest(f"Invalid JSON pointer for this resource: "
                                        f"'{path}'")
        name = path[1:]
        self._check_writable([name])
        if name in ("id", "owner"):
            raise exceptions.Forbidden(f"Attribute '{name}' is read-only.")
        if kind in ("add", "replace"):
            if "value" not in operation:
                raise exceptions.BadRequest(f"Operation {kind} needs a value.")
            fields[name] = operation["value"]
        elif kind == "remove":
            if name in CORE:
                raise exceptions.Forbidden(f"Attribute '{name}' cannot be removed.")
            if name not in fields:
                raise exceptions.Conflict(f"Property {name} does not exist.")
            del fields[name]
        else:
            raise exceptions.BadRequest(f"Operation '{kind}' is not supported.")

    # --- data -------------------------------------------------------------

    def begin_upload(self, ctx, image_id):
        """Check and mark an upload through the API (``queued`` -> ``saving``)."""
        with self.state.lock:
            image = self.get(ctx, image_id)
            if not self._may_change(ctx, image):
                raise exceptions.Forbidden(
                    f"Not allowed to upload image data for image {image_id}"
                )
            return self.start_saving(image_id)

    def start_saving(self, image_id):
        with self.state.lock:
            image = self.state.images.get(image_id)
            if image is None:
                raise exceptions.Gone(f"Image {image_id} was deleted.")
            if image.status != "queued":
                raise exceptions.Conflict(
                    f"Image status transition from {image.status} to saving is "
                    "not allowed"
                )
            self.state.set_status(image, "saving")
            return image

    def upload(self, ctx, image_id, read, check=None, fail=False):
        """Store what ``read(n)`` returns as the image's data."""
        image = self.begin_upload(ctx, image_id)
        try:
            result = self.files.write_stream("images", image_id, read, check,
                                             algorithm=self.hashing_algorithm)
        except Exception:
            LOG.exception("Upload to image %s failed", image_id)
            self.restore(image)
            self.files.remove("images", image_id)
            raise exceptions.ApiError(
                "Failed to upload image data due to internal error"
            ) from None
        self.finish_saving(image, None if fail else result)

    def restore(self, image):
        """Back to ``queued`` after a failed upload, as Glance's ``_restore``."""
        with self.state.lock:
            if image.status == "saving":
                self.state.set_status(image, "queued")

    def finish_saving(self, image, result):
        """``active`` with ``result = (size, md5, os_hash)`` (the os_hash in
        :attr:`hashing_algorithm`), or ``killed`` (None)."""
        with self.state.lock:
            if self.state.images.get(image.id) is not image:
                self.files.remove("images", image.id)
                raise exceptions.Gone(
                    f"Image {image.id} could not be found after upload. The image "
                    "may have been deleted during the upload, cleaning up the "
                    "chunks uploaded."
                )
            if result is None:
                self.state.set_status(image, "killed")
                self.files.remove("images", image.id)
                return
            image.size, image.checksum, image.os_hash_value = result
            image.os_hash_algo = self.hashing_algorithm
            image.virtual_size = image.size if image.disk_format == "raw" else None
            self.state.set_status(image, "active")
        LOG.info("Image %s is active (%d bytes)", image.id, image.size)

    def open_data(self, ctx, image_id):
        """``(image, open file)`` of an image to download; file None: no data."""
        with self.state.lock:
            image = self.get(ctx, image_id)
            if image.status == "deactivated" and not ctx.is_admin:
                raise exceptions.Forbidden(
                    "The requested image has been deactivated. Image data "
                    "download is forbidden."
                )
            if image.status != "active":
                return image, None
            return image, self.files.open("images", image_id)

    # --- delete -----------------------------------------------------------

    def delete(self, ctx, image_id, fail=False):
        with self.state.lock:
            image = self.get(ctx, image_id)
            if not self._may_change(ctx, image):
                raise exceptions.Forbidden(
                    "You are not permitted to delete this image."
                )
            if image.protected:
                raise exceptions.Forbidden(
                    f"Image {image_id} is protected and cannot be deleted."
                )
            if any(volume.cloned_from_image == image_id
                   for volume in self.state.volumes.values()):
                raise exceptions.Conflict(
                    f"Image {image_id} could not be deleted because it is in "
                    "use: The image cannot be deleted because it is in use "
                    "through the backend store outside of Glance."
                )
            if fail:
                self.state.set_status(image, "killed")
                return
            del self.state.images[image_id]
            self.state.set_status(image, "deleted")
        with contextlib.suppress(OSError):
            self.files.remove("images", image_id)
        LOG.info("Image %s deleted", image_id)

    # --- for Cinder's upload-to-image -------------------------------------

    def create_for_volume(self, ctx, name, disk_format, container_format,
                          visibility, protected):
        """The queued image Cinder makes for ``os-volume_upload_image``."""
        image = Image(id=new_uuid(), owner=ctx.project_id, name=name,
                      visibility=visibility, protected=protected,
                      disk_format=disk_format, container_format=container_format,
                      created_at=utcnow())
        with self.state.lock:
            self.state.add("image", image)
        return image
