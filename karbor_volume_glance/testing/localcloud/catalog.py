"""The service catalog Keystone hands out with each project-scoped token.

One host and port, devstack's path layout: Keystone at ``/identity``, Cinder
at ``/volume/v3/<project_id>`` (types ``block-storage`` and ``volumev3``),
Glance at ``/image`` and Nova at ``/compute/v2.1``; each with a public, an
internal and an admin endpoint in one region.
"""

from karbor_volume_glance.testing.localcloud.state import new_hex_id

#: (service type, service name, path under the base URL)
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("block-storage", "cinder", "/volume/v3/{project_id}"),
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
    ("image", "glance", "/image"),
    ("compute", "nova", "/compute/v2.1"),
)
INTERFACES = ("public", "internal", "admin")


class Catalog:
    """Builds the catalog once the server knows its base URL."""

    def __init__(self, region="RegionOne"):
        self.region = region
        self.base_url = None
        self.interfaces = INTERFACES
        self._ids = {
            service_type: (new_hex_id(), {i: new_hex_id() for i in INTERFACES})
            for service_type, _name, _path in SERVICES
        }

    def url(self, path=""):
        if self.base_url is None:
            raise RuntimeError("the local cloud has not been started")
        return self.base_url + path

    def for_project(self, project_id):
        """The v3 catalog (a list of services) for a token of ``project_id``."""
        catalog = []
        for service_type, name, path in SERVICES:
            service_id, endpoint_ids = self._ids[service_type]
            url = self.url(path.format(project_id=project_id))
            endpoints = [
                {"id": endpoint_ids[interface], "interface": interface,
                 "region": self.region, "region_id": self.region, "url": url}
                for interface in self.interfaces
            ]
            catalog.append({"id": service_id, "type": service_type, "name": name,
                            "endpoints": endpoints})
        return catalog
