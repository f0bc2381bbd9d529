"""Test doubles for users of the library: a fake cloud and Karbor stand-ins.

``FakeCloud`` holds volumes, snapshots, images and servers with real bytes and
hands out the real Cinder, Glance and Nova clients, served in process by the
local cloud's one model of those services (:mod:`.localcloud`);
``FakeCheckpoint``, ``FakeRecord``, ``volume_resource`` and ``run_operation``
stand in for what Karbor gives a protection plugin. A test needs nothing else::

    cloud = FakeCloud()
    volume_id = cloud.add_volume(data=b"...")
    plugin = VolumeGlanceProtectionPlugin(client_factory=cloud.client_factory())
"""

from karbor_volume_glance.testing.fakecloud import FakeCloud, FakeContext
from karbor_volume_glance.testing.karbor import (
    FakeCheckpoint,
    FakeRecord,
    Resource,
    run_operation,
    volume_resource,
)

__all__ = [
    "FakeCheckpoint",
    "FakeCloud",
    "FakeContext",
    "FakeRecord",
    "Resource",
    "run_operation",
    "volume_resource",
]
