"""Keystone of the local cloud: tokens, the catalog, discovery, clouds.yaml."""

import glanceclient
import openstack
import openstack.config
import pytest
import requests
import yaml
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from keystoneauth1.identity import v3
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc


def test_password_auth_gives_a_scoped_token_with_the_catalog(cloud, session):
    access = session.auth.get_access(session)
    assert access.project_name == "admin"
    assert access.username == "admin"
    assert access.project_id == cloud.project_id("admin")
    assert set(access.role_names) == {"admin", "member", "reader"}
    assert access.expires > access.issued
    project = access.project_id
    expected = {
        ("identity", f"{cloud.url}/identity"),
        ("block-storage", f"{cloud.url}/volume/v3/{project}"),
        ("volumev3", f"{cloud.url}/volume/v3/{project}"),
        ("image", f"{cloud.url}/image"),
        ("compute", f"{cloud.url}/compute/v2.1"),
    }
    catalog = access.service_catalog
    for service_type, url in expected:
        for interface in ("public", "internal", "admin"):
            assert catalog.url_for(service_type=service_type, interface=interface,
                                   region_name="RegionOne") == url


def test_the_demo_user_gets_its_own_project(cloud, demo_session):
    access = demo_session.auth.get_access(demo_session)
    assert access.project_name == "demo"
    assert access.project_id == cloud.project_id("demo") != cloud.project_id()
    assert set(access.role_names) == {"member", "reader"}


def test_a_bad_password_is_401(cloud):
    auth = dict(cloud.cloud_config()["auth"], password="wrong")
    session = ks_session.Session(auth=v3.Password(**auth))
    with pytest.raises(ks_exc.Unauthorized) as caught:
        session.get_token()
    assert caught.value.http_status == 401


def test_a_project_of_another_user_is_401(cloud):
    auth = dict(cloud.cloud_config("demo")["auth"], project_name="admin")
    with pytest.raises(ks_exc.Unauthorized, match="has no access to project"):
        ks_session.Session(auth=v3.Password(**auth)).get_token()


def test_token_auth_rescopes_an_existing_token(cloud, session):
    auth = v3.Token(cloud.auth_url, session.get_token(), project_name="admin",
                    project_domain_name="Default")
    rescoped = ks_session.Session(auth=auth)
    assert rescoped.get_token() != session.get_token()
    assert rescoped.get_project_id() == cloud.project_id()


def _token_session(cloud, path, token):
    return ks_session.Session(auth=token_endpoint.Token(f"{cloud.url}{path}", token))


def test_an_unknown_token_is_401_at_every_service(cloud):
    project = cloud.project_id()
    cinder = cinder_client.Client(
        "3.1", session=_token_session(cloud, f"/volume/v3/{project}", "bogus"))
    with pytest.raises(cinder_exc.Unauthorized):
        cinder.volumes.list()
    glance = glanceclient.Client(
        "2", session=_token_session(cloud, "/image", "bogus"))
    with pytest.raises(glance_exc.HTTPUnauthorized):
        list(glance.images.list())
    nova = nova_client.Client(
        "2.1", session=_token_session(cloud, "/compute/v2.1", "bogus"))
    with pytest.raises(nova_exc.Unauthorized):
        nova.servers.list()


def test_a_missing_token_is_401_in_keystones_body(cloud):
    response = requests.get(f"{cloud.url}/volume/v3/{cloud.project_id()}/volumes")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_tokens_validate_and_revoke(cloud, session):
    token = session.get_token()
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    response = requests.get(f"{cloud.auth_url}/auth/tokens", headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Subject-Token"] == token
    assert response.json()["token"]["project"]["name"] == "admin"
    unknown = dict(headers, **{"X-Subject-Token": "nope"})
    assert requests.get(f"{cloud.auth_url}/auth/tokens",
                        headers=unknown).status_code == 404
    assert requests.delete(f"{cloud.auth_url}/auth/tokens",
                           headers=headers).status_code == 204
    assert requests.get(f"{cloud.auth_url}/auth/tokens",
                        headers=headers).status_code == 401


def test_version_documents_where_the_clients_look(cloud):
    root = requests.get(f"{cloud.url}/identity")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3")
    v3_doc = requests.get(f"{cloud.url}/identity/v3").json()["version"]
    assert v3_doc["links"][0]["href"] == f"{cloud.url}/identity/v3/"
    volume = requests.get(f"{cloud.url}/volume/").json()["versions"][0]
    assert (volume["min_version"], volume["version"]) == ("3.0", "3.70")
    assert requests.get(f"{cloud.url}/volume/v3/").json()["versions"][0]["id"] == "v3.0"
    image = requests.get(f"{cloud.url}/image/")
    assert image.status_code == 300
    assert image.json()["versions"][0]["id"] == "v2.16"
    assert requests.get(f"{cloud.url}/image/versions").status_code == 200
    compute = requests.get(f"{cloud.url}/compute/").json()["versions"]
    assert compute[-1]["id"] == "v2.1" and compute[-1]["min_version"] == "2.1"
    assert requests.get(f"{cloud.url}/compute/v2.1/").json()["version"]["id"] == "v2.1"


def _clouds_yaml(cloud, tmp_path, monkeypatch):
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {
        "local-admin": cloud.cloud_config(),
        "local-demo": cloud.cloud_config(project="demo"),
    }}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return path


def test_cloud_config_works_in_clouds_yaml(cloud, tmp_path, monkeypatch):
    _clouds_yaml(cloud, tmp_path, monkeypatch)
    config = openstack.config.OpenStackConfig()
    admin = config.get_one("local-admin")
    session = admin.get_session()
    assert session.get_project_id() == cloud.project_id()
    assert admin.get_session_endpoint("block-storage") == (
        f"{cloud.url}/volume/v3/{cloud.project_id()}"
    )
    assert admin.get_session_endpoint("image") == f"{cloud.url}/image"
    demo = config.get_one("local-demo").get_session()
    assert demo.get_project_id() == cloud.project_id("demo")


def test_openstacksdk_discovers_and_uses_the_services(cloud, tmp_path,
                                                       monkeypatch):
    _clouds_yaml(cloud, tmp_path, monkeypatch)
    conn = openstack.connect(cloud="local-admin")
    try:
        volume = conn.block_storage.create_volume(size=1, name="sdk")
        volume = conn.block_storage.wait_for_status(volume, "available",
                                                    interval=0.01, wait=10)
        assert volume.size == 1
        assert [v.id for v in conn.block_storage.volumes()] == [volume.id]
        assert list(conn.image.images()) == []
        assert list(conn.compute.servers()) == []
    finally:
        conn.close()


def test_an_in_process_context_carries_a_working_token(cloud):
    context = cloud.context("demo")
    assert context.project_id == cloud.project_id("demo") and not context.is_admin
    url = next(e["url"] for s in context.service_catalog if s["type"] == "volumev3"
               for e in s["endpoints"] if e["interface"] == "public")
    session = ks_session.Session(auth=token_endpoint.Token(url, context.auth_token))
    assert cinder_client.Client("3.1", session=session).volumes.list() == []


def test_token_create_faults(cloud):
    cloud.inject("token.create", "http", status=503)
    with pytest.raises(ks_exc.ServiceUnavailable):
        cloud.session().get_token()
    assert cloud.session().get_token()  # the fault was taken once


def test_an_unscoped_token_lists_its_project_but_reaches_no_service(cloud):
    auth = cloud.cloud_config("demo")["auth"]
    unscoped = v3.Password(auth_url=auth["auth_url"], username="demo",
                           password="secret", user_domain_name="Default",
                           unscoped=True)
    session = ks_session.Session(auth=unscoped)
    access = unscoped.get_access(session)
    assert not access.project_scoped and not access.has_service_catalog()
    projects = requests.get(f"{cloud.auth_url}/auth/projects",
                            headers={"X-Auth-Token": access.auth_token}).json()
    assert [p["name"] for p in projects["projects"]] == ["demo"]
    response = requests.get(f"{cloud.url}/image/v2/images",
                            headers={"X-Auth-Token": access.auth_token})
    assert response.status_code == 401
