"""Faults armed with LocalCloud.inject or the control endpoint, seen by real clients."""

import io
import os
import time

import pytest
import requests
from cinderclient import exceptions as cinder_exc
from glanceclient import exc as glance_exc
from novaclient import exceptions as nova_exc

from tests.functional.localcloud.helpers import (
    image_with,
    volume_with,
    wait_for,
    wait_status,
)


def _available_volume(cinder):
    volume = cinder.volumes.create(1)
    wait_status(cinder.volumes, volume.id, "available")
    return volume


def _attached(cinder, nova):
    server = nova.servers.create("vm", "image", "flavor")
    wait_status(nova.servers, server.id, "ACTIVE")
    volume = _available_volume(cinder)
    nova.volumes.create_server_volume(server.id, volume.id)
    wait_status(cinder.volumes, volume.id, "in-use")
    return server, volume


# --- http ---------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 503, 413])
def test_http_at_volume_create_answers_and_changes_nothing(cloud, cinder, status):
    cloud.inject("volume.create", "http", status=status)
    with pytest.raises(cinder_exc.ClientException) as caught:
        cinder.volumes.create(1)
    assert caught.value.code == status
    assert "fault injected at volume.create" in caught.value.message
    assert cinder.volumes.list() == []
    assert cinder.volumes.create(1).status == "creating"  # taken once


def test_http_at_image_steps(cloud, glance):
    cloud.inject("image.create", "http", status=500)
    with pytest.raises(glance_exc.HTTPInternalServerError, match="fault injected"):
        glance.images.create(name="x")
    assert list(glance.images.list()) == []
    image = glance.images.create(name="x", disk_format="raw",
                                 container_format="bare")
    cloud.inject("image.upload", "http", status=413)
    with pytest.raises(glance_exc.HTTPOverLimit):
        glance.images.upload(image["id"], io.BytesIO(b"data"))
    assert glance.images.get(image["id"])["status"] == "queued"
    glance.images.upload(image["id"], io.BytesIO(b"data"))
    cloud.inject("image.get", "http", status=503)
    with pytest.raises(glance_exc.HTTPServiceUnavailable):
        glance.images.get(image["id"])
    cloud.inject("image.delete", "http", status=500)
    with pytest.raises(glance_exc.HTTPInternalServerError):
        glance.images.delete(image["id"])
    assert glance.images.get(image["id"])["status"] == "active"


def test_http_at_server_steps(cloud, cinder, nova):
    server, volume = _attached(cinder, nova)
    cloud.inject("server.detach", "http", status=500)
    with pytest.raises(nova_exc.ClientException) as caught:
        nova.volumes.delete_server_volume(server.id, volume.id)
    assert caught.value.code == 500
    assert cinder.volumes.get(volume.id).status == "in-use"


# --- error --------------------------------------------------------------------

def test_error_at_volume_and_snapshot_create(cloud, cinder):
    cloud.inject("volume.create", "error")
    volume = cinder.volumes.create(1)
    assert wait_status(cinder.volumes, volume.id, "available") == [
        "creating", "error"
    ]
    good = _available_volume(cinder)
    cloud.inject("snapshot.create", "error")
    snapshot = cinder.volume_snapshots.create(good.id)
    assert wait_status(cinder.volume_snapshots, snapshot.id, "available")[-1] == (
        "error"
    )
    cinder.volume_snapshots.delete(snapshot.id)  # error is deletable
    cinder.volumes.delete(volume.id)


def test_error_at_gets_turns_the_resource(cloud, cinder, glance):
    volume = _available_volume(cinder)
    cloud.inject("volume.get", "error")
    assert cinder.volumes.get(volume.id).status == "error"
    assert cinder.volumes.get(volume.id).status == "error"
    image_id = image_with(glance, b"abc")
    cloud.inject("image.get", "error")
    assert glance.images.get(image_id)["status"] == "killed"


def test_error_at_volume_delete_is_error_deleting(cloud, cinder):
    volume = _available_volume(cinder)
    cloud.inject("volume.delete", "error")
    cinder.volumes.delete(volume.id)
    assert wait_status(cinder.volumes, volume.id, "error_deleting")[-1] == (
        "error_deleting"
    )


def test_error_at_upload_to_image_kills_the_image(cloud, cinder, glance):
    volume_id = volume_with(cinder, glance, b"volume data")
    cloud.inject("volume.upload_to_image", "error")
    _resp, body = cinder.volumes.upload_to_image(volume_id, False, "b", "bare",
                                                 "raw", "private", False)
    image_id = body["os-volume_upload_image"]["image_id"]
    assert wait_status(glance.images, image_id, "active")[-1] == "killed"
    assert wait_status(cinder.volumes, volume_id, "available")[-1] == "available"
    assert not glance.images.data(image_id)  # no data
    glance.images.delete(image_id)


def test_error_at_image_create_and_upload(cloud, glance):
    cloud.inject("image.create", "error")
    assert glance.images.create(name="dead")["status"] == "killed"
    image = glance.images.create(name="x", disk_format="raw",
                                 container_format="bare")
    cloud.inject("image.upload", "error")
    glance.images.upload(image["id"], io.BytesIO(b"lost"))
    assert glance.images.get(image["id"])["status"] == "killed"
    with pytest.raises(glance_exc.HTTPConflict):
        glance.images.upload(image["id"], io.BytesIO(b"again"))


def test_error_at_attach_and_detach_rolls_back(cloud, cinder, nova):
    server, volume = _attached(cinder, nova)
    cloud.inject("server.detach", "error")
    nova.volumes.delete_server_volume(server.id, volume.id)
    assert wait_status(cinder.volumes, volume.id, "in-use") == [
        "detaching", "in-use"
    ]
    other = _available_volume(cinder)
    cloud.inject("server.attach", "error")
    nova.volumes.create_server_volume(server.id, other.id)
    assert wait_status(cinder.volumes, other.id, "available") == [
        "attaching", "available"
    ]
    assert [a.volumeId for a in nova.volumes.get_server_volumes(server.id)] == [
        volume.id
    ]


# --- slow and drop ------------------------------------------------------------

def test_slow_delays_the_answer(cloud, cinder):
    volume = _available_volume(cinder)
    cloud.inject("volume.get", "slow", delay=0.3)
    start = time.monotonic()
    assert cinder.volumes.get(volume.id).status == "available"
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    cinder.volumes.get(volume.id)
    assert time.monotonic() - start < 0.3


def test_drop_breaks_the_download_mid_stream(cloud, glance):
    data = os.urandom(3 * 1024 * 1024)
    image_id = image_with(glance, data)
    cloud.inject("image.data", "drop", after_bytes=1_500_000)
    body = glance.images.data(image_id, do_checksum=True)
    assert len(body) == len(data)  # the promised Content-Length
    received = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in body:
            received += chunk
    # glanceclient reads 1 MiB pieces: it yields the first, then raises
    assert 0 < len(received) <= 1_500_000
    assert data.startswith(bytes(received))
    assert b"".join(glance.images.data(image_id)) == data  # taken once


# --- arming ---------------------------------------------------------------------

def test_times_and_clear(cloud, cinder):
    cloud.inject("volume.create", "http", times=2)
    for _ in range(2):
        with pytest.raises(cinder_exc.ClientException):
            cinder.volumes.create(1)
    cinder.volumes.create(1)
    cloud.inject("volume.create", "http", times=None)
    for _ in range(3):
        with pytest.raises(cinder_exc.ClientException):
            cinder.volumes.create(1)
    cloud.clear_faults()
    cinder.volumes.create(1)


@pytest.mark.parametrize("step, fault, options", [
    ("volume.explode", "http", {}),
    ("volume.get", "boom", {}),
    ("volume.get", "drop", {}),
    ("image.data", "error", {}),
    ("token.create", "error", {}),
    ("volume.get", "http", {"status": 200}),
    ("volume.get", "slow", {"delay": -1}),
    ("volume.list", "slow", {"polls": 2}),  # no status to be slow in
])
def test_senseless_faults_are_refused(cloud, step, fault, options):
    with pytest.raises(ValueError):
        cloud.inject(step, fault, **options)


def test_the_control_endpoint_arms_and_clears(cloud, cinder):
    endpoint = f"{cloud.url}/_localcloud/faults"
    response = requests.post(endpoint, json={
        "step": "volume.create", "fault": "http", "times": 1,
        "options": {"status": 503}})
    assert response.status_code == 201
    assert response.json()["fault"]["options"] == {"status": 503}
    assert requests.get(endpoint).json()["faults"][0]["step"] == "volume.create"
    with pytest.raises(cinder_exc.ClientException) as caught:
        cinder.volumes.create(1)
    assert caught.value.code == 503
    requests.post(endpoint, json={"step": "volume.create", "fault": "http"})
    assert requests.delete(endpoint).status_code == 204
    assert requests.get(endpoint).json()["faults"] == []
    cinder.volumes.create(1)
    bad = requests.post(endpoint, json={"step": "nope", "fault": "http"})
    assert bad.status_code == 400 and "unknown step" in bad.json()["error"]["message"]


def test_a_slow_request_does_not_hold_others_up(cloud, cinder):
    import threading

    volume = _available_volume(cinder)
    cloud.inject("volume.get", "slow", delay=1.0)
    slow = threading.Thread(target=cinder.volumes.get, args=(volume.id,))
    slow.start()
    try:
        time.sleep(0.05)
        start = time.monotonic()
        wait_for(lambda: cinder.volumes.list()[0].id, lambda v: v == volume.id)
        assert time.monotonic() - start < 0.5
    finally:
        slow.join()
