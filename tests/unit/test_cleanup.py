"""Temporary resources: deleted newest first, failures logged, never masking."""

import pytest

from karbor_volume_glance.cloud.cleanup import TemporaryResources


def test_resources_are_deleted_newest_first_on_success():
    deleted = []
    with TemporaryResources("test") as temps:
        for kind, rid in [("snapshot", "s"), ("volume", "v"), ("image", "i")]:
            temps.add(kind, rid, deleted.append)
    assert deleted == ["i", "v", "s"]
    assert temps.failures == []


def test_resources_are_deleted_when_the_block_fails_and_the_error_survives():
    deleted = []

    def failing_delete(resource_id):
        raise RuntimeError(f"cannot delete {resource_id}")

    with pytest.raises(ValueError, match="original"):
        with TemporaryResources("test") as temps:
            temps.add("snapshot", "s", deleted.append)
            temps.add("volume", "v", failing_delete)
            temps.add("image", "i", deleted.append)
            raise ValueError("original")
    assert deleted == ["i", "s"]
    [leftover] = temps.failures
    assert (leftover.kind, leftover.resource_id) == ("volume", "v")
    assert "cannot delete v" in leftover.reason


def test_forgotten_resources_are_kept():
    deleted = []
    with TemporaryResources("test") as temps:
        temps.add("image", "i", deleted.append)
        temps.add("volume", "keep-me", deleted.append)
        temps.forget("keep-me")
    assert deleted == ["i"]
