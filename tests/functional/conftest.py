"""Fixtures of the end-to-end tests: local clouds on 127.0.0.1, real clients.

Each site is a LocalCloud (Keystone, Cinder, Glance, Nova over HTTP) on a free
port with its own data directory; the plugin reaches it through the real
python-cinderclient, glanceclient and keystoneauth1, configured by a
clouds.yaml written here.
"""

import types

import pytest
import yaml

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.testing.localcloud import LocalCloud
from tests.functional.sites import GIB, OBJECT_SIZE, Site


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
