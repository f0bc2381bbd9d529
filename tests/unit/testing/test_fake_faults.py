"""Injected faults: each kind at the steps it applies to, and their checks."""

import io
import time

import pytest
from cinderclient import exceptions as cinder_exceptions
from glanceclient import exc as glance_exceptions
from novaclient import exceptions as nova_exceptions

from karbor_volume_glance.testing.fakecloud import FakeCloud
from karbor_volume_glance.testing.faults import STEPS
from karbor_volume_glance.testing.image_stream import DOWNLOAD_CHUNK_SIZE


class Clients:
    def __init__(self, cloud):
        factory = cloud.client_factory()
        context = cloud.context()
        self.cinder = factory.create_client("cinder", context)
        self.glance = factory.create_client("glance", context)
        self.nova = factory.create_client("nova", context)


@pytest.fixture
def cloud():
    return FakeCloud()


@pytest.fixture
def clients(cloud):
    return Clients(cloud)


def poll_until_settled(manager, resource_id, polls=10):
    return [manager.get(resource_id).status for _ in range(polls)][-1]


# --- arming ------------------------------------------------------------------


def test_the_steps_the_brief_names_exist():
    assert {
        "volume.create",
        "volume.get",
        "volume.delete",
        "volume.upload_to_image",
        "snapshot.create",
        "snapshot.get",
        "snapshot.delete",
        "image.create",
        "image.get",
        "image.upload",
        "image.data",
        "image.delete",
        "server.attach",
        "server.detach",
        "server.swap",
    } <= set(STEPS)


@pytest.mark.parametrize(
    ("step", "fault", "options"),
    [
        ("volume.fly", "exception", {}),
        ("volume.get", "explode", {}),
        ("image.data", "error", {}),
        ("volume.create", "drop", {}),
        ("volume.create", "slow", {"seconds": 1}),
        ("image.data", "slow", {"polls": 1}),
        ("volume.create", "slow", {"polls": -1}),
    ],
)
def test_unknown_or_unfit_faults_are_refused(cloud, step, fault, options):
    with pytest.raises(ValueError):
        cloud.inject(step, fault, **options)


def test_times_must_be_positive(cloud):
    with pytest.raises(ValueError):
        cloud.inject("volume.get", "exception", times=0)


def test_a_fault_is_used_up_after_its_times(cloud, clients):
    volume_id = cloud.add_volume()
    cloud.inject("volume.get", "exception", times=2)

    outcomes = []
    for _ in range(3):
        try:
            clients.cinder.volumes.get(volume_id)
            outcomes.append("ok")
        except cinder_exceptions.ClientException:
            outcomes.append("failed")

    assert outcomes == ["failed", "failed", "ok"]


def test_clear_faults_disarms_everything(cloud, clients):
    volume_id = cloud.add_volume()
    cloud.inject("volume.get", "exception", times=5)

    cloud.clear_faults()

    assert clients.cinder.volumes.get(volume_id).id == volume_id


# --- exception ---------------------------------------------------------------


def test_exception_in_cinder_is_a_500_client_exception(cloud, clients):
    cloud.inject("volume.create", "exception")

    with pytest.raises(cinder_exceptions.ClientException) as caught:
        clients.cinder.volumes.create(1)

    assert caught.value.code == 500
    assert cloud.created() == []


def test_exception_in_glance_is_an_internal_server_error(cloud, clients):
    cloud.inject("image.create", "exception")
    with pytest.raises(glance_exceptions.HTTPInternalServerError):
        clients.glance.images.create(name="x")


def test_exception_in_nova_is_a_500_client_exception(cloud, clients):
    cloud.inject("server.attach", "exception")

    with pytest.raises(nova_exceptions.ClientException) as caught:
        clients.nova.volumes.create_server_volume(
            cloud.add_server(), cloud.add_volume()
        )

    assert caught.value.code == 500
    assert cloud.attachments() == []


# --- error -------------------------------------------------------------------


def test_error_on_volume_create_ends_in_error(cloud, clients):
    cloud.inject("volume.create", "error")
    volume = clients.cinder.volumes.create(1)
    assert poll_until_settled(clients.cinder.volumes, volume.id) == "error"


def test_error_on_snapshot_create_ends_in_error(cloud, clients):
    cloud.inject("snapshot.create", "error")
    snapshot = clients.cinder.volume_snapshots.create(cloud.add_volume())
    assert poll_until_settled(clients.cinder.volume_snapshots, snapshot.id) == "error"


def test_error_on_volume_delete_ends_in_error_deleting(cloud, clients):
    volume_id = cloud.add_volume()
    cloud.inject("volume.delete", "error")

    clients.cinder.volumes.delete(volume_id)

    assert poll_until_settled(clients.cinder.volumes, volume_id) == "error_deleting"


def test_error_on_volume_get_puts_the_volume_in_error(cloud, clients):
    volume = clients.cinder.volumes.create(1)
    cloud.inject("volume.get", "error")
    assert clients.cinder.volumes.get(volume.id).status == "error"


def test_error_on_upload_to_image_kills_image_and_frees_volume(cloud, clients):
    volume_id = cloud.add_volume(b"v")
    cloud.inject("volume.upload_to_image", "error")

    _response, body = clients.cinder.volumes.upload_to_image(
        volume_id, False, "img", "bare", "raw"
    )
    image_id = body["os-volume_upload_image"]["image_id"]
    final = [clients.glance.images.get(image_id).status for _ in range(3)][-1]

    assert final == "killed"
    assert clients.cinder.volumes.get(volume_id).status == "available"
    assert cloud.image_data(image_id) is None


def test_error_on_image_upload_raises_and_kills_the_image(cloud, clients):
    image = clients.glance.images.create(name="x", disk_format="raw")
    cloud.inject("image.upload", "error")

    with pytest.raises(glance_exceptions.HTTPInternalServerError):
        clients.glance.images.upload(image.id, io.BytesIO(b"data"))

    assert cloud.status_of("image", image.id) == "killed"


def test_error_on_attach_rolls_the_volume_back_to_available(cloud, clients):
    volume_id = cloud.add_volume()
    cloud.inject("server.attach", "error")

    clients.nova.volumes.create_server_volume(cloud.add_server(), volume_id)

    assert poll_until_settled(clients.cinder.volumes, volume_id) == "available"
    assert cloud.attachments() == []


def test_error_on_detach_leaves_the_volume_in_use(cloud, clients):
    server_id = cloud.add_server()
    volume_id = cloud.add_volume(server_id=server_id)
    cloud.inject("server.detach", "error")

    clients.nova.volumes.delete_server_volume(server_id, volume_id)

    assert poll_until_settled(clients.cinder.volumes, volume_id) == "in-use"
    assert len(cloud.attachments()) == 1


# --- slow --------------------------------------------------------------------


def test_slow_polls_keep_a_volume_creating_longer(cloud, clients):
    cloud.inject("volume.create", "slow", polls=3)
    volume = clients.cinder.volumes.create(1)

    seen = [clients.cinder.volumes.get(volume.id).status for _ in range(5)]

    assert seen == ["creating"] * 4 + ["available"]


def test_slow_polls_keep_an_upload_saving_longer(cloud, clients):
    volume_id = cloud.add_volume(b"v")
    cloud.inject("volume.upload_to_image", "slow", polls=2)
    _response, body = clients.cinder.volumes.upload_to_image(
        volume_id, False, "img", "bare", "raw"
    )
    image_id = body["os-volume_upload_image"]["image_id"]

    seen = [clients.glance.images.get(image_id).status for _ in range(5)]

    assert seen == ["queued", "saving", "saving", "saving", "active"]


def test_slow_delay_sleeps_in_the_call(cloud, clients):
    volume_id = cloud.add_volume()
    cloud.inject("volume.get", "slow", delay=0.05)

    started = time.monotonic()
    clients.cinder.volumes.get(volume_id)

    assert time.monotonic() - started >= 0.05


# --- drop and corrupt --------------------------------------------------------


def test_drop_yields_some_bytes_then_a_connection_error(cloud, clients):
    image_id = cloud.add_image(b"d" * (2 * DOWNLOAD_CHUNK_SIZE))
    cloud.inject("image.data", "drop", after_bytes=DOWNLOAD_CHUNK_SIZE + 5)
    received = []

    with pytest.raises(ConnectionError):
        for piece in clients.glance.images.data(image_id):
            received.append(piece)

    assert sum(len(piece) for piece in received) == DOWNLOAD_CHUNK_SIZE + 5


def test_dropped_download_is_also_what_requests_raises(cloud, clients):
    import requests

    cloud.inject("image.data", "drop", after_bytes=0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(clients.glance.images.data(cloud.add_image(b"abc")))


def test_corrupt_download_fails_its_checksum_at_the_end(cloud, clients):
    data = b"c" * (DOWNLOAD_CHUNK_SIZE + 1)
    image_id = cloud.add_image(data)
    cloud.inject("image.data", "corrupt", at_byte=7)
    received = []

    with pytest.raises(OSError, match="Corrupt image download"):
        for piece in clients.glance.images.data(image_id):
            received.append(piece)

    assert b"".join(received) != data
    assert len(b"".join(received)) == len(data)


def test_corrupt_download_without_checksum_goes_unnoticed(cloud, clients):
    data = b"abc"
    cloud.inject("image.data", "corrupt")

    received = b"".join(
        clients.glance.images.data(cloud.add_image(data), do_checksum=False)
    )

    assert received == b"\x9ebc"


def test_error_on_image_get_kills_the_image_under_an_upload(cloud, clients):
    glance = clients.glance
    image = glance.images.create(name="x", disk_format="raw")
    cloud.inject("image.get", "error")

    def pieces():
        yield b"first"
        assert glance.images.get(image.id).status == "killed"
        yield b"second"

    with pytest.raises(glance_exceptions.HTTPConflict):
        glance.images.upload(image.id, pieces())

    assert cloud.status_of("image", image.id) == "killed"
    assert cloud.image_data(image.id) is None
