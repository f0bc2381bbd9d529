"""Cinder of the local cloud through the real cinderclient."""

import os

import glanceclient
import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc

from tests.functional.localcloud.helpers import (
    GIB,
    file_bytes,
    image_with,
    volume_with,
    wait_gone,
    wait_status,
)

VOLUME = {"service_type": "volumev3", "interface": "public"}


def _raw(session, path, version=None, method="GET", **kwargs):
    headers = kwargs.pop("headers", {})
    if version is not None:
        headers["OpenStack-API-Version"] = f"volume {version}"
    return session.request(path, method, endpoint_filter=VOLUME, headers=headers,
                           raise_exc=False, **kwargs)


def test_the_microversion_is_echoed(cinder, session):
    resp, _body = cinder.client.get("/volumes")
    assert resp.headers["OpenStack-API-Version"] == "volume 3.1"
    assert "OpenStack-API-Version" in resp.headers["Vary"]
    assert _raw(session, "/volumes", "3.64").headers["OpenStack-API-Version"] == (
        "volume 3.64"
    )
    assert _raw(session, "/volumes").headers["OpenStack-API-Version"] == "volume 3.0"
    assert _raw(session, "/volumes", "latest").headers[
        "OpenStack-API-Version"] == "volume 3.70"
    missing = _raw(session, "/volumes/nope", "3.5")
    assert missing.status_code == 404
    assert missing.headers["OpenStack-API-Version"] == "volume 3.5"
    assert missing.json()["itemNotFound"]["message"] == (
        "Volume nope could not be found."
    )


def test_a_version_above_the_maximum_is_406(session):
    cinder = cinder_client.Client("3.71", session=session)
    with pytest.raises(cinder_exc.NotAcceptable, match="maximum is 3.70"):
        cinder.volumes.list()
    assert _raw(session, "/volumes", "3.x").status_code == 400


def test_the_server_version_is_found_by_cinderclient(cloud):
    url = f"{cloud.url}/volume/v3/{cloud.project_id()}"
    low, high = cinder_client.get_server_version(url)
    assert (low.get_string(), high.get_string()) == ("3.0", "3.70")


def test_views_follow_the_microversion(cinder, session):
    volume = cinder.volumes.create(1)
    old = _raw(session, f"/volumes/{volume.id}", "3.0").json()["volume"]
    new = _raw(session, f"/volumes/{volume.id}", "3.70").json()["volume"]
    assert "volume_type_id" not in old and "group_id" not in old
    assert {"volume_type_id", "group_id", "consumes_quota", "cluster_name"} <= set(new)


def test_volume_create_get_list_delete(cloud, cinder):
    volume = cinder.volumes.create(2, name="blank", description="d",
                                   metadata={"k": "v"})
    assert volume.status == "creating"
    seen = wait_status(cinder.volumes, volume.id, "available")
    assert seen == ["creating", "available"]
    volume = cinder.volumes.get(volume.id)
    assert (volume.name, volume.description, volume.size) == ("blank", "d", 2)
    assert volume.metadata == {"k": "v"} and volume.attachments == []
    assert os.path.getsize(cloud.volume_path(volume.id)) == 2 * GIB
    assert [v.id for v in cinder.volumes.list()] == [volume.id]
    assert [v.id for v in cinder.volumes.list(detailed=False)] == [volume.id]
    cinder.volumes.delete(volume.id)
    assert cinder.volumes.get(volume.id).status == "deleting"
    wait_gone(cinder.volumes, volume.id, cinder_exc.NotFound)
    assert not os.path.exists(cloud.volume_path(volume.id))
    with pytest.raises(cinder_exc.NotFound, match=f"Volume {volume.id} could not"):
        cinder.volumes.get(volume.id)


def test_list_pages_with_limit_and_marker(cinder):
    ids = [cinder.volumes.create(1).id for _ in range(3)]
    first = cinder.volumes.list(limit=2)
    assert len(first) == 2
    rest = cinder.volumes.list(marker=first[-1].id, limit=2)
    assert sorted(v.id for v in first + rest) == sorted(ids)


def test_a_volume_from_an_image_passes_through_downloading(cloud, cinder, glance):
    data = os.urandom(300_000)
    image_id = image_with(glance, data)
    volume = cinder.volumes.create(1, imageRef=image_id)
    seen = wait_status(cinder.volumes, volume.id, "available")
    assert seen == ["creating", "downloading", "available"]
    stored = file_bytes(cloud.volume_path(volume.id))
    assert stored == data + bytes(GIB - len(data))
    metadata = cinder.volumes.get(volume.id).volume_image_metadata
    assert metadata["image_id"] == image_id


def test_volumes_from_a_snapshot_and_a_source_copy_the_bytes(cloud, cinder, glance):
    data = os.urandom(200_000)
    source = volume_with(cinder, glance, data, size=1)
    snapshot = cinder.volume_snapshots.create(source, name="snap")
    seen = wait_status(cinder.volume_snapshots, snapshot.id, "available")
    assert seen == ["creating", "available"]
    assert file_bytes(cloud.snapshot_path(snapshot.id)) == file_bytes(
        cloud.volume_path(source))
    from_snapshot = cinder.volumes.create(2, snapshot_id=snapshot.id)
    clone = cinder.volumes.create(None, source_volid=source)
    for volume_id in (from_snapshot.id, clone.id):
        assert wait_status(cinder.volumes, volume_id, "available")[-1] == "available"
    expected = data + bytes(GIB - len(data))
    assert file_bytes(cloud.volume_path(clone.id)) == expected
    assert file_bytes(cloud.volume_path(from_snapshot.id)) == expected + bytes(GIB)
    assert cinder.volumes.get(clone.id).size == 1
    assert cinder.volumes.get(from_snapshot.id).snapshot_id == snapshot.id


def test_copies_keep_zero_regions_sparse(cloud, cinder, glance):
    data = os.urandom(64 * 1024) + bytes(2 * GIB) + os.urandom(64 * 1024)
    source = volume_with(cinder, glance, data, size=4)
    clone = cinder.volumes.create(4, source_volid=source)
    wait_status(cinder.volumes, clone.id, "available")
    for volume_id in (source, clone.id):
        stat = os.stat(cloud.volume_path(volume_id))
        assert stat.st_size == 4 * GIB
        assert stat.st_blocks * 512 < GIB  # only the random pieces are stored
    assert file_bytes(cloud.volume_path(clone.id))[:len(data)] == data


def test_refusals_are_cinders_bad_requests(cloud, cinder, glance):
    volume_id = volume_with(cinder, glance, b"x" * 1000, size=2)
    snapshot = cinder.volume_snapshots.create(volume_id)
    with pytest.raises(cinder_exc.BadRequest, match="Invalid volume"):
        cinder.volumes.delete(volume_id)  # the snapshot is still creating
    wait_status(cinder.volume_snapshots, snapshot.id, "available")
    with pytest.raises(cinder_exc.BadRequest, match="dependent snapshots"):
        cinder.volumes.delete(volume_id)
    with pytest.raises(cinder_exc.BadRequest, match="cannot be smaller"):
        cinder.volumes.create(1, snapshot_id=snapshot.id)
    # as real Cinder 29 answers (the real tier's conformance run): a
    # snapshot_id that is no UUID fails the schema, a size below 1 too
    with pytest.raises(cinder_exc.BadRequest, match="snapshot_id. Value: nope"):
        cinder.volumes.create(1, snapshot_id="nope")
    with pytest.raises(cinder_exc.BadRequest, match="less than the minimum of 1"):
        cinder.volumes.create(0)
    creating = cinder.volumes.create(1)
    with pytest.raises(cinder_exc.BadRequest, match="is creating"):
        cinder.volumes.delete(creating.id)
    assert cinder.volumes.get(volume_id).status == "available"


def test_delete_with_cascade_removes_the_snapshots(cloud, cinder):
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    snapshot = cinder.volume_snapshots.create(volume.id)
    wait_status(cinder.volume_snapshots, snapshot.id, "available")
    cinder.volumes.delete(volume.id, cascade=True)
    wait_gone(cinder.volumes, volume.id, cinder_exc.NotFound)
    with pytest.raises(cinder_exc.NotFound):
        cinder.volume_snapshots.get(snapshot.id)
    assert not os.path.exists(cloud.snapshot_path(snapshot.id))


def test_snapshot_list_and_delete(cinder):
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    snapshot = cinder.volume_snapshots.create(volume.id, name="s")
    wait_status(cinder.volume_snapshots, snapshot.id, "available")
    listed = cinder.volume_snapshots.list()
    assert [(s.id, s.name, s.volume_id) for s in listed] == [
        (snapshot.id, "s", volume.id)
    ]
    cinder.volume_snapshots.delete(snapshot.id)
    wait_gone(cinder.volume_snapshots, snapshot.id, cinder_exc.NotFound)
    cinder.volumes.delete(volume.id)


def test_upload_to_image_makes_an_image_of_the_whole_volume(cloud, cinder, glance):
    data = os.urandom(123_457)
    volume_id = volume_with(cinder, glance, data, size=2)
    volume = cinder.volumes.get(volume_id)
    # long enough to see 'uploading' on a loaded machine (10 ms was not)
    cloud.volumes.status_delay = 1.0
    resp, body = volume.upload_to_image(False, "backup", "bare", "raw")
    assert resp.status_code == 202
    upload = body["os-volume_upload_image"]
    assert upload["visibility"] == "private" and upload["protected"] is False
    image_id = upload["image_id"]
    assert cinder.volumes.get(volume_id).status == "uploading"
    assert wait_status(glance.images, image_id, "active")[-1] == "active"
    wait_status(cinder.volumes, volume_id, "available")
    image = glance.images.get(image_id)
    assert image["size"] == 2 * GIB and image["disk_format"] == "raw"
    assert image["os_hash_algo"] == "sha512"
    downloaded = b"".join(glance.images.data(image_id, do_checksum=True))
    assert downloaded == file_bytes(cloud.volume_path(volume_id))
    assert downloaded[:len(data)] == data


def test_upload_to_image_of_an_in_use_volume_needs_force(cloud, cinder, glance,
                                                          nova):
    volume_id = volume_with(cinder, glance, b"abc")
    server = nova.servers.create("vm", "image", "flavor")
    wait_status(nova.servers, server.id, "ACTIVE")
    nova.volumes.create_server_volume(server.id, volume_id)
    wait_status(cinder.volumes, volume_id, "in-use")
    volume = cinder.volumes.get(volume_id)
    # Cinder's words (cinder/volume/api.py copy_volume_to_image)
    with pytest.raises(cinder_exc.BadRequest, match="status must be available"):
        volume.upload_to_image(False, "no", "bare", "raw")
    with pytest.raises(cinder_exc.BadRequest, match="current status is: in-use"):
        cinder.volume_snapshots.create(volume_id)
    # force is ignored unless the operator set enable_force_upload (D2)
    with pytest.raises(cinder_exc.BadRequest, match="status must be available"):
        volume.upload_to_image(True, "ignored", "bare", "raw")
    cloud.volumes.enable_force_upload = True
    _resp, body = volume.upload_to_image(True, "yes", "bare", "raw")
    image_id = body["os-volume_upload_image"]["image_id"]
    wait_status(glance.images, image_id, "active")
    assert wait_status(cinder.volumes, volume_id, "in-use")[-1] == "in-use"
    snapshot = cinder.volume_snapshots.create(volume_id, force=True)
    assert wait_status(cinder.volume_snapshots, snapshot.id, "available")[-1] == (
        "available"
    )


def test_upload_to_image_before_3_1_ignores_visibility(cinder, session, glance):
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    old = cinder_client.Client("3.0", session=session)
    _resp, body = old.volumes.upload_to_image(volume.id, False, "old", "bare", "raw")
    upload = body["os-volume_upload_image"]
    assert "visibility" not in upload
    assert glance.images.get(upload["image_id"])["visibility"] == "shared"


def test_an_image_the_project_cannot_see_is_not_found(cloud, cinder, demo_session):
    demo_glance = glanceclient.Client("2", session=demo_session)
    image_id = image_with(demo_glance, b"demo's", visibility="private")
    volume = cinder.volumes.create(1, imageRef=image_id)  # admin sees it all
    wait_status(cinder.volumes, volume.id, "available")
    demo_cinder = cinder_client.Client("3.1", session=demo_session)
    admin_glance = glanceclient.Client("2", session=cloud.session())
    private = image_with(admin_glance, b"admin's", visibility="private")
    with pytest.raises(cinder_exc.BadRequest, match="Invalid image identifier "
                       "or unable to access requested image"):  # as real Cinder
        demo_cinder.volumes.create(1, imageRef=private)
