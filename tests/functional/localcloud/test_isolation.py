"""Each project sees and touches only its own resources (and public images)."""

import pytest
from cinderclient import exceptions as cinder_exc
from glanceclient import exc as glance_exc
from novaclient import exceptions as nova_exc

from tests.functional.localcloud.helpers import image_with, wait_status


def test_another_projects_volumes_and_snapshots_are_not_found(cinder, demo_cinder):
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    snapshot = cinder.volume_snapshots.create(volume.id)
    wait_status(cinder.volume_snapshots, snapshot.id, "available")
    with pytest.raises(cinder_exc.NotFound):
        demo_cinder.volumes.get(volume.id)
    with pytest.raises(cinder_exc.NotFound):
        demo_cinder.volumes.delete(volume.id)
    with pytest.raises(cinder_exc.NotFound):
        demo_cinder.volume_snapshots.get(snapshot.id)
    with pytest.raises(cinder_exc.NotFound):
        demo_cinder.volume_snapshots.create(volume.id)
    with pytest.raises(cinder_exc.NotFound):
        demo_cinder.volumes.create(1, snapshot_id=snapshot.id)
    with pytest.raises(cinder_exc.NotFound):
        demo_cinder.volumes.upload_to_image(volume.id, False, "x", "bare", "raw",
                                            "private", False)
    assert demo_cinder.volumes.list() == []
    assert demo_cinder.volume_snapshots.list() == []
    assert demo_cinder.volumes.list(search_opts={"all_tenants": 1}) == []
    assert cinder.volumes.get(volume.id).status == "available"


def test_the_admin_lists_only_its_own_unless_all_tenants(cinder, demo_cinder):
    mine = demo_cinder.volumes.create(1)
    assert cinder.volumes.list() == []
    everyone = cinder.volumes.list(search_opts={"all_tenants": 1})
    assert [v.id for v in everyone] == [mine.id]
    assert cinder.volumes.get(mine.id).id == mine.id  # as Cinder's admin


def test_private_images_are_hidden_public_ones_shared(glance, demo_glance):
    private = image_with(glance, b"private", visibility="private")
    public = image_with(glance, b"public", visibility="public")
    with pytest.raises(glance_exc.HTTPNotFound):
        demo_glance.images.get(private)
    with pytest.raises(glance_exc.HTTPNotFound):
        demo_glance.images.delete(private)
    assert [i["id"] for i in demo_glance.images.list()] == [public]
    assert b"".join(demo_glance.images.data(public)) == b"public"
    with pytest.raises(glance_exc.HTTPForbidden):
        demo_glance.images.delete(public)
    with pytest.raises(glance_exc.HTTPForbidden, match="publicize_image"):
        demo_glance.images.create(name="mine", visibility="public")


def test_another_projects_servers_are_not_found(nova, demo_nova, cinder,
                                                demo_cinder):
    server = nova.servers.create("vm", "image", "flavor")
    wait_status(nova.servers, server.id, "ACTIVE")
    with pytest.raises(nova_exc.NotFound):
        demo_nova.servers.get(server.id)
    assert demo_nova.servers.list() == []
    theirs = demo_cinder.volumes.create(1)
    wait_status(demo_cinder.volumes, theirs.id, "available")
    with pytest.raises(nova_exc.NotFound):
        demo_nova.volumes.create_server_volume(server.id, theirs.id)
    mine = cinder.volumes.create(1)
    wait_status(cinder.volumes, mine.id, "available")
    demo_server = demo_nova.servers.create("theirs", "image", "flavor")
    wait_status(demo_nova.servers, demo_server.id, "ACTIVE")
    with pytest.raises(nova_exc.NotFound, match="Volume"):
        demo_nova.volumes.create_server_volume(demo_server.id, mine.id)


def test_a_url_of_another_project_is_a_malformed_request(cloud, demo_session):
    path = f"{cloud.url}/volume/v3/{cloud.project_id('admin')}/volumes"
    response = demo_session.get(path, raise_exc=False)
    assert response.status_code == 400
    assert response.json()["badRequest"]["message"] == "Malformed request url"
