"""Where the plugin's Cinder, Glance and Nova clients come from.

A client factory is any object with ``create_client(service, context)`` for
``'cinder'``, ``'glance'`` and ``'nova'``. :func:`default_client_factory`
picks Karbor's own factory when the plugin runs inside Karbor's protection
service (so Karbor's ``[cinder_client]``/``[glance_client]`` settings apply),
and otherwise :class:`ContextClientFactory`, which builds clients from the
request context's token and service catalog through a keystoneauth1 session.
"""

import sys

from oslo_log import log as logging

from karbor_volume_glance import exceptions

LOG = logging.getLogger(__name__)

#: Catalog service types per service, in order of preference.
SERVICE_TYPES = {
    "cinder": ("block-storage", "volumev3", "volume"),
    "glance": ("image",),
    "nova": ("compute",),
}

#: The Cinder microversion we ask for: 3.1 adds upload-to-image's visibility.
CINDER_API_VERSION = "3.1"
GLANCE_API_VERSION = "2"
NOVA_API_VERSION = "2.1"

#: A module Karbor's protection service has loaded whenever it loads plugins.
_KARBOR_PROVIDER_MODULE = "karbor.services.protection.provider"


def inside_karbor():
    """Whether we run under Karbor's protection service (it loaded its providers)."""
    return _KARBOR_PROVIDER_MODULE in sys.modules


def default_client_factory():
    if inside_karbor():
        LOG.debug("Running inside Karbor: using Karbor's ClientFactory")
        return KarborClientFactory()
    return ContextClientFactory()


class KarborClientFactory:
    """Karbor's ``ClientFactory``, imported only when asked for a client."""

    def create_client(self, service, context):
        from karbor.services.protection.client_factory import ClientFactory

        return ClientFactory.create_client(service, context)


def _endpoint_url(endpoint, interface):
    """An endpoint's URL from a v3 (``interface``/``url``) or v2 catalog entry."""
    if endpoint.get("interface") == interface:
        return endpoint.get("url")
    return endpoint.get(f"{interface}URL")


def find_endpoint(catalog, service, interface="public", region=None):
    """The URL of ``service`` in a Keystone service catalog, or CloudError."""
    for service_type in SERVICE_TYPES[service]:
        for entry in catalog or ():
            if entry.get("type") != service_type:
                continue
            for endpoint in entry.get("endpoints", ()):
                endpoint_region = endpoint.get("region_id") or endpoint.get("region")
                if region and endpoint_region not in (None, region):
                    continue
                url = _endpoint_url(endpoint, interface)
                if url:
                    return url
    raise exceptions.CloudError(
        f"no {interface} endpoint for {service} (service types "
        f"{', '.join(SERVICE_TYPES[service])}) in the context's service catalog",
        kind=service,
    )


class ContextClientFactory:
    """Clients from a context carrying ``auth_token`` and ``service_catalog``.

    This is how a Karbor-like service acts for the user who asked: it holds
    the user's token and the catalog Keystone gave with it, not a password.
    """

    def __init__(self, interface="public", region=None):
        self.interface = interface
        self.region = region

    def session(self, context, service):
        from keystoneauth1 import session as ks_session
        from keystoneauth1 import token_endpoint

        token = getattr(context, "auth_token", None)
        if not token:
            raise exceptions.CloudError(
                f"the request context carries no auth_token for {service}",
                kind=service,
            )
        url = find_endpoint(
            getattr(context, "service_catalog", None), service,
            self.interface, self.region,
        )
        return ks_session.Session(auth=token_endpoint.Token(url, token))

    def create_client(self, service, context):
        if service not in SERVICE_TYPES:
            raise exceptions.CloudError(f"unknown service {service!r}", kind=service)
        session = self.session(context, service)
        if service == "cinder":
            from cinderclient import client as cinder_client

            return cinder_client.Client(CINDER_API_VERSION, session=session)
        if service == "glance":
            import glanceclient

            return glanceclient.Client(GLANCE_API_VERSION, session=session)
        from novaclient import client as nova_client

        return nova_client.Client(NOVA_API_VERSION, session=session)
