"""Client factories: the catalog look-up and which factory is the default."""

import sys
import types

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.cloud import factory
from karbor_volume_glance.testing import FakeContext

CATALOG_V3 = [
    {"type": "volumev3", "name": "cinderv3", "endpoints": [
        {"interface": "internal", "region_id": "R1", "url": "http://int/volume/v3"},
        {"interface": "public", "region_id": "R1", "url": "http://pub/volume/v3"},
        {"interface": "public", "region_id": "R2", "url": "http://r2/volume/v3"},
    ]},
    {"type": "image", "name": "glance", "endpoints": [
        {"interface": "public", "region": "R1", "url": "http://pub/image"},
    ]},
    {"type": "compute", "name": "nova", "endpoints": [
        {"interface": "public", "url": "http://pub/compute/v2.1"},
    ]},
]
CATALOG_V2 = [
    {"type": "volumev3", "endpoints": [{"publicURL": "http://v2style/volume/v3",
                                        "internalURL": "http://v2int/volume/v3"}]},
]


def context(catalog=CATALOG_V3, token="tok"):
    return FakeContext(project_id="p", user_id="u", auth_token=token,
                       service_catalog=catalog)


@pytest.mark.parametrize(
    "catalog, service, interface, region, url",
    [
        (CATALOG_V3, "cinder", "public", None, "http://pub/volume/v3"),
        (CATALOG_V3, "cinder", "internal", None, "http://int/volume/v3"),
        (CATALOG_V3, "cinder", "public", "R2", "http://r2/volume/v3"),
        (CATALOG_V3, "glance", "public", "R1", "http://pub/image"),
        (CATALOG_V3, "nova", "public", None, "http://pub/compute/v2.1"),
        (CATALOG_V2, "cinder", "public", None, "http://v2style/volume/v3"),
        (CATALOG_V2, "cinder", "internal", None, "http://v2int/volume/v3"),
    ],
)
def test_find_endpoint(catalog, service, interface, region, url):
    assert factory.find_endpoint(catalog, service, interface, region) == url


def test_a_missing_service_is_named():
    with pytest.raises(exceptions.CloudError, match="no public endpoint for glance"):
        factory.find_endpoint(CATALOG_V2, "glance")


def test_clients_use_the_token_and_the_catalog_endpoint(monkeypatch):
    # negotiation asks the server; the functional tests do that over HTTP
    from cinderclient import api_versions

    asked = []
    monkeypatch.setattr(
        factory, "negotiated_cinder_version",
        lambda session, **endpoint: asked.append(session.get_endpoint())
        or api_versions.APIVersion("3.1"),
    )
    clients = factory.ContextClientFactory()
    cinder = clients.create_client("cinder", context())
    assert cinder.client.session.get_endpoint() == "http://pub/volume/v3"
    assert cinder.client.session.get_token() == "tok"
    assert cinder.api_version.get_string() == "3.1"
    assert asked == ["http://pub/volume/v3"]
    glance = clients.create_client("glance", context())
    assert glance.http_client.session.get_endpoint() == "http://pub/image"
    nova = clients.create_client("nova", context())
    assert nova.client.session.get_endpoint() == "http://pub/compute/v2.1"


def test_a_context_without_a_token_is_refused():
    with pytest.raises(exceptions.CloudError, match="no auth_token for cinder"):
        factory.ContextClientFactory().create_client("cinder", context(token=None))


def test_an_unknown_service_is_refused():
    with pytest.raises(exceptions.CloudError, match="unknown service 'swift'"):
        factory.ContextClientFactory().create_client("swift", context())


def test_inside_karbor_the_default_is_karbors_factory(monkeypatch):
    assert isinstance(factory.default_client_factory(), factory.ContextClientFactory)
    made = []

    class ClientFactory:
        @classmethod
        def create_client(cls, service, ctx):
            made.append((service, ctx))
            return f"karbor-{service}"

    fake_module = types.ModuleType("karbor.services.protection.client_factory")
    fake_module.ClientFactory = ClientFactory
    monkeypatch.setitem(sys.modules, factory._KARBOR_PROVIDER_MODULE,
                        types.ModuleType("provider"))
    monkeypatch.setitem(sys.modules, "karbor.services.protection.client_factory",
                        fake_module)
    default = factory.default_client_factory()
    assert isinstance(default, factory.KarborClientFactory)
    assert default.create_client("glance", "ctx") == "karbor-glance"
    assert made == [("glance", "ctx")]



def test_a_session_factory_negotiates_cinders_version_once(monkeypatch):
    """Its clients share one session (one endpoint, one user): the version
    negotiated for the first is every later one's, with no GET of it."""
    from karbor_volume_glance.testing import FakeCloud

    real, asked = factory.negotiated_cinder_version, []

    def negotiated(session, **endpoint):
        asked.append(session)
        return real(session, **endpoint)

    monkeypatch.setattr(factory, "negotiated_cinder_version", negotiated)
    cloud = FakeCloud()
    clients = factory.SessionClientFactory(cloud.session())
    volume_id = cloud.add_volume(data=b"abc")
    made = [clients.create_client("cinder") for _ in range(4)]
    assert asked == [clients.session]
    assert {c.api_version.get_string() for c in made} == {
        factory.CINDER_API_VERSION}
    assert made[-1].volumes.get(volume_id).status == "available"
    # another factory (another session) asks for itself
    other = factory.SessionClientFactory(cloud.session())
    other.create_client("cinder")
    assert asked == [clients.session, other.session]


def test_a_session_factory_keeps_one_client_per_service():
    """A conductor's jobs share its clients: the same object each time, so
    Glance's image schema is fetched once and no client is built per job."""
    from karbor_volume_glance.testing import FakeCloud

    cloud = FakeCloud()
    clients = factory.SessionClientFactory(cloud.session())
    for service in ("cinder", "glance", "nova"):
        first = clients.create_client(service)
        assert clients.create_client(service, context()) is first
    assert clients.create_client("glance") is not clients.create_client("cinder")


def test_cached_clients_are_not_shared_across_projects():
    """Each factory is one session, so one project: a client kept by one
    factory is never another's, and sees only its own project's volumes."""
    from karbor_volume_glance.testing import FakeCloud

    cloud = FakeCloud()
    mine = factory.SessionClientFactory(cloud.session())
    theirs = factory.SessionClientFactory(cloud.session(project_id="other"))
    volume_id = cloud.add_volume(data=b"abc")
    cinder_mine, cinder_theirs = (f.create_client("cinder") for f in (mine, theirs))
    assert cinder_mine is not cinder_theirs
    assert mine.create_client("glance") is not theirs.create_client("glance")
    assert [v.id for v in cinder_mine.volumes.list()] == [volume_id]
    assert cinder_theirs.volumes.list() == []
    assert mine.create_client("cinder").volumes.list()[0].id == volume_id
    assert theirs.create_client("cinder").volumes.list() == []


def test_a_kept_clients_endpoint_is_found_once(monkeypatch):
    """The catalog is searched when the client is made, never per request,
    and the endpoint is the one the catalog gives the client's filter."""
    from karbor_volume_glance.testing import FakeCloud

    cloud = FakeCloud()
    session = cloud.session()
    clients = factory.SessionClientFactory(session)
    glance = clients.create_client("glance")
    cinder = clients.create_client("cinder")
    assert glance.http_client.endpoint_override == session.get_endpoint(
        service_type="image", interface="public")
    assert cinder.client.endpoint_override == cinder.client.session.get_endpoint(
        service_type=cinder.client.service_type, interface="public")
    looked_up = []
    real = type(session.auth).get_endpoint

    def get_endpoint(self, *args, **kwargs):
        looked_up.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(session.auth), "get_endpoint", get_endpoint)
    volume_id = cloud.add_volume(data=b"abc")
    image_id = cloud.add_image(data=b"xyz")
    for _ in range(3):
        assert cinder.volumes.get(volume_id).status == "available"
        assert glance.images.get(image_id).status == "active"
    assert looked_up == []


def test_an_endpoint_with_a_percent_is_left_to_the_catalog():
    """keystoneauth1 formats an override (``%(project_id)s``): a URL that
    has a ``%`` of its own is not pinned."""
    from keystoneauth1 import adapter

    class Client:
        def __init__(self, url):
            self.client = adapter.Adapter(session=None)
            self.client.get_endpoint = lambda: url

    percent = factory.pin_endpoint(Client("http://h/a%20b"))
    assert percent.client.endpoint_override is None
    plain = factory.pin_endpoint(Client("http://h/v3"))
    assert plain.client.endpoint_override == "http://h/v3"
    assert factory.pin_endpoint(object()) is not None  # no adapter: left as it is


def _requests_and_ours():
    """requests' own Session and one that reads the environment once."""
    import requests
    from keystoneauth1 import session as ks_session

    ours = factory.read_environment_once(ks_session.Session()).session
    return requests.Session(), ours


PROXY_ENVIRONMENTS = [
    {},
    {"http_proxy": "http://proxy:3128", "https_proxy": "http://sproxy:3128"},
    {"http_proxy": "http://proxy:3128", "no_proxy": "keystone.example,127.0.0.1"},
    {"HTTPS_PROXY": "http://sproxy:3128", "NO_PROXY": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem", "all_proxy": "socks5://s:1080"},
]


@pytest.mark.parametrize("environment", PROXY_ENVIRONMENTS)
@pytest.mark.parametrize("url", ["http://keystone.example:5000/v3/auth",
                                 "https://glance.example/v2/images/x",
                                 "http://127.0.0.1:9292/v2/images"])
@pytest.mark.parametrize("proxies, verify", [
    ({}, True), ({}, None), ({"no_proxy": "glance.example"}, True),
    ({"http": "http://mine:1"}, "/my/ca.pem"), ({}, False)])
def test_the_environment_read_once_merges_as_requests_does(
        monkeypatch, environment, url, proxies, verify):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    theirs, ours = _requests_and_ours()
    for _ in range(2):  # the first look and the kept one
        assert ours.merge_environment_settings(
            url, dict(proxies), None, verify, None
        ) == theirs.merge_environment_settings(
            url, dict(proxies), None, verify, None)


def test_the_environment_is_read_once_per_host(monkeypatch):
    from requests import utils

    asked = []
    real = utils.get_environ_proxies
    monkeypatch.setattr(utils, "get_environ_proxies",
                        lambda url, no_proxy=None: asked.append(url)
                        or real(url, no_proxy=no_proxy))
    _, ours = _requests_and_ours()
    for path in ("v2/images", "v2/images/a", "v2/images/b/file"):
        ours.merge_environment_settings(f"http://glance:9292/{path}", {},
                                        None, True, None)
        ours.merge_environment_settings(f"http://cinder:8776/{path}", {},
                                        None, True, None)
    assert asked == ["http://glance:9292/v2/images",
                     "http://cinder:8776/v2/images"]


def test_reading_the_environment_once_keeps_the_sessions_settings():
    """keystoneauth1's keep-alive adapters, its headers and its verify stay."""
    import requests
    from keystoneauth1 import session as ks_session

    session = ks_session.Session(verify="/ca.pem")
    adapters, headers = dict(session.session.adapters), session.session.headers
    assert factory.read_environment_once(session) is session
    assert type(session.session) is not requests.Session
    assert dict(session.session.adapters) == adapters
    assert session.session.headers is headers
    assert session.verify == "/ca.pem"
    # a requests session of someone else's class is left alone
    other = ks_session.Session(session=type("Mine", (requests.Session,), {})())
    kept = other.session
    factory.read_environment_once(other)
    assert other.session is kept


def test_a_clouds_yaml_session_reads_the_environment_once(tmp_path, monkeypatch):
    import requests

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  c:\n    auth_type: token\n    auth:\n"
                      "      auth_url: http://keystone.invalid/v3\n"
                      "      token: t\n      project_id: p\n")
    clients = factory.from_cloud_config("c", str(clouds))
    assert isinstance(clients.session.session, requests.Session)
    assert type(clients.session.session) is not requests.Session
    assert hasattr(clients.session.session, "_environments")
