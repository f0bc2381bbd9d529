"""Where the plugin's Cinder, Glance and Nova clients come from.

A client factory is any object with ``create_client(service, context)`` for
``'cinder'``, ``'glance'`` and ``'nova'``. :func:`default_client_factory`
picks Karbor's own factory when the plugin runs inside Karbor's protection
service (so Karbor's ``[cinder_client]``/``[glance_client]`` settings apply),
and otherwise :class:`ContextClientFactory`, which builds clients from the
request context's token and service catalog through a keystoneauth1 session.

Standalone, :class:`SessionClientFactory` makes clients from a keystoneauth1
session, and :func:`from_cloud_config` from a clouds.yaml cloud (read by
openstacksdk's config loader: ``OS_CLOUD``, ``OS_CLIENT_CONFIG_FILE`` and the
usual file locations). Every factory negotiates the Cinder microversion.

A :class:`SessionClientFactory` keeps the clients it made, one per service,
each with its endpoint found once (:func:`pin_endpoint`): its session is one
user's in one project, so a conductor's jobs (or a plan's volumes) share
them, and no request searches the catalog again nor fetches Glance's image
schema again. The other factories make a client per call: theirs are the
clients of the context they are given (its token, its project).

A clouds.yaml session reads the environment's proxy settings once per
scheme and host (:func:`read_environment_once`) rather than on every
request, as ``requests`` does (a scan of the whole environment, about a
third of a small request's CPU).
"""

import functools
import os
import sys
import threading
import urllib.parse

from oslo_log import log as logging

from karbor_volume_glance import exceptions

LOG = logging.getLogger(__name__)

#: Catalog service types per service, in order of preference.
SERVICE_TYPES = {
    "cinder": ("block-storage", "volumev3", "volume"),
    "glance": ("image",),
    "nova": ("compute",),
}

#: The Cinder microversion we ask for: 3.1 adds upload-to-image's visibility,
#: 3.3 the user messages that say why asynchronous work failed, 3.5 their
#: filtering by resource. An older server gets its highest version; the facade
#: then leaves visibility out of the upload (Cinder's default for it is
#: private), and errors go without Cinder's reason below 3.3.
CINDER_API_VERSION = "3.5"
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
        return make_client(service, session)


def negotiated_cinder_version(session, **endpoint):
    """The Cinder microversion to use: ours, or the server's highest below it."""
    from cinderclient import api_versions
    from cinderclient import client as cinder_client

    probe = cinder_client.Client("3.0", session=session, **endpoint)
    wanted = api_versions.APIVersion(CINDER_API_VERSION)
    try:
        version = api_versions.discover_version(probe, wanted)
    except Exception as exc:
        raise exceptions.CloudError(
            f"cannot agree on a Cinder API version: {type(exc).__name__}: {exc}",
            kind="cinder",
        ) from exc
    LOG.debug("Using Cinder microversion %s", version.get_string())
    return version


def _endpoint(region_name, interface):
    """The clients' endpoint filter: the region and interface given."""
    return {key: value
            for key, value in (("region_name", region_name),
                               ("interface", interface)) if value}


def make_client(service, session, region_name=None, interface=None,
                cinder_version=None):
    """A client of ``service`` over a keystoneauth1 session (Cinder's at
    ``cinder_version`` when given, else at the one negotiated now)."""
    endpoint = _endpoint(region_name, interface)
    if service == "cinder":
        from cinderclient import client as cinder_client

        version = cinder_version or negotiated_cinder_version(session,
                                                              **endpoint)
        return cinder_client.Client(version, session=session, **endpoint)
    if service == "glance":
        import glanceclient

        return glanceclient.Client(GLANCE_API_VERSION, session=session, **endpoint)
    if service == "nova":
        from novaclient import client as nova_client

        if "interface" in endpoint:
            endpoint["endpoint_type"] = endpoint.pop("interface")
        return nova_client.Client(NOVA_API_VERSION, session=session, **endpoint)
    raise exceptions.CloudError(f"unknown service {service!r}", kind=service)


def _adapter(client):
    """The keystoneauth1 adapter a client sends its requests through (None
    for a client that has none): glanceclient's ``http_client`` (an
    ``Adapter``), cinderclient's and novaclient's ``client`` (a
    ``LegacyJsonAdapter``; both are keystoneauth1's ``_BaseAdapter``)."""
    for name in ("http_client", "client"):
        found = getattr(client, name, None)
        if (hasattr(found, "endpoint_override")
                and callable(getattr(found, "get_endpoint", None))):
            return found
    return None


def pin_endpoint(client):
    """Find the client's endpoint in the catalog once, and keep it as its
    ``endpoint_override``: keystoneauth1 otherwise searches the catalog (a
    deep copy of it) on every request. The URL is the one the catalog gives
    the client's own filter (service type, interface, region), so the
    requests go where they went; a URL with a ``%`` is left to the look-up
    (keystoneauth1 formats an override with the project's id)."""
    found = _adapter(client)
    if found is None or found.endpoint_override:
        return client
    url = found.get_endpoint()
    if url and "%" not in url:
        found.endpoint_override = url
    return client


class SessionClientFactory:
    """Clients over one keystoneauth1 session (its catalog finds the endpoints).

    The session is one user's in one project, so the factory makes one
    client per service and gives it to every caller (the ``context`` is not
    looked at: the session says who calls): a plan's volumes and a
    conductor's jobs share them, with their endpoints found once
    (:func:`pin_endpoint`), the Cinder microversion negotiated once (no new
    ``GET /`` of Cinder's versions) and Glance's image schema fetched once.
    The clients are thread-safe as their session is (keystoneauth1's, over
    one ``requests`` session, is shared by all of them anyway).
    """

    def __init__(self, session, region_name=None, interface=None):
        self.session = session
        self.region_name = region_name
        self.interface = interface
        self._cinder_version = None
        self._clients = {}
        self._lock = threading.Lock()

    def create_client(self, service, context=None):
        if service not in SERVICE_TYPES:
            raise exceptions.CloudError(f"unknown service {service!r}", kind=service)
        with self._lock, _cloud_errors(f"creating the {service} client",
                                       service):
            if service not in self._clients:
                if service == "cinder" and self._cinder_version is None:
                    self._cinder_version = negotiated_cinder_version(
                        self.session, **_endpoint(self.region_name,
                                                  self.interface))
                self._clients[service] = pin_endpoint(make_client(
                    service, self.session, self.region_name, self.interface,
                    cinder_version=self._cinder_version))
            return self._clients[service]


@functools.cache
def _environment_once_session():
    """The class of :func:`read_environment_once` (``requests`` imported
    when a session is made)."""
    import requests
    from requests import sessions, utils

    class EnvironmentOnceSession(requests.Session):
        """requests' Session that reads the environment's settings (proxies,
        ``no_proxy``, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``) once per
        scheme, host and ``no_proxy`` asked, then merges them as requests
        does (:meth:`requests.Session.merge_environment_settings`)."""

        def merge_environment_settings(self, url, proxies, stream, verify,
                                       cert):
            if self.trust_env:
                no_proxy = proxies.get("no_proxy") if proxies is not None else None
                env_proxies, bundle = self._environment(url, no_proxy)
                if proxies is not None:
                    for key, value in env_proxies.items():
                        proxies.setdefault(key, value)
                if verify is True or verify is None:
                    verify = bundle or verify
            return {"proxies": sessions.merge_setting(proxies, self.proxies),
                    "stream": sessions.merge_setting(stream, self.stream),
                    "verify": sessions.merge_setting(verify, self.verify),
                    "cert": sessions.merge_setting(cert, self.cert)}

        def _environment(self, url, no_proxy):
            parts = urllib.parse.urlsplit(url)
            key = (parts.scheme, parts.netloc, no_proxy)
            found = self._environments.get(key)
            if found is None:
                found = (utils.get_environ_proxies(url, no_proxy=no_proxy),
                         os.environ.get("REQUESTS_CA_BUNDLE")
                         or os.environ.get("CURL_CA_BUNDLE"))
                self._environments[key] = found  # a race computes it twice
            return found

    return EnvironmentOnceSession


def read_environment_once(session):
    """Make the keystoneauth1 ``session`` read the environment's proxy and
    CA bundle settings once per scheme and host, not on every request: its
    ``requests`` session replaced by one of the same settings and adapters
    (a session whose ``requests`` session is not requests' own is left as
    it is)."""
    import requests

    original = getattr(session, "session", None)
    if type(original) is not requests.Session:
        return session
    replacement = _environment_once_session()()
    replacement.__dict__.update(original.__dict__)
    replacement._environments = {}
    session.session = replacement
    return session


def from_cloud_config(cloud=None, config_file=None):
    """A SessionClientFactory for a clouds.yaml cloud (None: ``OS_CLOUD``).

    ``config_file`` adds a clouds.yaml to the places openstacksdk looks
    (``OS_CLIENT_CONFIG_FILE`` does the same from the environment).
    """
    from openstack import config as os_config

    with _cloud_errors(f"loading cloud {cloud!r} from clouds.yaml", "cloud"):
        loader = os_config.OpenStackConfig(
            config_files=[config_file] if config_file else None,
            load_envvars=True,
        )
        region = loader.get_one(cloud=cloud)
        session = read_environment_once(region.get_session())
    return SessionClientFactory(
        session, region_name=region.region_name or None,
        interface=region.interface or None,
    )


class _cloud_errors:
    """Turn any error of a block into CloudError saying what was being done."""

    def __init__(self, action, kind):
        self.action = action
        self.kind = kind

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, exceptions.VolumeGlanceError):
            return False
        raise exceptions.CloudError(
            f"{self.action} failed: {type(exc).__name__}: {exc}", kind=self.kind
        ) from exc


def session_context(session):
    """A request context of who a keystoneauth1 session's token is, as
    Keystone reported it (keystoneauth's access info): ``project_id``,
    ``project_name``, ``project_domain_name``, ``user_id``, ``roles`` and
    ``is_admin`` (the ``admin`` role), as Karbor's RequestContext has them."""
    import types

    access = session.auth.get_access(session)
    roles = tuple(access.role_names or ())
    return types.SimpleNamespace(
        project_id=access.project_id, user_id=access.user_id,
        project_name=access.project_name,
        project_domain_name=access.project_domain_name,
        roles=roles, is_admin="admin" in roles)
