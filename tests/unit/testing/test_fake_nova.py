"""The fake Nova attaches, detaches and (refuses to) swap volumes like Nova."""

import pytest
from novaclient import api_versions
from novaclient import exceptions as nova_exceptions
from novaclient.v2 import servers, volumes

from karbor_volume_glance.testing.fakecloud import FakeCloud


def clients(cloud):
    factory = cloud.client_factory()
    context = cloud.context()
    return factory.create_client("nova", context), factory.create_client(
        "cinder", context
    )


@pytest.fixture
def cloud():
    return FakeCloud()


def test_client_speaks_api_2_1(cloud):
    nova, _cinder = clients(cloud)
    assert nova.api_version == api_versions.APIVersion("2.1")


def test_created_server_is_active_and_listed(cloud):
    nova, _cinder = clients(cloud)

    server = nova.servers.create("vm", "image-id", "flavor-id")

    assert isinstance(server, servers.Server)
    assert (server.name, server.status) == ("vm", "ACTIVE")
    assert [s.id for s in nova.servers.list()] == [server.id]
    assert nova.servers.get(server.id).id == server.id


def test_get_of_a_missing_server_is_nova_not_found(cloud):
    nova, _cinder = clients(cloud)
    with pytest.raises(nova_exceptions.NotFound) as caught:
        nova.servers.get("missing")
    assert caught.value.code == 404


def test_attach_makes_the_volume_attaching_then_in_use(cloud):
    nova, cinder = clients(cloud)
    server_id = cloud.add_server()
    volume_id = cloud.add_volume()

    attachment = nova.volumes.create_server_volume(server_id, volume_id)

    assert isinstance(attachment, volumes.Volume)
    assert (attachment.serverId, attachment.volumeId, attachment.device) == (
        server_id,
        volume_id,
        "/dev/vdb",
    )
    assert [cinder.volumes.get(volume_id).status for _ in range(2)] == [
        "attaching",
        "in-use",
    ]
    assert cinder.volumes.get(volume_id).attachments[0]["server_id"] == server_id


def test_attach_picks_the_next_free_device(cloud):
    nova, _cinder = clients(cloud)
    server_id = cloud.add_server()
    cloud.add_volume(server_id=server_id)

    attachment = nova.volumes.create_server_volume(server_id, cloud.add_volume())

    assert attachment.device == "/dev/vdc"


def test_attach_of_a_volume_that_is_not_available_is_refused(cloud):
    nova, _cinder = clients(cloud)
    volume_id = cloud.add_volume(server_id=cloud.add_server())

    with pytest.raises(nova_exceptions.BadRequest):
        nova.volumes.create_server_volume(cloud.add_server(), volume_id)


def test_attach_to_a_missing_server_is_not_found(cloud):
    nova, _cinder = clients(cloud)
    with pytest.raises(nova_exceptions.NotFound):
        nova.volumes.create_server_volume("missing", cloud.add_volume())


def test_detach_makes_the_volume_detaching_then_available(cloud):
    nova, cinder = clients(cloud)
    server_id = cloud.add_server()
    volume_id = cloud.add_volume(server_id=server_id)

    nova.volumes.delete_server_volume(server_id, volume_id)

    assert [cinder.volumes.get(volume_id).status for _ in range(2)] == [
        "detaching",
        "available",
    ]
    assert nova.volumes.get_server_volumes(server_id) == []


def test_detach_of_a_volume_not_on_the_server_is_not_found(cloud):
    nova, _cinder = clients(cloud)
    with pytest.raises(nova_exceptions.NotFound):
        nova.volumes.delete_server_volume(cloud.add_server(), cloud.add_volume())


def test_get_server_volumes_lists_the_attachments(cloud):
    nova, _cinder = clients(cloud)
    server_id = cloud.add_server()
    volume_id = cloud.add_volume(server_id=server_id)

    [attachment] = nova.volumes.get_server_volumes(server_id)

    assert (attachment.id, attachment.volumeId, attachment.device) == (
        volume_id,
        volume_id,
        "/dev/vdb",
    )


def test_swap_conflicts_by_default(cloud):
    nova, _cinder = clients(cloud)
    server_id = cloud.add_server()
    old_id = cloud.add_volume(server_id=server_id)

    with pytest.raises(nova_exceptions.Conflict) as caught:
        nova.volumes.update_server_volume(server_id, old_id, cloud.add_volume())
    assert caught.value.code == 409


def test_accepted_swap_moves_the_device_and_copies_the_old_bytes():
    cloud = FakeCloud(nova_accepts_swap=True)
    nova, _cinder = clients(cloud)
    server_id = cloud.add_server()
    old_id = cloud.add_volume(b"old", server_id=server_id)
    new_id = cloud.add_volume(b"new")

    attachment = nova.volumes.update_server_volume(server_id, old_id, new_id)
    cloud.settle()

    assert attachment.device == "/dev/vdb"
    assert cloud.attachments() == [(server_id, new_id, "/dev/vdb")]
    assert (cloud.status_of("volume", old_id), cloud.status_of("volume", new_id)) == (
        "available",
        "in-use",
    )
    assert cloud.volume_data(new_id) == b"old"


def test_swap_into_a_smaller_volume_is_refused():
    cloud = FakeCloud(nova_accepts_swap=True)
    nova, _cinder = clients(cloud)
    server_id = cloud.add_server()
    old_id = cloud.add_volume(size=2, server_id=server_id)

    with pytest.raises(nova_exceptions.BadRequest):
        nova.volumes.update_server_volume(server_id, old_id, cloud.add_volume(size=1))


def test_deleting_a_server_detaches_its_volumes(cloud):
    nova, _cinder = clients(cloud)
    server = nova.servers.create("vm", None, "flavor")
    volume_id = cloud.add_volume(server_id=server.id)

    nova.servers.delete(server)

    assert cloud.status_of("volume", volume_id) == "available"
    assert cloud.attachments() == []
