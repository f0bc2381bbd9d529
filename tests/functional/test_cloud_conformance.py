"""The cloud conformance suite through the HTTP door (LocalCloud on 127.0.0.1)."""

import pytest

from karbor_volume_glance.testing.localcloud import LocalCloud
from tests.cloud_conformance import *  # noqa: F403 - the shared tests
from tests.cloud_conformance import Door
from tests.functional.localcloud.helpers import MIB, wait_for

USERS = {"demo": ("secret", "demo"), "other": ("secret", "other")}


class HttpDoor(Door):
    """Real clients of two non-admin projects over HTTP; statuses move in time."""

    def __init__(self, cloud):
        super().__init__(cloud, cloud.session("demo"), cloud.session("other"))

    def read_volume(self, volume_id, length):
        """The first ``length`` bytes of a volume's file."""
        with open(self.cloud.volume_path(volume_id), "rb") as stream:
            return stream.read(length)

    def server(self):
        server = self.nova.servers.create("server", None, "1")
        wait_for(lambda: self.nova.servers.get(server.id).status,
                 lambda status: status == "ACTIVE")
        return server.id

    @staticmethod
    def wait(fetch, done):
        return wait_for(fetch, done)


@pytest.fixture
def door(tmp_path):
    cloud = LocalCloud(tmp_path / "cloud", status_delay=0.01, gib=MIB,
                       users=USERS).start()
    try:
        yield HttpDoor(cloud)
    finally:
        cloud.stop()
