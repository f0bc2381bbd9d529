"""Fixtures shared by the unit tests: a fake cloud, a bank, a harness, options."""

import pytest

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.testing import FakeCloud
from tests.unit.harness import Harness, config_fixture


@pytest.fixture
def cloud():
    return FakeCloud(transition_polls=1)


@pytest.fixture(params=["memory", "file"])
def bank(request, tmp_path):
    if request.param == "memory":
        return open_bank("memory://")
    return open_bank(f"file://{tmp_path}/bank")


@pytest.fixture
def harness(cloud, bank):
    return Harness(cloud, bank)


@pytest.fixture
def config():
    """oslo.config's Config fixture over a new ConfigOpts with our options."""
    fixture = config_fixture()
    yield fixture
    fixture.cleanUp()
