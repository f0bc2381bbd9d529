"""Glance's ``os_hash_algo``/``os_hash_value`` (issue 12, D5): protect checks
the downloaded bytes against it, md5 only when Glance gives no os_hash; restore
checks what Glance stored against it."""

import hashlib
import os

import pytest

from karbor_volume_glance import datapath, exceptions
from tests.unit.harness import OBJECT_SIZE


def test_a_corrupt_download_is_caught_by_the_os_hash(harness):
    volume_id = harness.cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.cloud.inject("image.data", "corrupt", at_byte=7)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    message = str(info.value)
    assert "sha512" in message and "md5" not in message
    assert harness.cloud.leftovers() == []


@pytest.mark.parametrize("algorithm", ["sha256", "sha3_512", "blake2b"])
def test_the_algorithm_glance_is_configured_with_is_used(harness, algorithm):
    harness.cloud.images.hashing_algorithm = algorithm
    data = os.urandom(2 * OBJECT_SIZE + 5)
    volume_id = harness.cloud.add_volume(data=data)
    harness.protect(volume_id)
    meta = harness.section(volume_id).get_object("metadata")
    assert meta["image_metadata"]["os_hash_algo"] == algorithm
    assert meta["image_metadata"]["os_hash_value"] == hashlib.new(
        algorithm, data).hexdigest()
    assert meta["image_metadata"]["checksum"] == hashlib.md5(data).hexdigest()


def test_a_glance_os_hash_that_differs_fails_naming_image_and_algorithm(
        harness, monkeypatch):
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    images = harness.cloud.images
    finish = images.finish_saving

    def lying(image, result):
        finish(image, result)
        image.os_hash_value = "0" * 128  # Glance's claim, not the data's

    monkeypatch.setattr(images, "finish_saving", lying)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert "sha512" in str(info.value) and "temporary" not in str(info.value)
    assert "image" in str(info.value)


def test_md5_is_the_fallback_when_glance_gives_no_os_hash(harness, monkeypatch):
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    images = harness.cloud.images
    finish = images.finish_saving

    def old_glance(image, result):
        finish(image, result)
        image.os_hash_algo = image.os_hash_value = None

    monkeypatch.setattr(images, "finish_saving", old_glance)
    harness.cloud.inject("image.data", "corrupt", at_byte=3)
    with pytest.raises(exceptions.ProtectFailed) as info:
        harness.protect(volume_id)
    assert "md5" in str(info.value)


def test_the_md5_pass_is_replaced_not_added(harness, monkeypatch):
    """With an os_hash, the stream is hashed by sha256 and that algorithm only."""
    made = []
    real = datapath.StreamDigest.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(datapath.StreamDigest, "__init__", spy)
    volume_id = harness.cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    harness.protect(volume_id)
    assert [(d.algorithm, d.md5) for d in made] == [("sha512", None)]


def test_restore_checks_the_os_hash_glance_stored(harness, monkeypatch):
    volume_id = harness.cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    harness.protect(volume_id)
    images = harness.cloud.images
    finish = images.finish_saving

    def lying(image, result):
        finish(image, result)
        if result is not None:
            image.os_hash_value = "0" * 128

    monkeypatch.setattr(images, "finish_saving", lying)
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id)
    assert "sha512" in str(info.value)
    assert harness.cloud.leftovers(keep=[volume_id]) == []


def test_restore_of_an_older_backup_hashes_glance_s_algorithm(harness):
    data = os.urandom(OBJECT_SIZE + 9)
    volume_id = harness.cloud.add_volume(data=data)
    harness.protect(volume_id)
    section = harness.section(volume_id)
    meta = section.get_object("metadata")
    for name in ("os_hash_algo", "os_hash_value"):
        meta["image_metadata"].pop(name)
    section.update_object("metadata", meta)
    new_id = harness.restore(volume_id)
    assert harness.cloud.volume_data(new_id)[:len(data)] == data
