"""An encrypted bank's round trip at two sites, for every real bank backend
(issue 15): the tests of SeaweedFS S3 and Swift call :func:`round_trip`."""

import os

from karbor_volume_glance.format import manifest as manifest_format
from karbor_volume_glance.format import sealing
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tests.functional.sites import OBJECT_SIZE

BLOCK = 4096


def keyed_runner(site, bank, key):
    """A runner of ``site`` whose plugin has the bank's master key."""
    plugin = VolumeGlanceProtectionPlugin(site.config, client_factory=site.clients,
                                          keys=key)
    return Runner(plugin, bank, site.context)


def round_trip(sites, bank):
    """Protect at site A (full, then incremental), restore both at site B
    with the key, deep-verify, then flip a byte of a stored chunk: named."""
    key = MasterKey.generate()
    data = os.urandom(3 * OBJECT_SIZE) + bytes(2 * OBJECT_SIZE) \
        + b"text " * (OBJECT_SIZE // 5) + os.urandom(1234)
    volume_id = sites.a.create_volume(data, size=1)
    at_full = sites.a.volume_bytes(volume_id)
    runner = keyed_runner(sites.a, bank, key)
    full = runner.protect([volume_id], {volume_id: {"backup_name": "full"}})
    assert full.ok, full.failures()
    with open(sites.a.cloud.volume_path(volume_id), "r+b") as stream:
        for offset in (3 * BLOCK, 3 * OBJECT_SIZE + 10):
            stream.seek(offset)
            stream.write(os.urandom(BLOCK))
    at_incremental = sites.a.volume_bytes(volume_id)
    incremental = runner.protect(
        [volume_id], {volume_id: {"backup_name": "incr", "incremental": True}})
    assert incremental.ok, incremental.failures()
    section = runner.checkpoint(incremental.checkpoint_id) \
        .get_resource_bank_section(volume_id)
    stored = section.get_object("metadata")
    assert set(stored) == sealing.OUTER_KEYS
    assert stored["format_version"] == manifest_format.ENCRYPTED_VERSION
    shown = runner.show(incremental.checkpoint_id)["volumes"][volume_id]
    assert shown["incremental"] is True and shown["encrypted"] is True

    at_b = keyed_runner(sites.b, bank, key)
    assert at_b.verify(incremental.checkpoint_id, {"deep": True}).ok
    for checkpoint_id, expected in ((full.checkpoint_id, at_full),
                                    (incremental.checkpoint_id, at_incremental)):
        restored = at_b.restore(checkpoint_id, {})
        assert restored.ok, restored.failures()
        assert sites.b.volume_bytes(restored.outcomes[0].new_volume_id) == expected

    damaged = bytearray(section.get_object("data_4"))
    damaged[-1] ^= 1
    section.update_object("data_4", bytes(damaged))
    checked = at_b.verify(incremental.checkpoint_id, {"deep": True})
    assert not checked.ok
    [outcome] = checked.outcomes
    [bad] = outcome.details["bad"]
    assert bad["object"] == "data_4" and "does not authenticate" in bad["reason"]
