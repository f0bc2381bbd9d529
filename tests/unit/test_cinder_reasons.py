"""Cinder's reason in the error (issue 12, D4): when an upload, a snapshot or
a volume creation fails, the error carries Cinder's user message
(microversion 3.3) about the resource."""

import os

import pytest

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import Bank
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.cloud import facade, factory
from tests.unit.harness import OBJECT_SIZE, Harness

UPLOAD = "copy volume to image: Failed to upload volume to image at backend."
SNAPSHOT = "create snapshot: Snapshot failed to create."
VOLUME = "create volume from backend storage: Driver failed to create the volume."


@pytest.mark.parametrize("step, reason", [
    ("volume.upload_to_image", UPLOAD),
    ("snapshot.create", SNAPSHOT),
    ("volume.create", VOLUME),
])
def test_a_failed_protect_step_says_what_cinder_says(cloud, bank, step, reason):
    harness = Harness(cloud, bank, backup_from_snapshot=True)  # every step
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.cloud.inject(step, "error")
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert reason in str(info.value)
    assert harness.cloud.leftovers() == []


def test_a_failed_restore_volume_says_what_cinder_says(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.protect(volume_id)
    harness.cloud.inject("volume.create", "error")
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id)
    assert VOLUME in str(info.value)


def test_the_microversion_with_user_messages_is_negotiated(cloud):
    client = cloud.client_factory().create_client("cinder")
    assert facade._supports(client, "3.3")
    assert factory.CINDER_API_VERSION >= "3.3"


def test_without_user_messages_the_error_is_as_before(cloud, monkeypatch):
    """A Cinder older than 3.3: no reason to ask for, the status is named."""
    monkeypatch.setattr(factory, "CINDER_API_VERSION", "3.1")
    harness = Harness(cloud, Bank(MemoryBackend()), backup_from_snapshot=True)
    volume_id = cloud.add_volume(data=b"abc")
    cloud.inject("snapshot.create", "error")
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert "'error'" in str(info.value) and SNAPSHOT not in str(info.value)
