"""Fixtures: a started LocalCloud per test and the real clients for it.

The cloud listens on 127.0.0.1 on a free port, keeps its files in the test's
``tmp_path``, changes statuses after 10 ms and counts 1 MiB per "GiB".
"""

import glanceclient
import pytest
from cinderclient import client as cinder_client
from novaclient import client as nova_client

from karbor_volume_glance.testing.localcloud import LocalCloud
from tests.functional.localcloud.helpers import GIB


def make_cloud(tmp_path, name="cloud", **options):
    # long enough that a loaded machine still sees each transitional status
    options.setdefault("status_delay", 0.05)
    options.setdefault("gib", GIB)
    return LocalCloud(tmp_path / name, **options).start()


@pytest.fixture
def cloud(tmp_path):
    cloud = make_cloud(tmp_path)
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture
def session(cloud):
    return cloud.session("admin")


@pytest.fixture
def demo_session(cloud):
    return cloud.session("demo")


@pytest.fixture
def cinder(session):
    return cinder_client.Client("3.1", session=session)


@pytest.fixture
def glance(session):
    return glanceclient.Client("2", session=session)


@pytest.fixture
def nova(session):
    return nova_client.Client("2.1", session=session)


@pytest.fixture
def demo_cinder(demo_session):
    return cinder_client.Client("3.1", session=demo_session)


@pytest.fixture
def demo_glance(demo_session):
    return glanceclient.Client("2", session=demo_session)


@pytest.fixture
def demo_nova(demo_session):
    return nova_client.Client("2.1", session=demo_session)
