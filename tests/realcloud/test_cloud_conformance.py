"""The cloud conformance suite against real Keystone, Glance and Cinder on RBD.

Every test of ``tests/cloud_conformance`` that does not need the model's
fault registry, its record of calls or Nova (:func:`portable_tests`) runs
here with the real clients of two fresh projects, made per test through
Keystone and deleted after with all they hold. What the local cloud models
(statuses, refusals and their messages, Glance's checksums and Range
answers, image properties, quotas, clones on RBD) is thereby checked
against the services themselves; a difference fails here first.
"""

import contextlib
import uuid

import pytest

from tests import cloud_conformance
from tests.cloud_conformance import Door
from tests.functional.localcloud.helpers import wait_for

globals().update(cloud_conformance.portable_tests(vars(cloud_conformance)))

#: How long a real status may take to move (a GiB through Glance included).
TIMEOUT = 600


class RealDoor(Door):
    """Real clients of two fresh non-admin projects; no faults, no Nova."""

    def __init__(self, real, session, other_session):  # noqa: D107
        from karbor_volume_glance.cloud import factory

        self.real = real
        self.cinder = factory.make_client("cinder", session)
        self.glance = factory.make_client("glance", session)
        self.nova = None
        self.other_cinder = factory.make_client("cinder", other_session)
        self.other_glance = factory.make_client("glance", other_session)

    @property
    def calls(self):
        raise AssertionError("the real cloud has no record of calls: "
                             "this test should be model_only")

    def inject(self, *args, **kwargs):
        raise AssertionError("the real cloud takes no faults: "
                             "this test should be model_only")

    def attach(self, volume_id):
        """In-use through Cinder's attachments API (3.27, completed 3.44), as
        Nova would do it; the project's own user attaches."""
        cinder = self.real_cinder("3.44")
        connector = {"host": "conformance", "ip": "127.0.0.1",
                     "initiator": "iqn.1993-08.org.debian:01:conformance",
                     "platform": "x86_64", "os_type": "linux",
                     "multipath": False}
        attachment = cinder.attachments.create(volume_id, connector,
                                               str(uuid.uuid4()), mode="rw")
        attachment_id = (attachment["id"] if isinstance(attachment, dict)
                         else attachment.id)
        cinder.attachments.complete(attachment_id)
        return cloud_conformance.wait_status(self, self.cinder.volumes,
                                             volume_id, "in-use")[-1]

    def real_cinder(self, version):
        from cinderclient import client

        return client.Client(version, session=self.cinder.client.session,
                             region_name="RegionOne")

    @contextlib.contextmanager
    def glance_direct_urls(self):
        with self.real.glance_on("rbd"):
            yield

    def set_quota(self, project_id, **limits):
        self.real.cinder().quotas.update(project_id, **limits)

    def read_volume(self, volume_id, length):
        return self.real.rbd_read(volume_id, length)

    @staticmethod
    def wait(fetch, done):
        """Poll the real cloud until ``done``; the distinct values seen."""
        return wait_for(fetch, done, timeout=TIMEOUT, interval=0.2)


@pytest.fixture
def door(real):
    tag = uuid.uuid4().hex[:8]
    projects = []
    try:
        first, session = real.new_project(f"conformance-{tag}-a")
        projects.append(first)
        other, other_session = real.new_project(f"conformance-{tag}-b")
        projects.append(other)
        yield RealDoor(real, session, other_session)
    finally:
        for project_id in projects:
            real.drop_project(project_id)
