"""Fixtures of the end-to-end tests: local clouds and object stores on 127.0.0.1.

Each site is a LocalCloud (Keystone, Cinder, Glance, Nova over HTTP) on a free
port with its own data directory; the plugin reaches it through the real
python-cinderclient, glanceclient and keystoneauth1, configured by a
clouds.yaml written here.

The S3 and Swift banks' tests get real servers from
:mod:`karbor_volume_glance.testing.objstores`, each started once per session
and only for the tests that ask for it: ``seaweedfs`` (with a bucket the
tests share, as ``.shared_bucket``), ``s3_bucket`` (a test's place: that
bucket and a fresh prefix, as ``.bucket``, ``.prefix`` and ``.server``) and
``swift_server``. A server that is not installed fails the tests that need
it, saying to run ``tools/install-test-services``: never a skip, since a
skipped test is not a passing one. ``redis_server`` is a Redis of the test's
own (:mod:`karbor_volume_glance.testing.jobboards`), for plans on a jobboard.
"""

import contextlib
import types
import uuid

import pytest
import yaml

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.testing import jobboards, objstores
from karbor_volume_glance.testing.localcloud import LocalCloud
from tests.functional.sites import GIB, OBJECT_SIZE, Site

#: SeaweedFS's volume size for the tests: small sparse volumes.
SEAWEEDFS_VOLUME_MB = 64


def _start(tmp_path, name, **options):
    return LocalCloud(str(tmp_path / name), status_delay=0.01, gib=GIB,
                      **options).start()


@pytest.fixture
def clouds_yaml(tmp_path):
    return tmp_path / "clouds.yaml"


@pytest.fixture
def sites(tmp_path, clouds_yaml, monkeypatch):
    """Two local clouds, and a clouds.yaml naming site-a, site-b, site-a-demo."""
    cloud_a, cloud_b = _start(tmp_path, "cloud-a"), _start(tmp_path, "cloud-b")
    entries = {
        "site-a": cloud_a.cloud_config(),
        "site-b": cloud_b.cloud_config(),
        "site-a-demo": cloud_a.cloud_config(project="demo"),
    }
    clouds_yaml.write_text(yaml.safe_dump({"clouds": entries}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    try:
        yield types.SimpleNamespace(
            a=Site(cloud_a, "site-a", str(clouds_yaml)),
            b=Site(cloud_b, "site-b", str(clouds_yaml)),
            a_demo=Site(cloud_a, "site-a-demo", str(clouds_yaml)),
        )
    finally:
        cloud_a.stop()
        cloud_b.stop()


@pytest.fixture
def bank(tmp_path):
    return open_bank(f"file://{tmp_path}/bank")


@pytest.fixture
def config_file(tmp_path):
    """A plugin configuration file for the CLI: fast polls, small chunks."""
    path = tmp_path / "plugin.conf"
    path.write_text("[volume_glance_plugin]\npoll_interval = 0.01\n"
                    f"backup_image_object_size = {OBJECT_SIZE}\n")
    return str(path)


@contextlib.contextmanager
def _running(server):
    """``server`` started, then stopped; a failure (never a skip) when it
    cannot start."""
    problem = None
    try:
        server.start()
    except objstores.ServiceError as exc:
        problem = str(exc)
    if problem:  # failed outside the except: the message alone, not a chain
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """SeaweedFS for the whole session (with a read-only identity too), with
    one bucket the tests share."""
    server = objstores.SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), reader=True,
                                 volume_size_limit_mb=SEAWEEDFS_VOLUME_MB)
    with _running(server):
        server.shared_bucket = server.new_bucket("kvg-shared")
        yield server


@pytest.fixture
def s3_bucket(seaweedfs):
    """A place of the test's own: the session's bucket and a fresh prefix."""
    return types.SimpleNamespace(
        server=seaweedfs, bucket=seaweedfs.shared_bucket,
        prefix=f"t-{uuid.uuid4().hex[:12]}/")


@pytest.fixture(scope="session")
def swift_server(tmp_path_factory):
    """A one-node Swift for the whole session; each test takes containers of
    its own."""
    with _running(objstores.SwiftServer(tmp_path_factory.mktemp("swift"))) as server:
        yield server


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of the test's own on a free loopback port."""
    with _running(jobboards.RedisServer(tmp_path / "redis")) as server:
        yield server
