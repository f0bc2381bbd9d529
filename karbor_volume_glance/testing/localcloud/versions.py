"""Version discovery documents, where each client looks for them.

Keystone: ``GET /identity`` (300, ``versions.values``) and
``GET /identity/v3`` (``version``). Cinder: ``GET /volume/`` (300, read by
``cinderclient.client.get_server_version``) and ``GET /volume/v3/``. Glance:
``GET /image/`` (300) and ``GET /image/versions`` (200). Nova:
``GET /compute/`` and ``GET /compute/v2.1/``. Links point at the host the
client asked (``host_url``).
"""

from karbor_volume_glance.testing.localcloud import microversions

JSON = "application/json"


def _link(href, rel="self"):
    return {"rel": rel, "href": href}


def identity_v3(host_url):
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [_link(f"{host_url}/identity/v3/")],
        "media-types": [
            {"base": JSON, "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


def identity_root(host_url):
    return {"versions": {"values": [identity_v3(host_url)]}}


def volume_v3(host_url):
    spec = microversions.CINDER
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": spec.max_string,
        "min_version": spec.min_string,
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            _link("https://docs.openstack.org/", "describedby"),
            _link(f"{host_url}/volume/v3/"),
        ],
        "media-types": [
            {"base": JSON, "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


def volume_root(host_url):
    return {"versions": [volume_v3(host_url)]}


def image_versions(host_url):
    href = f"{host_url}/image/v2/"
    current = [{"id": "v2.16", "status": "CURRENT", "links": [_link(href)]}]
    supported = [
        {"id": f"v2.{minor}", "status": "SUPPORTED", "links": [_link(href)]}
        for minor in range(15, -1, -1)
    ]
    return {"versions": current + supported}


def _compute(host_url, version_id, status, version, min_version, path):
    return {
        "id": version_id,
        "status": status,
        "version": version,
        "min_version": min_version,
        "updated": "2013-07-23T11:33:21Z",
        "links": [_link(f"{host_url}/compute{path}")],
        "media-types": [
            {"base": JSON, "type": "application/vnd.openstack.compute+json;version=2"}
        ],
    }


def compute_v21(host_url):
    spec = microversions.NOVA
    return _compute(host_url, "v2.1", "CURRENT", spec.max_string,
                    spec.min_string, "/v2.1/")


def compute_root(host_url):
    return {
        "versions": [
            _compute(host_url, "v2.0", "SUPPORTED", "", "", "/v2/"),
            compute_v21(host_url),
        ]
    }
