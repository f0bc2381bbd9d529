"""The fake cloud as tests use it: scene, bookkeeping, factory, threads.

What its services do is checked by the conformance suite
(``tests/cloud_conformance.py``), through this door and the HTTP one.
"""

import threading

import pytest

from karbor_volume_glance.testing.fakecloud import FakeCloud, FakeContext


@pytest.fixture
def cloud():
    return FakeCloud()


def cinder_of(cloud):
    return cloud.client_factory().create_client("cinder", cloud.context())


def test_factory_makes_each_real_client(cloud):
    factory = cloud.client_factory()
    context = FakeContext("p", "u")
    made = {s: factory.create_client(s, context) for s in ("cinder", "glance", "nova")}
    assert type(made["cinder"]).__module__ == "cinderclient.v3.client"
    assert type(made["glance"]).__module__ == "glanceclient.v2.client"
    assert type(made["nova"]).__module__ == "novaclient.v2.client"
    assert made["cinder"].api_version.get_string() == "3.5"  # D4: user messages


def test_factory_names_an_unknown_service(cloud):
    with pytest.raises(ValueError, match="swift"):
        cloud.client_factory().create_client("swift", cloud.context())


def test_context_carries_what_karbor_gives(cloud):
    context = FakeContext("project", "user", service_catalog=[{"type": "image"}])
    assert (context.project_id, context.user_id, context.auth_token) == (
        "project",
        "user",
        "fake-token",
    )
    assert context.to_dict()["service_catalog"] == [{"type": "image"}]


def test_transition_polls_must_be_a_count():
    with pytest.raises(ValueError):
        FakeCloud(transition_polls=-1)


def test_zero_transition_polls_make_a_cloud_with_no_waiting():
    cloud = FakeCloud(transition_polls=0)
    cinder = cinder_of(cloud)
    volume_id = cloud.add_volume()

    created = cinder.volumes.create(1)
    cinder.volumes.delete(volume_id)

    assert created.status == "available"
    assert cloud.status_of("volume", volume_id) is None


def test_user_resources_are_not_counted_as_created(cloud):
    cloud.add_volume(b"user data")
    cloud.add_server()
    cloud.add_image(b"user image")
    assert cloud.created() == []


def test_volume_data_is_the_bytes_given(cloud):
    assert cloud.volume_data(cloud.add_volume(b"\x00" * 3, size=10)) == b"\x00" * 3


def test_volume_data_of_a_missing_volume_is_a_key_error(cloud):
    with pytest.raises(KeyError):
        cloud.volume_data("missing")


def test_leftovers_are_created_resources_still_there(cloud):
    cinder = cinder_of(cloud)
    kept = cinder.volumes.create(1, name="kept")
    removed = cinder.volumes.create(1, name="removed")
    cloud.settle()
    cinder.volumes.delete(removed.id)
    cloud.settle()

    assert cloud.created() == [
        ("volume", kept.id, "kept"),
        ("volume", removed.id, "removed"),
    ]
    assert cloud.leftovers() == [("volume", kept.id, "kept")]
    assert cloud.leftovers(keep=[kept.id]) == []


def test_leftovers_include_resources_still_deleting(cloud):
    cinder = cinder_of(cloud)
    volume = cinder.volumes.create(1, name="tmp")
    cloud.settle()

    cinder.volumes.delete(volume.id)

    assert cloud.leftovers() == [("volume", volume.id, "tmp")]


def test_calls_are_recorded_in_order(cloud):
    cinder = cinder_of(cloud)
    volume_id = cloud.add_volume()

    snapshot = cinder.volume_snapshots.create(volume_id)
    cinder.volume_snapshots.get(snapshot.id)
    cinder.volumes.get(volume_id)

    assert cloud.calls == ["snapshot.create", "snapshot.get", "volume.get"]


def test_failed_calls_are_recorded_too(cloud):
    with pytest.raises(Exception):  # noqa: B017 - any client error will do
        cinder_of(cloud).volumes.get("missing")
    assert cloud.calls == ["volume.get"]


def test_settle_finishes_every_transition(cloud):
    cinder = cinder_of(cloud)
    volume = cinder.volumes.create(1)

    cloud.settle()

    assert cloud.status_of("volume", volume.id) == "available"


def test_threads_creating_volumes_at_once_lose_nothing(cloud):
    per_thread = 25
    errors = []

    def create_and_wait():
        try:
            cinder = cinder_of(cloud)
            for n in range(per_thread):
                volume = cinder.volumes.create(1, name=f"v{n}")
                while cinder.volumes.get(volume.id).status != "available":
                    pass
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=create_and_wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [resource_id for _kind, resource_id, _name in cloud.created()]
    assert errors == []
    assert len(ids) == len(set(ids)) == 8 * per_thread
    assert {cloud.status_of("volume", i) for i in ids} == {"available"}
