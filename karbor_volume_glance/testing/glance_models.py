"""Images as python-glanceclient v2 returns them: warlock models and proxies.

glanceclient builds its image class from the image schema Glance serves; the
fake builds it the same way from the default schema glanceclient itself
ships, so images offer both ``image.id`` and ``image["status"]``, ``get()``
and ``keys()``, and refuse what the real client refuses on create.
"""

import functools

import warlock
from glanceclient.common import utils as glance_utils
from glanceclient.v2 import image_schema, schemas

from karbor_volume_glance.testing import timestamps

# Glance keeps these columns itself; everything else given is a property
IMAGE_COLUMNS = (
    "id",
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "protected",
    "min_disk",
    "min_ram",
    "os_hidden",
    "tags",
    "owner",
)
# Glance answers 403 when a client tries to set one of these
READ_ONLY_ATTRIBUTES = frozenset(
    {
        "status",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "created_at",
        "updated_at",
        "file",
        "schema",
        "self",
        "direct_url",
        "locations",
    }
)


@functools.cache
def validated_model():
    """The class glanceclient checks ``images.create`` arguments with."""
    return warlock.model_factory(
        image_schema._BASE_SCHEMA, base_class=schemas.SchemaBasedModel
    )


@functools.cache
def unvalidated_model():
    """The class glanceclient returns images as (not checked against a schema)."""
    model = warlock.model_factory(
        image_schema._BASE_SCHEMA, base_class=schemas.SchemaBasedModel
    )
    model.validate = lambda *args, **kwargs: None
    return model


def image_info(image):
    """What ``GET /v2/images/<id>`` answers for an image record."""
    info = dict(image.properties)
    info.update(
        id=image.id,
        name=image.name,
        status=image.status,
        disk_format=image.disk_format,
        container_format=image.container_format,
        visibility=image.visibility,
        protected=image.protected,
        min_disk=image.min_disk,
        min_ram=image.min_ram,
        os_hidden=image.os_hidden,
        tags=list(image.tags),
        owner=image.owner,
        size=image.size,
        virtual_size=None,
        checksum=image.checksum,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        created_at=timestamps.glance_time(image.created_at),
        updated_at=timestamps.glance_time(image.life.changed_at),
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    return info


def image_model(image):
    return unvalidated_model()(**image_info(image))


def with_request_id(value, response):
    """``value`` as glanceclient hands it back: proxied, with ``request_ids``."""
    return glance_utils.RequestIdProxy((value, response))
