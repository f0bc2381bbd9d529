"""What the one cloud model does, checked through every front door.

The test functions here take a ``door`` fixture: an object with real
``cinder``, ``glance`` and ``nova`` clients of one (non-admin) project,
``other_cinder``/``other_glance`` of another project, ``inject``/``calls``
of the cloud's fault registry, ``server()`` (an ACTIVE server's id),
``attach(volume_id)`` (the volume in-use), ``glance_direct_urls()`` (a
context in which Glance shares Cinder's Ceph), ``set_quota(project_id,
**limits)`` (as an admin would), ``read_volume(volume_id, length)`` and
``wait(fetch, done)`` (poll until done). ``tests/unit/test_cloud_conformance``
runs them through ``FakeCloud`` (in process, statuses move per poll),
``tests/functional/test_cloud_conformance`` through ``LocalCloud`` (HTTP on
127.0.0.1, statuses move in time) and ``tests/realcloud/test_cloud_conformance``
through real Keystone, Glance and Cinder on Ceph RBD, so that every rule the
model writes is checked against the services it models.

The real door has no fault registry and no Nova: a test that needs either is
marked :func:`model_only` with the reason, and the real tier collects every
test but those (:func:`portable_tests`).
"""

import contextlib
import hashlib
import io

import pytest
from cinderclient import exceptions as cinder_exc
from glanceclient import exc as glance_exc
from keystoneauth1 import adapter as ksa_adapter
from novaclient import exceptions as nova_exc

from karbor_volume_glance.cloud import factory

FAILED = ("error", "killed", "error_deleting")


class Door:
    """Real clients of a project and of another one, and the cloud's faults.

    A door adds ``server()``, ``wait(fetch, done)`` and
    ``read_volume(volume_id, length)``.
    """

    def __init__(self, cloud, session, other_session):
        self.cloud = cloud
        self.cinder = factory.make_client("cinder", session)
        self.glance = factory.make_client("glance", session)
        self.nova = factory.make_client("nova", session)
        self.other_cinder = factory.make_client("cinder", other_session)
        self.other_glance = factory.make_client("glance", other_session)
        self.inject = cloud.inject
        self.clear_faults = cloud.clear_faults

    @property
    def calls(self):
        return self.cloud.calls

    def attach(self, volume_id):
        """Attach ``volume_id`` to a new server through Nova; its status after."""
        self.nova.volumes.create_server_volume(self.server(), volume_id)
        return wait_status(self, self.cinder.volumes, volume_id, "in-use")[-1]

    @contextlib.contextmanager
    def glance_direct_urls(self):
        """Glance on Cinder's Ceph with show_image_direct_url, inside."""
        self.cloud.images.rbd_direct_url = True
        try:
            yield
        finally:
            self.cloud.images.rbd_direct_url = False

    def set_quota(self, project_id, **limits):
        self.cloud.volumes.set_quota(project_id, **limits)


def model_only(reason):
    """Mark a test that needs what only the model has (its fault registry,
    its record of calls, Nova): the real door does not collect it."""
    def mark(test):
        test.model_only = reason
        return test
    return mark


FAULTS = "needs the model's fault registry"
NOVA = "needs Nova (the real tier has none)"
CALLS = "checks the model's record of the calls it served"


def portable_tests(namespace):
    """The tests of ``namespace`` that do not need the model: what the real
    door collects."""
    return {name: test for name, test in namespace.items()
            if name.startswith("test_") and callable(test)
            and not getattr(test, "model_only", None)}


def status(manager, resource_id):
    resource = manager.get(resource_id)
    try:
        return resource["status"]
    except (TypeError, KeyError):
        return resource.status


def wait_status(door, manager, resource_id, wanted):
    """Poll until ``wanted`` or a failure; the distinct statuses seen."""
    return door.wait(lambda: status(manager, resource_id),
                     lambda value: value in (wanted, *FAILED))


def wait_gone(door, manager, resource_id, not_found):
    def gone():
        try:
            manager.get(resource_id)
        except not_found:
            return True
        return False

    door.wait(gone, bool)


def new_volume(door, size=1, **kwargs):
    volume = door.cinder.volumes.create(size, **kwargs)
    assert wait_status(door, door.cinder.volumes, volume.id, "available")[-1] \
        == "available"
    return volume.id


def image_with(door, data, name="source"):
    image = door.glance.images.create(name=name, disk_format="raw",
                                      container_format="bare")
    door.glance.images.upload(image["id"], io.BytesIO(data))
    return image["id"]


# --- statuses and transitions ----------------------------------------------


def test_a_volume_is_created_then_available_then_deleted(door):
    volume = door.cinder.volumes.create(1, name="v")
    assert volume.status == "creating"
    seen = wait_status(door, door.cinder.volumes, volume.id, "available")
    assert seen[0] == "creating" and seen[-1] == "available"
    assert door.cinder.volumes.get(volume.id).bootable == "false"
    door.cinder.volumes.delete(volume.id)
    wait_gone(door, door.cinder.volumes, volume.id, cinder_exc.NotFound)


@model_only(CALLS)
def test_the_model_records_each_step_it_serves(door):
    volume_id = new_volume(door)
    door.cinder.volumes.delete(volume_id)
    wait_gone(door, door.cinder.volumes, volume_id, cinder_exc.NotFound)
    door.cinder.volumes.list()
    list(door.glance.images.list())
    assert "volume.create" in door.calls and "volume.delete" in door.calls
    assert "volume.list" in door.calls and "image.list" in door.calls


def test_a_snapshot_keeps_the_volume_and_a_volume_from_it_is_bootable_if_it_was(door):
    volume_id = new_volume(door)
    snapshot = door.cinder.volume_snapshots.create(volume_id, name="s")
    assert wait_status(door, door.cinder.volume_snapshots, snapshot.id,
                       "available")[-1] == "available"
    restored = new_volume(door, snapshot_id=snapshot.id)
    assert door.cinder.volumes.get(restored).bootable == "false"
    with pytest.raises(cinder_exc.BadRequest):  # it has a snapshot
        door.cinder.volumes.delete(volume_id)
    door.cinder.volume_snapshots.delete(snapshot.id)
    wait_gone(door, door.cinder.volume_snapshots, snapshot.id,
              cinder_exc.NotFound)


def test_a_volume_from_an_image_is_bootable_and_holds_its_bytes(door):
    data = b"image bytes" * 100
    image_id = image_with(door, data)
    volume = door.cinder.volumes.create(1, imageRef=image_id)
    seen = wait_status(door, door.cinder.volumes, volume.id, "available")
    assert seen[-1] == "available"
    assert door.cinder.volumes.get(volume.id).bootable == "true"
    assert set(seen) <= {"creating", "downloading", "available"}


def test_upload_to_image_is_private_and_bare_and_gives_the_volume_back(door):
    volume_id = new_volume(door)
    # cinderclient (3.1+) always sends visibility: None is refused by the schema
    with pytest.raises(cinder_exc.BadRequest, match="visibility"):
        door.cinder.volumes.upload_to_image(
            volume_id, False, "up", "bare", "raw", visibility=None,
            protected=False)
    _resp, body = door.cinder.client.post(  # none given: private
        f"/volumes/{volume_id}/action", body={"os-volume_upload_image": {
            "image_name": "up", "disk_format": "raw",
            "container_format": "bare"}})
    upload = body["os-volume_upload_image"]
    image_id = upload["image_id"]
    assert upload["visibility"] == "private"
    assert wait_status(door, door.glance.images, image_id, "active")[-1] \
        == "active"
    assert wait_status(door, door.cinder.volumes, volume_id, "available")[-1] \
        == "available"
    image = door.glance.images.get(image_id)
    assert image["container_format"] == "bare"
    assert image["visibility"] == "private"


@pytest.mark.parametrize("container_format", ["ovf", "docker"])
def test_upload_to_image_takes_glances_container_formats(door, container_format):
    """Cinder passes the container format on to Glance, which knows it."""
    volume_id = new_volume(door)
    _resp, body = door.cinder.volumes.upload_to_image(
        volume_id, False, "up", container_format, "raw", visibility="private",
        protected=False)
    image_id = body["os-volume_upload_image"]["image_id"]
    assert wait_status(door, door.glance.images, image_id, "active")[-1] \
        == "active"
    assert door.glance.images.get(image_id)["container_format"] \
        == container_format
    wait_status(door, door.cinder.volumes, volume_id, "available")


def test_upload_to_image_refuses_what_glance_does_not_know(door):
    volume_id = new_volume(door)
    with pytest.raises(cinder_exc.BadRequest, match="Unable to set "
                       "'container_format' to 'floppy'"):
        door.cinder.volumes.upload_to_image(volume_id, False, "up", "floppy",
                                            "raw", visibility="private",
                                            protected=False)
    assert status(door.cinder.volumes, volume_id) == "available"


def test_an_in_use_volume_needs_force_to_be_snapshotted_or_uploaded(door):
    volume_id = new_volume(door)
    assert door.attach(volume_id) == "in-use"
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volume_snapshots.create(volume_id)
    snapshot = door.cinder.volume_snapshots.create(volume_id, force=True)
    assert wait_status(door, door.cinder.volume_snapshots, snapshot.id,
                       "available")[-1] == "available"
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.upload_to_image(volume_id, False, "up", "bare",
                                            "raw", visibility="private",
                                            protected=False)


def test_a_forced_upload_of_an_in_use_volume_is_refused_by_default(door):
    """Cinder ignores upload-to-image's force unless its operator set
    enable_force_upload (off by default), and creates nothing."""
    volume_id = new_volume(door)
    assert door.attach(volume_id) == "in-use"
    images_before = [image["id"] for image in door.glance.images.list()]
    with pytest.raises(cinder_exc.BadRequest) as info:
        door.cinder.volumes.upload_to_image(volume_id, True, "up", "bare",
                                            "raw", visibility="private",
                                            protected=False)
    assert "status must be available" in str(info.value)
    assert [image["id"] for image in door.glance.images.list()] == images_before
    assert status(door.cinder.volumes, volume_id) == "in-use"


@pytest.mark.parametrize("size", [0, -1])
def test_volume_sizes_below_1_are_refused(door, size):
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.create(size)


def test_a_size_past_the_default_quota_is_413(door):
    """No maximum size but the quota: 1000 gigabytes by default."""
    with pytest.raises(cinder_exc.OverLimit, match="Requested 1001G, quota "
                       "is 1000G"):
        door.cinder.volumes.create(1001)


@model_only(NOVA)
def test_attach_and_detach_move_through_their_statuses(door):
    server_id = door.server()
    volume_id = new_volume(door)
    door.nova.volumes.create_server_volume(server_id, volume_id)
    assert wait_status(door, door.cinder.volumes, volume_id, "in-use")[-1] \
        == "in-use"
    attachments = door.nova.volumes.get_server_volumes(server_id)
    assert [(a.volumeId, a.device) for a in attachments] == [
        (volume_id, "/dev/vdb")]
    door.nova.volumes.delete_server_volume(server_id, volume_id)
    assert wait_status(door, door.cinder.volumes, volume_id, "available")[-1] \
        == "available"
    assert "server.get_volumes" in door.calls


@model_only(NOVA)
def test_swap_is_refused_as_current_nova_does(door):
    server_id = door.server()
    old_id, new_id = new_volume(door), new_volume(door)
    door.nova.volumes.create_server_volume(server_id, old_id)
    wait_status(door, door.cinder.volumes, old_id, "in-use")
    with pytest.raises(nova_exc.Conflict):
        door.nova.volumes.update_server_volume(server_id, old_id, new_id)
    assert "server.swap" in door.calls
    assert status(door.cinder.volumes, old_id) == "in-use"
    assert status(door.cinder.volumes, new_id) == "available"


# --- faults --------------------------------------------------------------


@model_only(FAULTS)
@pytest.mark.parametrize("fault, options", [("exception", {}),
                                            ("http", {"status": 503})])
def test_an_http_fault_fails_the_request_and_changes_nothing(door, fault,
                                                             options):
    door.inject("volume.create", fault, **options)
    with pytest.raises(cinder_exc.ClientException) as info:
        door.cinder.volumes.create(1)
    assert info.value.code == options.get("status", 500)
    assert door.cinder.volumes.list() == []
    new_volume(door)  # used up


@model_only(FAULTS)
def test_an_error_fault_ends_the_resource_in_error(door):
    door.inject("volume.create", "error")
    volume = door.cinder.volumes.create(1)
    assert wait_status(door, door.cinder.volumes, volume.id, "available")[-1] \
        == "error"
    door.inject("volume.delete", "error")
    door.cinder.volumes.delete(volume.id)
    assert wait_status(door, door.cinder.volumes, volume.id, "gone")[-1] \
        == "error_deleting"


@model_only(FAULTS)
def test_a_busy_fault_undoes_a_deletion_as_cinders_manager_does(door):
    """VolumeIsBusy/SnapshotIsBusy: the deletion is taken, then the resource
    is available again, and can be deleted again."""
    volume_id = new_volume(door)
    snapshot = door.cinder.volume_snapshots.create(volume_id)
    wait_status(door, door.cinder.volume_snapshots, snapshot.id, "available")
    door.inject("snapshot.delete", "busy")
    door.cinder.volume_snapshots.delete(snapshot.id)
    seen = wait_status(door, door.cinder.volume_snapshots, snapshot.id,
                       "available")
    assert seen[-1] == "available"
    door.cinder.volume_snapshots.delete(snapshot.id)
    wait_gone(door, door.cinder.volume_snapshots, snapshot.id,
              cinder_exc.NotFound)
    door.inject("volume.delete", "busy")
    door.cinder.volumes.delete(volume_id)
    assert status(door.cinder.volumes, volume_id) == "deleting"
    assert wait_status(door, door.cinder.volumes, volume_id, "available")[-1] \
        == "available"
    door.cinder.volumes.delete(volume_id)
    wait_gone(door, door.cinder.volumes, volume_id, cinder_exc.NotFound)
    with pytest.raises(ValueError, match="only for volume.delete"):
        door.inject("image.delete", "busy")


@model_only(FAULTS)
def test_an_error_fault_on_upload_to_image_kills_the_image(door):
    volume_id = new_volume(door)
    door.inject("volume.upload_to_image", "error")
    _resp, body = door.cinder.volumes.upload_to_image(
        volume_id, False, "up", "bare", "raw", visibility="private",
        protected=False)
    image_id = body["os-volume_upload_image"]["image_id"]
    assert wait_status(door, door.glance.images, image_id, "active")[-1] \
        == "killed"
    assert wait_status(door, door.cinder.volumes, volume_id, "available")[-1] \
        == "available"


def messages_about(door, resource_id):
    return door.cinder.messages.list(search_opts={"resource_uuid": resource_id})


@model_only(FAULTS)
def test_failures_leave_cinders_user_messages(door):
    """From microversion 3.3 Cinder says why asynchronous work failed, with
    the event ids and texts of cinder/message/message_field.py."""
    assert door.cinder.api_version.get_string() >= "3.5"
    door.inject("volume.create", "error")
    volume = door.cinder.volumes.create(1)
    wait_status(door, door.cinder.volumes, volume.id, "available")
    [message] = messages_about(door, volume.id)
    assert (message.event_id, message.user_message, message.resource_type,
            message.message_level) == (
        "VOLUME_VOLUME_008_012",
        "create volume from backend storage: Driver failed to create the "
        "volume.", "VOLUME", "ERROR")
    volume_id = new_volume(door)
    assert messages_about(door, volume_id) == []
    door.inject("snapshot.create", "error")
    snapshot = door.cinder.volume_snapshots.create(volume_id)
    wait_status(door, door.cinder.volume_snapshots, snapshot.id, "available")
    [message] = messages_about(door, snapshot.id)
    assert (message.event_id, message.user_message) == (
        "VOLUME_VOLUME_SNAPSHOT_009_013",
        "create snapshot: Snapshot failed to create.")
    door.inject("volume.upload_to_image", "error")
    _resp, body = door.cinder.volumes.upload_to_image(
        volume_id, False, "up", "bare", "raw", visibility="private",
        protected=False)
    image_id = body["os-volume_upload_image"]["image_id"]
    wait_status(door, door.glance.images, image_id, "active")
    wait_status(door, door.cinder.volumes, volume_id, "available")
    [message] = messages_about(door, volume_id)
    assert (message.event_id, message.user_message) == (
        "VOLUME_VOLUME_003_004",
        "copy volume to image: Failed to upload volume to image at backend.")
    assert door.cinder.messages.get(message.id).resource_uuid == volume_id
    # a project sees its own messages only
    assert message.id not in [m.id for m in door.other_cinder.messages.list()]


@model_only(FAULTS)
def test_a_slow_fault_makes_the_working_status_last_longer(door):
    door.inject("volume.create", "slow", polls=3)
    volume = door.cinder.volumes.create(1)
    assert wait_status(door, door.cinder.volumes, volume.id, "available")[-1] \
        == "available"


@model_only(FAULTS)
def test_faults_are_validated(door):
    for step, fault, options in [("nope", "error", {}),
                                 ("volume.create", "nope", {}),
                                 ("volume.create", "drop", {}),
                                 ("image.data", "error", {}),
                                 ("volume.list", "slow", {"polls": 1}),
                                 ("volume.create", "http", {"status": 200})]:
        with pytest.raises(ValueError):
            door.inject(step, fault, **options)


@model_only(FAULTS)
def test_a_drop_ends_the_download_early_and_corrupt_flips_a_byte(door):
    data = bytes(range(256)) * 64
    image_id = image_with(door, data)
    door.inject("image.data", "drop", after_bytes=100)
    received = bytearray()
    with pytest.raises(OSError):
        for piece in door.glance.images.data(image_id, do_checksum=False):
            received += piece
    # over a socket urllib3 may lose what it buffered when the body breaks off
    assert data[:100].startswith(bytes(received))
    door.inject("image.data", "corrupt", at_byte=5)
    body = b"".join(door.glance.images.data(image_id, do_checksum=False))
    assert body[5] == data[5] ^ 0xFF and body[6:] == data[6:]
    assert door.calls.count("image.data") == 2


# --- images, Range, lists, projects -------------------------------------------


def test_an_uploaded_image_is_active_with_glances_checksums(door):
    data = b"0123456789" * 1000
    image_id = image_with(door, data)
    image = door.glance.images.get(image_id)
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert b"".join(door.glance.images.data(image_id)) == data
    assert image["visibility"] == "shared"  # Glance's default


def test_glance_hashes_every_image_with_sha512_by_default(door):
    """os_hash_algo/os_hash_value (Glance's hashing_algorithm, sha512 unless
    configured), of data uploaded to Glance and of an upload from Cinder."""
    data = b"abcdefgh" * 2000
    image = door.glance.images.get(image_with(door, data))
    assert (image["os_hash_algo"], image["os_hash_value"]) == (
        "sha512", hashlib.sha512(data).hexdigest())
    volume_id = new_volume(door)
    _resp, body = door.cinder.volumes.upload_to_image(
        volume_id, False, "up", "bare", "raw", visibility="private",
        protected=False)
    image_id = body["os-volume_upload_image"]["image_id"]
    wait_status(door, door.glance.images, image_id, "active")
    image = door.glance.images.get(image_id)
    sha512 = hashlib.sha512()
    md5 = hashlib.md5(usedforsecurity=False)
    for piece in door.glance.images.data(image_id):  # a real GiB: streamed
        sha512.update(piece)
        md5.update(piece)
    assert (image["os_hash_algo"], image["os_hash_value"]) == (
        "sha512", sha512.hexdigest())
    assert image["checksum"] == md5.hexdigest()


def ranged(door, image_id, header):
    """A Range GET of an image's data, as the facade's resume sends it
    (glanceclient's own ``get`` would URL-quote the header)."""
    return ksa_adapter.Adapter.request(
        door.glance.http_client, f"/v2/images/{image_id}/file", "GET",
        headers={"Range": header}, raise_exc=False)


@pytest.mark.parametrize("header, status, part", [
    ("bytes=10-", 206, slice(10, None)),
    ("bytes=10-19", 206, slice(10, 20)),
    ("bytes=-5", 206, slice(-5, None)),
])
def test_range_requests_answer_206_with_content_range(door, header, status, part):
    data = bytes(range(100))
    image_id = image_with(door, data)
    response = ranged(door, image_id, header)
    assert response.status_code == status
    assert response.content == data[part]
    start = part.start if part.start >= 0 else len(data) + part.start
    assert response.headers["Content-Range"].startswith(f"bytes {start}-")


def test_a_range_past_the_end_is_416(door):
    image_id = image_with(door, b"x" * 10)
    assert ranged(door, image_id, "bytes=10-").status_code == 416


def test_lists_page_with_limit_and_marker(door):
    ids = [new_volume(door, name=f"v{n}") for n in range(3)]
    first = door.cinder.volumes.list(limit=2)
    rest = door.cinder.volumes.list(marker=first[-1].id, limit=2)
    assert sorted(v.id for v in [*first, *rest]) == sorted(ids)
    for n in range(3):
        image_with(door, b"abc", name=f"i{n}")
    assert len(list(door.glance.images.list(page_size=1))) == 3


def test_each_project_sees_only_its_own(door):
    volume_id = new_volume(door)
    image_id = image_with(door, b"mine")
    door.glance.images.update(image_id, visibility="private")
    with pytest.raises(cinder_exc.NotFound):
        door.other_cinder.volumes.get(volume_id)
    assert door.other_cinder.volumes.list() == []
    with pytest.raises(glance_exc.HTTPNotFound):
        door.other_glance.images.get(image_id)


# --- bytes --------------------------------------------------------------------


def volume_from_image(door, data):
    volume = door.cinder.volumes.create(1, imageRef=image_with(door, data))
    assert wait_status(door, door.cinder.volumes, volume.id, "available")[-1] \
        == "available"
    return volume.id


def test_volumes_from_a_snapshot_a_volume_or_an_image_get_their_bytes(door):
    data = bytes(range(256)) * 40
    source = volume_from_image(door, data)
    assert door.read_volume(source, len(data)) == data
    snapshot = door.cinder.volume_snapshots.create(source)
    wait_status(door, door.cinder.volume_snapshots, snapshot.id, "available")
    from_snapshot = new_volume(door, snapshot_id=snapshot.id)
    from_volume = new_volume(door, source_volid=source)
    for volume_id in (from_snapshot, from_volume):
        assert door.read_volume(volume_id, len(data)) == data
        assert door.cinder.volumes.get(volume_id).bootable == "true"  # inherited


def test_an_upload_to_image_holds_the_volumes_bytes(door):
    data = b"volume bytes" * 50
    volume_id = volume_from_image(door, data)
    _resp, body = door.cinder.volumes.upload_to_image(
        volume_id, False, "up", "bare", "raw", visibility="private",
        protected=False)
    image_id = body["os-volume_upload_image"]["image_id"]
    wait_status(door, door.glance.images, image_id, "active")
    head, rest = bytearray(), hashlib.sha256()
    length = 0
    for piece in door.glance.images.data(image_id):  # a real GiB: streamed
        if len(head) < len(data):
            taken = piece[:len(data) - len(head)]
            head += taken
            piece = piece[len(taken):]
        rest.update(piece)
        length += len(piece)
    assert bytes(head) == data
    zeros = hashlib.sha256()
    for offset in range(0, length, 1 << 20):
        zeros.update(bytes(min(1 << 20, length - offset)))
    assert rest.hexdigest() == zeros.hexdigest()  # then zeros only


# --- what Cinder refuses ----------------------------------------------------------


MISSING = "00000000-0000-4000-8000-000000000000"


def test_sources_must_exist_and_be_ready(door):
    for field in ("snapshot_id", "source_volid"):
        with pytest.raises(cinder_exc.BadRequest, match=f"field/attribute "
                           f"{field}. Value: missing"):  # not a UUID
            door.cinder.volumes.create(1, **{field: "missing"})
        with pytest.raises(cinder_exc.NotFound, match=MISSING):
            door.cinder.volumes.create(1, **{field: MISSING})
    for image_ref in ("missing", MISSING):
        with pytest.raises(cinder_exc.BadRequest, match="Invalid image "
                           "identifier or unable to access requested image"):
            door.cinder.volumes.create(1, imageRef=image_ref)
    queued = door.glance.images.create(name="q", disk_format="raw",
                                       container_format="bare")
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.create(1, imageRef=queued["id"])
    with pytest.raises(cinder_exc.BadRequest, match="volume_id"):
        door.cinder.volume_snapshots.create("missing")
    with pytest.raises(cinder_exc.NotFound, match=MISSING):
        door.cinder.volume_snapshots.create(MISSING)
    assert door.cinder.volumes.list() == []


def test_a_volume_cannot_be_smaller_than_its_source(door):
    source = new_volume(door, size=2)
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.create(1, source_volid=source)
    snapshot = door.cinder.volume_snapshots.create(source)
    wait_status(door, door.cinder.volume_snapshots, snapshot.id, "available")
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.create(1, snapshot_id=snapshot.id)


@model_only(FAULTS)
def test_busy_or_attached_volumes_are_not_deleted_and_cascade_takes_snapshots(door):
    door.inject("volume.create", "slow", polls=1000)  # creating for long
    busy = door.cinder.volumes.create(1)
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.delete(busy.id)
    volume = door.cinder.volumes.create(1)
    wait_status(door, door.cinder.volumes, volume.id, "available")
    snapshot = door.cinder.volume_snapshots.create(volume.id)
    wait_status(door, door.cinder.volume_snapshots, snapshot.id, "available")
    door.cinder.volumes.delete(volume.id, cascade=True)
    wait_gone(door, door.cinder.volumes, volume.id, cinder_exc.NotFound)
    with pytest.raises(cinder_exc.NotFound):
        door.cinder.volume_snapshots.get(snapshot.id)
    server_id = door.server()
    attached = new_volume(door)
    door.nova.volumes.create_server_volume(server_id, attached)
    wait_status(door, door.cinder.volumes, attached, "in-use")
    with pytest.raises(cinder_exc.BadRequest):
        door.cinder.volumes.delete(attached)


def test_lists_filter_and_summaries_show_id_name_and_links(door):
    first = new_volume(door, name="first")
    new_volume(door, name="second")
    named = door.cinder.volumes.list(search_opts={"name": "first"})
    assert [v.id for v in named] == [first]
    assert door.cinder.volumes.list(search_opts={"status": "error"}) == []
    summary = door.cinder.volumes.list(detailed=False)[0]
    assert set(summary._info) == {"id", "name", "links"}
    snapshot = door.cinder.volume_snapshots.create(first)
    wait_status(door, door.cinder.volume_snapshots, snapshot.id, "available")
    assert [s.id for s in door.cinder.volume_snapshots.list(
        search_opts={"volume_id": first})] == [snapshot.id]
    assert door.cinder.volumes.get(first).size == 1


# --- more faults --------------------------------------------------------------


@model_only(FAULTS)
def test_a_fault_is_used_up_after_its_times_and_clear_disarms(door):
    door.inject("volume.list", "exception", times=2)
    for _ in range(2):
        with pytest.raises(cinder_exc.ClientException):
            door.cinder.volumes.list()
    assert door.cinder.volumes.list() == []
    door.inject("volume.list", "exception", times=None)
    door.clear_faults()
    assert door.cinder.volumes.list() == []
    assert door.calls.count("volume.list") == 4


@model_only(FAULTS)
def test_an_exception_is_each_clients_500(door):
    door.inject("image.list", "exception")
    with pytest.raises(glance_exc.HTTPInternalServerError):
        list(door.glance.images.list())
    door.inject("server.get_volumes", "exception")
    server_id = door.server()
    with pytest.raises(nova_exc.ClientException) as info:
        door.nova.volumes.get_server_volumes(server_id)
    assert info.value.code == 500


@model_only(FAULTS)
def test_an_error_on_attach_rolls_back_and_on_detach_stays_in_use(door):
    server_id = door.server()
    volume_id = new_volume(door)
    door.inject("server.attach", "error")
    door.nova.volumes.create_server_volume(server_id, volume_id)
    assert door.wait(lambda: status(door.cinder.volumes, volume_id),
                     lambda value: value != "attaching")[-1] == "available"
    assert door.nova.volumes.get_server_volumes(server_id) == []
    door.nova.volumes.create_server_volume(server_id, volume_id)
    wait_status(door, door.cinder.volumes, volume_id, "in-use")
    door.inject("server.detach", "error")
    door.nova.volumes.delete_server_volume(server_id, volume_id)
    assert door.wait(lambda: status(door.cinder.volumes, volume_id),
                     lambda value: value == "in-use")[-1] == "in-use"


@model_only(FAULTS)
def test_an_error_on_image_upload_kills_the_image(door):
    image = door.glance.images.create(name="x", disk_format="raw",
                                      container_format="bare")
    door.inject("image.upload", "error")
    door.glance.images.upload(image["id"], io.BytesIO(b"data"))
    assert door.glance.images.get(image["id"])["status"] == "killed"


@model_only(FAULTS)
def test_slow_polls_keep_an_upload_saving_longer(door):
    volume_id = new_volume(door)
    door.inject("volume.upload_to_image", "slow", polls=2)
    _resp, body = door.cinder.volumes.upload_to_image(
        volume_id, False, "up", "bare", "raw", visibility="private",
        protected=False)
    image_id = body["os-volume_upload_image"]["image_id"]
    assert wait_status(door, door.glance.images, image_id, "active")[-1] \
        == "active"


@model_only(FAULTS)
def test_a_corrupt_download_fails_glanceclients_checksum(door):
    data = bytes(range(256)) * 8
    image_id = image_with(door, data)
    door.inject("image.data", "corrupt", at_byte=10**6)  # the last byte
    with pytest.raises(IOError):
        b"".join(door.glance.images.data(image_id))


# --- Glance -----------------------------------------------------------------------


def test_glance_refuses_bad_fields_read_only_ones_and_protected_deletes(door):
    with pytest.raises((glance_exc.HTTPBadRequest, TypeError, ValueError)):
        door.glance.images.create(name="x", disk_format="floppy")
    with pytest.raises((glance_exc.HTTPForbidden, TypeError, ValueError)):
        door.glance.images.create(name="x", status="active")
    image = door.glance.images.create(name="p", protected=True,
                                      disk_format="raw", container_format="bare")
    with pytest.raises(glance_exc.HTTPForbidden):
        door.glance.images.delete(image["id"])
    with pytest.raises(glance_exc.HTTPNotFound):
        door.glance.images.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(glance_exc.HTTPNotFound):
        door.glance.images.delete("00000000-0000-0000-0000-000000000000")


def test_image_data_without_data_is_falsy_and_empty_data_is_empty(door):
    queued = door.glance.images.create(name="q", disk_format="raw",
                                       container_format="bare")
    assert not door.glance.images.data(queued["id"])
    empty = image_with(door, b"", name="empty")
    assert b"".join(door.glance.images.data(empty)) == b""
    with pytest.raises(glance_exc.HTTPConflict):  # no longer queued
        door.glance.images.upload(empty, io.BytesIO(b"more"))


def test_an_image_is_deleted_at_once(door):
    image_id = image_with(door, b"abc")
    door.glance.images.delete(image_id)
    with pytest.raises(glance_exc.HTTPNotFound):
        door.glance.images.get(image_id)


# --- Nova ----------------------------------------------------------------------------


@model_only(NOVA)
def test_attachments_take_free_devices_and_need_ready_volumes_and_servers(door):
    server_id = door.server()
    first, second = new_volume(door), new_volume(door)
    door.nova.volumes.create_server_volume(server_id, first)
    door.nova.volumes.create_server_volume(server_id, second)
    for volume_id in (first, second):
        wait_status(door, door.cinder.volumes, volume_id, "in-use")
    devices = {a.volumeId: a.device
               for a in door.nova.volumes.get_server_volumes(server_id)}
    assert devices == {first: "/dev/vdb", second: "/dev/vdc"}
    assert door.nova.volumes.get_server_volume(server_id, first).device \
        == "/dev/vdb"
    with pytest.raises(nova_exc.BadRequest):
        door.nova.volumes.create_server_volume(server_id, first)
    with pytest.raises(nova_exc.NotFound):
        door.nova.volumes.create_server_volume("missing", new_volume(door))
    with pytest.raises(nova_exc.NotFound):
        door.nova.volumes.delete_server_volume(server_id, "missing")


@model_only(NOVA)
def test_deleting_a_server_detaches_its_volumes(door):
    server_id = door.server()
    volume_id = new_volume(door)
    door.nova.volumes.create_server_volume(server_id, volume_id)
    wait_status(door, door.cinder.volumes, volume_id, "in-use")
    door.nova.servers.delete(server_id)
    assert wait_status(door, door.cinder.volumes, volume_id, "available")[-1] \
        == "available"
    wait_gone(door, door.nova.servers, server_id, nova_exc.NotFound)


# --- the cloud a restore lands in (issue 12: D1, D3, D8) -------------------


def project_of(door):
    return door.cinder.client.get_project_id()


def test_with_glance_on_rbd_an_image_a_volume_is_cloned_from_is_kept(door):
    with door.glance_direct_urls():  # Glance on Cinder's Ceph
        image_id = image_with(door, b"cloned" * 100)
        volume_id = new_volume(door, imageRef=image_id)
        with pytest.raises(glance_exc.HTTPConflict, match="in use through the "
                           "backend store outside of Glance"):
            door.glance.images.delete(image_id)
        assert door.glance.images.get(image_id)["status"] == "active"
        door.cinder.volumes.delete(volume_id)
        wait_gone(door, door.cinder.volumes, volume_id, cinder_exc.NotFound)
        door.wait(lambda: deleted(door, image_id), bool)  # nothing holds it
        with pytest.raises(glance_exc.HTTPNotFound):
            door.glance.images.get(image_id)


def deleted(door, image_id):
    """Delete an image; False while something still holds it (409: RBD frees
    a clone's parent when the clone is gone, maybe a moment later)."""
    try:
        door.glance.images.delete(image_id)
    except glance_exc.HTTPConflict:
        return False
    return True


def test_without_direct_urls_an_image_a_volume_came_from_is_deleted(door):
    image_id = image_with(door, b"copied" * 100)
    new_volume(door, imageRef=image_id)
    door.glance.images.delete(image_id)
    with pytest.raises(glance_exc.HTTPNotFound):
        door.glance.images.get(image_id)


def test_image_properties_become_volume_image_metadata_and_can_be_changed(door):
    image = door.glance.images.create(
        name="uefi", disk_format="raw", container_format="bare", min_ram=512,
        hw_firmware_type="uefi", os_distro="ubuntu")
    door.glance.images.upload(image["id"], io.BytesIO(b"boot" * 100))
    volume_id = new_volume(door, imageRef=image["id"], metadata={"k": "v"})
    volume = door.cinder.volumes.get(volume_id)
    assert volume.bootable == "true"
    assert volume.metadata == {"k": "v"}
    shown = volume.volume_image_metadata
    assert shown["hw_firmware_type"] == "uefi" and shown["os_distro"] == "ubuntu"
    assert shown["image_id"] == image["id"] and shown["image_name"] == "uefi"
    assert shown["min_ram"] == "512" and shown["disk_format"] == "raw"
    door.cinder.volumes.set_bootable(volume_id, False)
    door.cinder.volumes.set_image_metadata(volume_id, {"image_name": "orig"})
    door.cinder.volumes.delete_image_metadata(volume_id, ["os_distro"])
    volume = door.cinder.volumes.get(volume_id)
    assert volume.bootable == "false"
    assert volume.volume_image_metadata["image_name"] == "orig"
    assert "os_distro" not in volume.volume_image_metadata


def test_volume_types_and_zones_are_listed_and_unknown_ones_refused(door):
    names = [t.name for t in door.cinder.volume_types.list()]
    assert "__DEFAULT__" in names
    zones = door.cinder.availability_zones.list(detailed=False)
    assert [z.zoneName for z in zones] == ["nova"]
    assert zones[0].zoneState == {"available": True}
    with pytest.raises(cinder_exc.NotFound, match="Volume type with name "
                       "nope could not be found"):
        door.cinder.volumes.create(1, volume_type="nope")
    with pytest.raises(cinder_exc.BadRequest, match="Availability zone 'mars' "
                       "is invalid"):
        door.cinder.volumes.create(1, availability_zone="mars")
    volume = door.cinder.volumes.get(new_volume(door, volume_type="__DEFAULT__"))
    assert volume.volume_type == "__DEFAULT__"
    assert volume.availability_zone == "nova"


def test_limits_and_quota_sets_tell_what_is_left_and_413_past_it(door):
    project_id = project_of(door)
    new_volume(door, size=2)
    door.set_quota(project_id, gigabytes=3, volumes=5)
    absolute = {limit.name: limit.value
                for limit in door.cinder.limits.get().absolute}
    assert absolute["maxTotalVolumeGigabytes"] == 3
    assert absolute["totalGigabytesUsed"] == 2
    assert absolute["maxTotalVolumes"] == 5
    assert absolute["totalVolumesUsed"] == 1
    quota_set = door.cinder.quotas.get(project_id, usage=True)
    assert quota_set.gigabytes == {"limit": 3, "in_use": 2, "reserved": 0}
    assert quota_set.gigabytes___DEFAULT__["in_use"] == 2
    with pytest.raises(cinder_exc.OverLimit, match="exceeds allowed gigabytes "
                       "quota. Requested 2G, quota is 3G and 2G has been "
                       "consumed"):
        door.cinder.volumes.create(2)
    with pytest.raises(cinder_exc.Forbidden):  # another project's quotas
        door.other_cinder.quotas.get(project_id, usage=True)
    door.set_quota(project_id, gigabytes=-1, per_volume_gigabytes=2)
    with pytest.raises(cinder_exc.OverLimit, match="Requested volume size 3G "
                       "is larger than maximum allowed limit 2G"):
        door.cinder.volumes.create(3)
