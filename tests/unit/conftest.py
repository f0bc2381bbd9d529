"""Fixtures shared by the unit tests: a fake cloud, a bank, a harness, options;
and hypothesis's settings profiles.

The ``ci`` profile (the default) bounds every property test by a deadline and
a small ``max_examples`` so the unit tier stays fast; ``thorough`` tries many
more examples (``HYPOTHESIS_PROFILE=thorough pytest tests/unit -k
hypothesis``). Neither keeps an example database in the tree.
"""

import datetime
import os

import hypothesis
import pytest

from karbor_volume_glance import datapath
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.testing import FakeCloud
from tests.unit.harness import Harness, config_fixture

hypothesis.settings.register_profile(
    "ci", max_examples=60, deadline=datetime.timedelta(seconds=2),
    database=None, print_blob=True)
hypothesis.settings.register_profile(
    "thorough", max_examples=2000, deadline=datetime.timedelta(seconds=10),
    database=None, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def cloud():
    return FakeCloud(transition_polls=1)


@pytest.fixture(params=["memory", "file"])
def bank(request, tmp_path):
    if request.param == "memory":
        return open_bank("memory://")
    return open_bank(f"file://{tmp_path}/bank")


@pytest.fixture
def recorded_pools(monkeypatch):
    """Every datapath.BufferPool made while the test runs, in order."""
    pools = []

    class Recorded(datapath.BufferPool):
        def __init__(self, keep):
            super().__init__(keep)
            pools.append(self)

    monkeypatch.setattr(datapath, "BufferPool", Recorded)
    return pools


@pytest.fixture
def harness(cloud, bank):
    return Harness(cloud, bank)


@pytest.fixture
def config():
    """oslo.config's Config fixture over a new ConfigOpts with our options."""
    fixture = config_fixture()
    yield fixture
    fixture.cleanUp()
