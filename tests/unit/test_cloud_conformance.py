"""The cloud conformance suite through the in-process door (FakeCloud, no socket)."""

import pytest

from karbor_volume_glance.cloud import factory
from karbor_volume_glance.testing import FakeCloud
from tests.cloud_conformance import *  # noqa: F403 - the shared tests


class InProcessDoor:
    """Real clients over FakeCloud's in-process transport; a get is a poll."""

    def __init__(self):
        self.cloud = FakeCloud(transition_polls=1)
        session = self.cloud.session()
        self.cinder = factory.make_client("cinder", session)
        self.glance = factory.make_client("glance", session)
        self.nova = factory.make_client("nova", session)
        other = self.cloud.session("other-project")
        self.other_cinder = factory.make_client("cinder", other)
        self.other_glance = factory.make_client("glance", other)
        self.inject = self.cloud.inject

    @property
    def calls(self):
        return self.cloud.calls

    def clear_faults(self):
        self.cloud.clear_faults()

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
