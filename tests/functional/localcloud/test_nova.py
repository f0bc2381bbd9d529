"""Nova of the local cloud through the real novaclient: servers and attachments."""


import pytest
from cinderclient import exceptions as cinder_exc
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from tests.functional.localcloud.helpers import (
    wait_gone,
    wait_status,
)


def _server(nova, **options):
    server = nova.servers.create("vm", "any-image", "any-flavor", **options)
    assert wait_status(nova.servers, server.id, "ACTIVE") == ["BUILD", "ACTIVE"]
    return server


def test_servers_are_stubs_that_become_active(nova):
    server = _server(nova)
    shown = nova.servers.get(server.id)
    assert shown.name == "vm" and shown.image["id"] == "any-image"
    assert [s.id for s in nova.servers.list()] == [server.id]
    assert [s.id for s in nova.servers.list(detailed=False)] == [server.id]
    nova.servers.delete(server.id)
    wait_gone(nova.servers, server.id, nova_exc.NotFound)


def test_attach_and_detach(cinder, nova):
    server = _server(nova)
    volume = cinder.volumes.create(1)
    with pytest.raises(nova_exc.BadRequest, match="status must be 'available'"):
        nova.volumes.create_server_volume(server.id, volume.id)  # still creating
    wait_status(cinder.volumes, volume.id, "available")
    attachment = nova.volumes.create_server_volume(server.id, volume.id)
    assert attachment.device == "/dev/vdb" and attachment.serverId == server.id
    seen = wait_status(cinder.volumes, volume.id, "in-use")
    assert seen == ["attaching", "in-use"]
    attachments = cinder.volumes.get(volume.id).attachments
    assert [(a["server_id"], a["device"]) for a in attachments] == [
        (server.id, "/dev/vdb")
    ]
    assert [a.volumeId for a in nova.volumes.get_server_volumes(server.id)] == [
        volume.id
    ]
    assert nova.volumes.get_server_volume(server.id, volume.id).device == "/dev/vdb"
    assert nova.servers.get(server.id).to_dict()[
        "os-extended-volumes:volumes_attached"] == [{"id": volume.id}]
    with pytest.raises(cinder_exc.BadRequest, match="attached"):
        cinder.volumes.delete(volume.id)
    nova.volumes.delete_server_volume(server.id, volume.id)
    assert wait_status(cinder.volumes, volume.id, "available") == [
        "detaching", "available"
    ]
    assert cinder.volumes.get(volume.id).attachments == []
    with pytest.raises(nova_exc.NotFound):
        nova.volumes.delete_server_volume(server.id, volume.id)
    cinder.volumes.delete(volume.id)


def test_devices_are_chosen_in_order_or_as_asked(cinder, nova):
    server = _server(nova)
    volumes = [cinder.volumes.create(1) for _ in range(3)]
    for volume in volumes:
        wait_status(cinder.volumes, volume.id, "available")
    first = nova.volumes.create_server_volume(server.id, volumes[0].id)
    second = nova.volumes.create_server_volume(server.id, volumes[1].id, "/dev/vdf")
    with pytest.raises(nova_exc.BadRequest, match="in use"):
        nova.volumes.create_server_volume(server.id, volumes[2].id, "/dev/vdf")
    third = nova.volumes.create_server_volume(server.id, volumes[2].id)
    assert [first.device, second.device, third.device] == [
        "/dev/vdb", "/dev/vdf", "/dev/vdc"
    ]


def test_the_attachment_view_follows_the_microversion(cinder, session):
    nova = nova_client.Client("2.89", session=session)
    server = _server(nova, nics="none")
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    attachment = nova.volumes.create_server_volume(server.id, volume.id)
    view = attachment.to_dict()
    assert "attachment_id" in view and "id" not in view
    assert view["delete_on_termination"] is False and view["tag"] is None


def test_deleting_a_server_detaches_its_volumes(cinder, nova):
    server = _server(nova)
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    nova.volumes.create_server_volume(server.id, volume.id)
    wait_status(cinder.volumes, volume.id, "in-use")
    nova.servers.delete(server.id)
    assert wait_status(cinder.volumes, volume.id, "available")[-1] == "available"
    wait_gone(nova.servers, server.id, nova_exc.NotFound)


def test_swap_is_refused_as_current_nova_does(cinder, nova):
    server = _server(nova)
    old, new = cinder.volumes.create(1), cinder.volumes.create(1)
    for volume in (old, new):
        wait_status(cinder.volumes, volume.id, "available")
    nova.volumes.create_server_volume(server.id, old.id)
    wait_status(cinder.volumes, old.id, "in-use")
    with pytest.raises(nova_exc.Conflict, match="Cinder volume migration"):
        nova.volumes.update_server_volume(server.id, old.id, new.id)
    assert cinder.volumes.get(old.id).status == "in-use"
    assert cinder.volumes.get(new.id).status == "available"
