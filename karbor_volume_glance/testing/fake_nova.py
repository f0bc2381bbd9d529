"""A fake python-novaclient client (API 2.1) over a :class:`~.fakecloud.FakeCloud`.

It offers what the plugin uses of ``novaclient.v2.client.Client``: stub
``servers`` and the ``volumes`` attachment manager (see :mod:`.nova_volumes`).
"""

from novaclient import api_versions

from karbor_volume_glance.testing.nova_servers import FakeServerManager
from karbor_volume_glance.testing.nova_volumes import FakeServerVolumeManager

API_VERSION = "2.1"


class FakeNovaClient:
    def __init__(self, cloud, context=None):
        self.context = context
        self.api_version = api_versions.APIVersion(API_VERSION)
        self.servers = FakeServerManager(cloud, self.api_version)
        self.volumes = FakeServerVolumeManager(cloud, self.api_version)
