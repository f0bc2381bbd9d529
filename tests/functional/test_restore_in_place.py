"""Restore into a server over HTTP: the local cloud, the real clients, a file bank.

What the server ends up with is read back through the real novaclient (the
local cloud's Nova refuses swaps with 409, as current Nova does).
"""

import os
import time
import types

import pytest
import yaml

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from karbor_volume_glance.testing.localcloud import LocalCloud
from karbor_volume_glance.testing.notifications import RecordingNotifier
from tests.functional.sites import GIB, OBJECT_SIZE, Site

SWAP = "volume_glance.volume_swap"


@pytest.fixture
def place(tmp_path):
    """A local cloud, a server with the protected volume at /dev/vdc."""
    cloud = LocalCloud(str(tmp_path / "cloud"), status_delay=0.01, gib=GIB).start()
    try:
        clouds_yaml = tmp_path / "clouds.yaml"
        clouds_yaml.write_text(yaml.safe_dump(
            {"clouds": {"site": cloud.cloud_config()}}))
        site = Site(cloud, "site", str(clouds_yaml))
        recorder = RecordingNotifier()
        plugin = VolumeGlanceProtectionPlugin(
            site.config, client_factory=site.clients, notifier=recorder)
        nova = site.clients.create_client("nova", None)
        cinder = site.clients.create_client("cinder", None)
        server = nova.servers.create("vm", "any-image", "any-flavor")
        wait_until(lambda: nova.servers.get(server.id).status == "ACTIVE")
        first_id = site.create_volume(b"boot", name="first")
        data = os.urandom(2 * OBJECT_SIZE + 5)
        original_id = site.create_volume(data, name="original")
        for volume_id, device in ((first_id, "/dev/vdb"),
                                  (original_id, "/dev/vdc")):
            nova.volumes.create_server_volume(server.id, volume_id, device)
            site.facade.wait_volume(volume_id, success={"in-use"})
        runner = Runner(plugin, open_bank(f"file://{tmp_path}/bank"),
                        site.context)
        result = runner.protect([original_id],
                                {original_id: {"backup_name": "b"}})
        assert result.ok, result.failures()
        with open(cloud.volume_path(original_id), "r+b") as stream:
            stream.write(b"ransomware")  # what the restore is to undo
        recorder.sent.clear()
        yield types.SimpleNamespace(
            cloud=cloud, site=site, nova=nova, cinder=cinder, runner=runner,
            recorder=recorder, server_id=server.id, first_id=first_id,
            original_id=original_id, checkpoint_id=result.checkpoint_id,
            data=data, bad_data=site.volume_bytes(original_id))
    finally:
        cloud.stop()


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def attachments(place):
    """What the real novaclient says is attached to the server."""
    return sorted((a.volumeId, a.device)
                  for a in place.nova.volumes.get_server_volumes(place.server_id))


def restore(place, **params):
    return place.runner.restore(place.checkpoint_id,
                                {place.original_id: params})


def expected_bytes(place):
    return place.data + bytes(GIB - len(place.data))


def check_swap_payloads(place, new_id):
    for _priority, _event, payload in place.recorder.swaps():
        assert payload["server_id"] == place.server_id
        assert payload["old_volume_id"] == place.original_id
        assert payload["new_volume_id"] == new_id
        assert payload["device"] == "/dev/vdc"
        assert payload["checkpoint_id"] == place.checkpoint_id
        assert payload["project_id"] == place.site.project_id


def test_restore_attaches_to_the_server(place):
    restored = restore(place, server_id=place.server_id)
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert attachments(place) == sorted([
        (place.first_id, "/dev/vdb"), (place.original_id, "/dev/vdc"),
        (new_id, "/dev/vdd")])
    assert place.cinder.volumes.get(new_id).status == "in-use"
    assert place.site.volume_bytes(new_id) == expected_bytes(place)
    assert place.recorder.swaps() == []


def test_restore_in_place_replaces_the_volume_at_its_device(place):
    restored = restore(place, server_id=place.server_id, replace_volume=True)
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert attachments(place) == sorted([(place.first_id, "/dev/vdb"),
                                         (new_id, "/dev/vdc")])
    # the server's /dev/vdc now holds the backup, whatever Nova would accept
    assert place.site.volume_bytes(new_id) == expected_bytes(place)
    # the original is detached, kept, and still holds what it held
    assert place.cinder.volumes.get(place.original_id).status == "available"
    assert place.site.volume_bytes(place.original_id) == place.bad_data
    assert [(p, e) for p, e, _ in place.recorder.swaps()] == [
        ("INFO", f"{SWAP}.start"), ("INFO", f"{SWAP}.end")]
    assert place.recorder.swaps()[1][2]["method"] == "detach-attach"
    check_swap_payloads(place, new_id)


@pytest.mark.parametrize("fault, options", [("error", {}),
                                            ("http", {"status": 500})])
def test_a_failed_attach_over_http_rolls_back(place, fault, options):
    place.cloud.inject("server.attach", fault, **options)
    restored = restore(place, server_id=place.server_id, replace_volume=True)
    assert not restored.ok
    error = restored.outcomes[0].error
    assert "PlacementFailed" in error
    assert f"volume {place.original_id} is attached again at /dev/vdc" in error
    new_ids = [v.id for v in place.cinder.volumes.list()
               if v.id not in (place.first_id, place.original_id)]
    assert len(new_ids) == 1  # the restored volume is kept
    new_id = new_ids[0]
    assert new_id in error
    # the server is as it was, through the real novaclient
    assert attachments(place) == sorted([(place.first_id, "/dev/vdb"),
                                         (place.original_id, "/dev/vdc")])
    assert place.cinder.volumes.get(place.original_id).status == "in-use"
    assert place.site.volume_bytes(place.original_id) == place.bad_data
    assert place.cinder.volumes.get(new_id).status == "available"
    assert place.site.volume_bytes(new_id) == expected_bytes(place)
    swaps = place.recorder.swaps()
    assert [(p, e) for p, e, _ in swaps] == [("INFO", f"{SWAP}.start"),
                                             ("ERROR", f"{SWAP}.error")]
    payload = swaps[1][2]
    assert payload["rolled_back"] is True and payload["rollback_error"] is None
    expected_reason = ("ResourceFailed" if fault == "error"
                       else "CloudError: attaching volume")
    assert payload["fail_reason"].startswith(expected_reason)
    check_swap_payloads(place, new_id)
    events = [e for _p, e, _ in place.recorder.sent
              if not e.endswith(".progress")]
    assert events[-1] == "volume_glance.restore.error"
