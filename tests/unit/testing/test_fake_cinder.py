"""The fake Cinder behaves as Cinder's API does, through cinderclient's types."""

import pytest
from cinderclient import api_versions
from cinderclient import exceptions as cinder_exceptions
from cinderclient.v3 import volume_snapshots, volumes

from karbor_volume_glance.testing.fakecloud import FakeCloud


@pytest.fixture
def cloud():
    return FakeCloud(transition_polls=1)


@pytest.fixture
def cinder(cloud):
    return cloud.client_factory().create_client("cinder", cloud.context())


@pytest.fixture
def glance(cloud):
    return cloud.client_factory().create_client("glance", cloud.context())


def statuses(manager, resource_id, polls):
    return [manager.get(resource_id).status for _ in range(polls)]


def wait_available(manager, resource_id):
    for _ in range(20):
        if manager.get(resource_id).status == "available":
            return
    raise AssertionError(f"{resource_id} never became available")


# --- reading -----------------------------------------------------------------


def test_client_speaks_microversion_3_59(cinder):
    assert cinder.api_version == api_versions.APIVersion("3.59")


def test_get_returns_cinderclient_volume_with_v3_fields(cloud, cinder):
    volume_id = cloud.add_volume(b"x", size=2, name="data")

    volume = cinder.volumes.get(volume_id)

    assert isinstance(volume, volumes.Volume)
    assert (volume.id, volume.name, volume.size, volume.status) == (
        volume_id,
        "data",
        2,
        "available",
    )
    assert volume.bootable == "false"
    assert volume.attachments == []
    assert volume.to_dict()["created_at"].count("T") == 1


def test_get_accepts_a_volume_object(cloud, cinder):
    volume = cinder.volumes.get(cloud.add_volume())
    assert cinder.volumes.get(volume).id == volume.id


def test_get_of_a_missing_volume_is_cinder_not_found(cinder):
    with pytest.raises(cinder_exceptions.NotFound) as caught:
        cinder.volumes.get("nope")
    assert caught.value.code == 404
    assert "Volume nope could not be found." in str(caught.value)


def test_attached_volume_shows_its_attachment(cloud, cinder):
    server_id = cloud.add_server()
    volume_id = cloud.add_volume(server_id=server_id)

    volume = cinder.volumes.get(volume_id)

    assert volume.status == "in-use"
    [attachment] = volume.attachments
    assert attachment["server_id"] == server_id
    assert attachment["device"] == "/dev/vdb"
    assert attachment["attachment_id"]


def test_list_filters_by_name_and_status(cloud, cinder):
    wanted = cloud.add_volume(name="a")
    cloud.add_volume(name="b")
    cloud.add_volume(name="a", status="error")

    found = cinder.volumes.list(search_opts={"name": "a", "status": "available"})

    assert [v.id for v in found] == [wanted]


# --- creating ----------------------------------------------------------------


def test_new_volume_is_creating_then_available(cinder):
    volume = cinder.volumes.create(1, name="empty")

    assert volume.status == "creating"
    assert statuses(cinder.volumes, volume.id, 3) == [
        "creating",
        "available",
        "available",
    ]


def test_volume_from_snapshot_gets_the_snapshot_bytes(cloud, cinder):
    source_id = cloud.add_volume(b"\x00\x01payload", size=2)
    snapshot = cinder.volume_snapshots.create(source_id)
    wait_available(cinder.volume_snapshots, snapshot.id)

    volume = cinder.volumes.create(2, snapshot_id=snapshot.id)
    wait_available(cinder.volumes, volume.id)

    assert cinder.volumes.get(volume.id).snapshot_id == snapshot.id
    assert cloud.volume_data(volume.id) == b"\x00\x01payload"


def test_volume_from_source_volume_gets_its_bytes(cloud, cinder):
    source_id = cloud.add_volume(b"clone me")

    volume = cinder.volumes.create(1, source_volid=source_id)
    wait_available(cinder.volumes, volume.id)

    assert cloud.volume_data(volume.id) == b"clone me"


def test_volume_from_image_passes_through_downloading(cloud, cinder):
    image_id = cloud.add_image(b"image bytes", name="golden")

    volume = cinder.volumes.create(1, imageRef=image_id)

    assert statuses(cinder.volumes, volume.id, 3) == [
        "creating",
        "downloading",
        "available",
    ]
    done = cinder.volumes.get(volume.id)
    assert done.volume_image_metadata["image_id"] == image_id
    assert done.bootable == "true"
    assert cloud.volume_data(volume.id) == b"image bytes"


def test_volume_from_an_image_that_is_not_active_is_refused(cinder, glance):
    image = glance.images.create(name="queued", disk_format="raw")
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.create(1, imageRef=image.id)


def test_volume_from_a_missing_snapshot_is_not_found(cinder):
    with pytest.raises(cinder_exceptions.NotFound):
        cinder.volumes.create(1, snapshot_id="missing")


def test_volume_from_a_missing_source_volume_is_not_found(cinder):
    with pytest.raises(cinder_exceptions.NotFound):
        cinder.volumes.create(1, source_volid="missing")


def test_volume_smaller_than_its_snapshot_is_refused(cloud, cinder):
    snapshot = cinder.volume_snapshots.create(cloud.add_volume(size=3))
    wait_available(cinder.volume_snapshots, snapshot.id)

    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.create(2, snapshot_id=snapshot.id)


def test_volume_smaller_than_its_source_volume_is_refused(cloud, cinder):
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.create(1, source_volid=cloud.add_volume(size=5))


def test_volume_without_a_positive_size_is_refused(cinder):
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.create(0)


# --- deleting ----------------------------------------------------------------


def test_deleted_volume_is_deleting_then_gone(cloud, cinder):
    volume_id = cloud.add_volume()

    cinder.volumes.delete(volume_id)

    assert cinder.volumes.get(volume_id).status == "deleting"
    with pytest.raises(cinder_exceptions.NotFound):
        cinder.volumes.get(volume_id)


def test_delete_is_refused_while_the_volume_has_snapshots(cloud, cinder):
    volume_id = cloud.add_volume()
    cinder.volume_snapshots.create(volume_id)

    with pytest.raises(cinder_exceptions.BadRequest) as caught:
        cinder.volumes.delete(volume_id)
    assert caught.value.code == 400


def test_cascade_delete_takes_the_snapshots_along(cloud, cinder):
    volume_id = cloud.add_volume()
    snapshot = cinder.volume_snapshots.create(volume_id)
    wait_available(cinder.volume_snapshots, snapshot.id)

    cinder.volumes.delete(volume_id, cascade=True)
    cloud.settle()

    assert cloud.status_of("snapshot", snapshot.id) is None
    assert cloud.status_of("volume", volume_id) is None


def test_delete_is_refused_while_the_volume_is_attached(cloud, cinder):
    volume_id = cloud.add_volume(server_id=cloud.add_server())
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.delete(volume_id)


@pytest.mark.parametrize("status", ["creating", "in-use", "uploading", "deleting"])
def test_delete_is_refused_from_a_busy_status(cloud, cinder, status):
    volume_id = cloud.add_volume(status=status)
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.delete(volume_id)


@pytest.mark.parametrize("status", ["available", "error", "error_restoring"])
def test_delete_is_accepted_from_a_resting_status(cloud, cinder, status):
    volume_id = cloud.add_volume(status=status)
    response, _body = cinder.volumes.delete(volume_id)
    assert response.status_code == 202
    assert cloud.status_of("volume", volume_id) == "deleting"


# --- uploading to an image ---------------------------------------------------


def test_upload_to_image_answers_like_cinderclient_action(cloud, cinder):
    volume_id = cloud.add_volume(b"abc", size=1)

    response, body = cinder.volumes.upload_to_image(
        volume_id, False, "backup-image", "bare", "raw", "private", False
    )

    assert response.status_code == 202
    assert "x-openstack-request-id" in response.headers
    upload = body["os-volume_upload_image"]
    assert set(upload) == {
        "id",
        "updated_at",
        "status",
        "display_description",
        "size",
        "volume_type",
        "image_id",
        "container_format",
        "disk_format",
        "image_name",
        "visibility",
        "protected",
    }
    assert (upload["id"], upload["status"], upload["image_name"]) == (
        volume_id,
        "uploading",
        "backup-image",
    )


def test_upload_to_image_moves_volume_and_image_along(cloud, cinder, glance):
    volume_id = cloud.add_volume(b"volume bytes")
    _response, body = cinder.volumes.upload_to_image(
        volume_id, False, "img", "bare", "raw"
    )
    image_id = body["os-volume_upload_image"]["image_id"]

    image_statuses = [glance.images.get(image_id)["status"] for _ in range(3)]

    assert image_statuses == ["queued", "saving", "active"]
    assert cinder.volumes.get(volume_id).status == "available"
    image = glance.images.get(image_id)
    assert (image.owner, image.visibility) == (cloud.project_id, "private")
    assert cloud.image_data(image_id) == b"volume bytes"


def test_polling_only_the_volume_finishes_the_upload(cloud, cinder):
    volume_id = cloud.add_volume(b"v")
    cinder.volumes.upload_to_image(volume_id, False, "img", "bare", "raw")

    seen = statuses(cinder.volumes, volume_id, 3)

    assert seen == ["uploading", "uploading", "available"]


def test_upload_from_the_volume_object(cloud, cinder):
    volume = cinder.volumes.get(cloud.add_volume(b"v"))
    response, body = volume.upload_to_image(False, "img", "bare", "raw")
    assert body["os-volume_upload_image"]["visibility"] == "private"
    assert response.status_code == 202


def test_upload_of_an_in_use_volume_needs_force(cloud, cinder):
    volume_id = cloud.add_volume(b"v", server_id=cloud.add_server())

    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.upload_to_image(volume_id, False, "img", "bare", "raw")
    cinder.volumes.upload_to_image(volume_id, True, "img", "bare", "raw")
    cloud.settle()

    assert cloud.status_of("volume", volume_id) == "in-use"


@pytest.mark.parametrize("status", ["creating", "error", "uploading"])
def test_upload_is_refused_unless_available(cloud, cinder, status):
    volume_id = cloud.add_volume(status=status)
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volumes.upload_to_image(volume_id, True, "img", "bare", "raw")


# --- snapshots -----------------------------------------------------------------


def test_snapshot_is_creating_then_available_with_progress(cloud, cinder):
    snapshot = cinder.volume_snapshots.create(cloud.add_volume(size=4), name="s")

    assert isinstance(snapshot, volume_snapshots.Snapshot)
    assert (snapshot.status, snapshot.progress, snapshot.size) == ("creating", "0%", 4)
    assert statuses(cinder.volume_snapshots, snapshot.id, 2) == [
        "creating",
        "available",
    ]
    assert cinder.volume_snapshots.get(snapshot.id).progress == "100%"


def test_snapshot_of_in_use_volume_needs_force(cloud, cinder):
    volume_id = cloud.add_volume(server_id=cloud.add_server())

    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volume_snapshots.create(volume_id)
    snapshot = cinder.volume_snapshots.create(volume_id, force=True)

    assert snapshot.volume_id == volume_id


def test_snapshot_of_a_busy_volume_is_refused(cloud, cinder):
    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volume_snapshots.create(cloud.add_volume(status="creating"), force=True)


def test_snapshot_of_a_missing_volume_is_not_found(cinder):
    with pytest.raises(cinder_exceptions.NotFound):
        cinder.volume_snapshots.create("missing")


def test_snapshot_delete_is_deleting_then_gone(cloud, cinder):
    snapshot = cinder.volume_snapshots.create(cloud.add_volume())
    wait_available(cinder.volume_snapshots, snapshot.id)

    cinder.volume_snapshots.delete(snapshot)

    assert cinder.volume_snapshots.get(snapshot.id).status == "deleting"
    with pytest.raises(cinder_exceptions.NotFound) as caught:
        cinder.volume_snapshots.get(snapshot.id)
    assert caught.value.code == 404


def test_snapshot_delete_while_creating_is_refused_unless_forced(cloud, cinder):
    snapshot = cinder.volume_snapshots.create(cloud.add_volume())

    with pytest.raises(cinder_exceptions.BadRequest):
        cinder.volume_snapshots.delete(snapshot.id)
    cinder.volume_snapshots.delete(snapshot.id, force=True)

    assert cloud.status_of("snapshot", snapshot.id) == "deleting"


def test_snapshot_list_filters_by_volume(cloud, cinder):
    volume_id = cloud.add_volume()
    mine = cinder.volume_snapshots.create(volume_id)
    cinder.volume_snapshots.create(cloud.add_volume())

    found = cinder.volume_snapshots.list(search_opts={"volume_id": volume_id})

    assert [s.id for s in found] == [mine.id]


def test_list_not_detailed_shows_only_id_name_and_links(cloud, cinder):
    volume_id = cloud.add_volume(name="a")

    [summary] = cinder.volumes.list(detailed=False)

    assert set(summary.to_dict()) == {"id", "name", "links"}
    assert summary.id == volume_id


def test_list_pages_after_a_marker(cloud, cinder):
    first, second, third = (cloud.add_volume(name=n) for n in "abc")

    found = cinder.volumes.list(marker=first, limit=1)

    assert [v.id for v in found] == [second]
    assert third not in [v.id for v in found]
