"""A fake python-cinderclient v3 client over a :class:`~.fakecloud.FakeCloud`.

It offers what the plugin uses of ``cinderclient.v3.client.Client``:
``volumes`` and ``volume_snapshots`` with the real signatures (microversion
3.59), the real resource and exception classes, and ``api_version``.
"""

from cinderclient import api_versions

from karbor_volume_glance.testing.cinder_snapshots import FakeSnapshotManager
from karbor_volume_glance.testing.cinder_volumes import FakeVolumeManager

API_VERSION = "3.59"


class FakeCinderClient:
    def __init__(self, cloud, context=None):
        self.context = context
        self.api_version = api_versions.APIVersion(API_VERSION)
        self.volumes = FakeVolumeManager(cloud, self.api_version)
        self.volume_snapshots = FakeSnapshotManager(cloud, self.api_version)
