"""Karbor's resource tuple, for running operations without Karbor."""

import collections

from karbor_volume_glance.plugin import VOLUME_RESOURCE_TYPE

#: The shape of Karbor's ``karbor.resource.Resource``.
Resource = collections.namedtuple(
    "Resource", ["type", "id", "name", "extra_info"], defaults=(None, None)
)


def volume_resource(volume_id, name=None):
    """The Resource of a Cinder volume."""
    return Resource(type=VOLUME_RESOURCE_TYPE, id=volume_id, name=name or volume_id)
