"""The JSON schemas Glance serves at ``/v2/schemas/image`` and ``/images``.

glanceclient builds its warlock image model from the first and validates
what it sends (``images.create``) and what ``POST /v2/images`` answers
against it, so it has Glance's base properties with their types and enums,
and extra properties as strings.
"""

import copy

from karbor_volume_glance.testing.localcloud import imagestore


def _nullable(kind, **extra):
    return {"type": ["null", kind], **extra}


_READ_ONLY_STRING = {"type": "string", "readOnly": True}

_PROPERTIES = {
    "id": {"type": "string", "description": "An identifier for the image",
           "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                      "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
    "name": _nullable("string", maxLength=255,
                      description="Descriptive name for the image"),
    "status": {"type": "string", "readOnly": True,
               "description": "Status of the image",
               "enum": ["queued", "saving", "active", "killed", "deleted",
                        "uploading", "importing", "pending_delete",
                        "deactivated"]},
    "visibility": {"type": "string", "enum": list(imagestore.VISIBILITIES),
                   "description": "Scope of image accessibility"},
    "protected": {"type": "boolean",
                  "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean",
                  "description": "If true, image will not appear in default "
                                 "image list response."},
    "checksum": _nullable("string", readOnly=True, maxLength=32,
                          description="md5 hash of image contents."),
    "os_hash_algo": _nullable("string", readOnly=True, maxLength=64,
                              description="Algorithm to calculate the "
                                          "os_hash_value"),
    "os_hash_value": _nullable("string", readOnly=True, maxLength=128,
                               description="Hexdigest of the image contents "
                                           "using the algorithm specified by "
                                           "the os_hash_algo"),
    "owner": _nullable("string", maxLength=255,
                       description="Owner of the image"),
    "size": _nullable("integer", readOnly=True,
                      description="Size of image file in bytes"),
    "virtual_size": _nullable("integer", readOnly=True,
                              description="Virtual size of image in bytes"),
    "container_format": {"type": ["null", "string"],
                         "enum": [None, *imagestore.CONTAINER_FORMATS],
                         "description": "Format of the container"},
    "disk_format": {"type": ["null", "string"],
                    "enum": [None, *imagestore.DISK_FORMATS],
                    "description": "Format of the disk"},
    "created_at": {**_READ_ONLY_STRING, "description": "Date and time of "
                   "image registration"},
    "updated_at": {**_READ_ONLY_STRING, "description": "Date and time of the "
                   "last image modification"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255},
             "description": "List of strings related to the image"},
    "direct_url": {**_READ_ONLY_STRING, "description": "URL to access the "
                   "image file kept in external store"},
    "min_ram": {"type": "integer", "description": "Amount of ram (in MB) "
                "required to boot image."},
    "min_disk": {"type": "integer", "description": "Amount of disk space (in "
                 "GB) required to boot image."},
    "self": {**_READ_ONLY_STRING, "description": "An image self url"},
    "file": {**_READ_ONLY_STRING, "description": "An image file url"},
    "stores": {**_READ_ONLY_STRING, "description": "Store in which image data "
               "resides."},
    "schema": {**_READ_ONLY_STRING, "description": "An image schema url"},
}

_LINKS = [
    {"rel": "self", "href": "{self}"},
    {"rel": "enclosure", "href": "{file}"},
    {"rel": "describedby", "href": "{schema}"},
]


def image_schema():
    return {
        "name": "image",
        "properties": copy.deepcopy(_PROPERTIES),
        "additionalProperties": {"type": "string"},
        "links": copy.deepcopy(_LINKS),
    }


def images_schema():
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
