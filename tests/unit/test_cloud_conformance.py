"""The cloud conformance suite through the in-process door (FakeCloud, no socket)."""

import pytest

from karbor_volume_glance.testing import FakeCloud
from tests.cloud_conformance import *  # noqa: F403 - the shared tests
from tests.cloud_conformance import Door


class InProcessDoor(Door):
    """Real clients over FakeCloud's in-process transport; a get is a poll."""

    def __init__(self):
        cloud = FakeCloud(transition_polls=1)
        super().__init__(cloud, cloud.session(), cloud.session("other-project"))

    def read_volume(self, volume_id, length):
        """The first ``length`` bytes of a volume (zeros past its data)."""
        data = self.cloud.volume_data(volume_id)[:length]
        return data + bytes(length - len(data))

    def server(self):
        return self.cloud.add_server()

    @staticmethod
    def wait(fetch, done, polls=100):
        seen = []
        for _ in range(polls):
            value = fetch()
            if not seen or seen[-1] != value:
                seen.append(value)
            if done(value):
                return seen
        raise AssertionError(f"not done after {polls} polls; seen {seen}")


@pytest.fixture
def door():
    return InProcessDoor()
