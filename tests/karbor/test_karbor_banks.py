"""Our file bank as Karbor's bank: loaded by Karbor 1.6's provider from a
provider file, holding checkpoints Karbor's own classes make and read, with
the plugin's binary chunks, which Karbor's own file-system bank cannot keep."""

import os
import warnings

import pytest
from oslo_config import cfg

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's deprecation notice
    from karbor import exception as karbor_exception
    from karbor.common import constants
    from karbor.services.protection import provider

from karbor_volume_glance.bank.karbor_plugins import FileBankPlugin
from karbor_volume_glance.testing import FakeCloud, FakeRecord, Resource
from tests.karbor.test_karbor_contract import VOLUME, Harness

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def loaded(tmp_path):
    path = tmp_path / "provider.conf"
    path.write_text(
        "[provider]\n"
        "name = volume-glance on our file bank\n"
        "id = 9d1d3f0e-5b8b-4e0a-9e55-0f6f0f1d2c3b\n"
        "plugin = volume-glance-protection-plugin\n"
        "bank = volume-glance-file-bank\n"
        "enabled = True\n"
        "[volume_glance_file_bank]\n"
        f"path = {tmp_path}/bank\n"
        "[volume_glance_plugin]\n"
        "poll_interval = 0.01\n"
        "backup_image_object_size = 131072\n")
    config = cfg.ConfigOpts()
    config(args=[f"--config-file={path}"])
    config.register_opts(provider.provider_opts, "provider")
    return provider.PluggableProtectionProvider(config)


def test_karbors_provider_loads_our_bank(loaded):
    assert isinstance(loaded.bank._plugin, FileBankPlugin)
    assert loaded.bank.list_objects("/") == []  # Karbor's '//' root is read


def test_protect_and_restore_with_binary_chunks_in_our_bank(loaded):
    cloud = FakeCloud()
    data = os.urandom(131072 * 2 + 3)
    volume_id = cloud.add_volume(data=data)
    resources = [Resource(type=VOLUME, id=volume_id, name="v")]
    harness = Harness(cloud)
    harness.bank = loaded.bank
    checkpoint = harness.checkpoint(resources)
    harness.run(constants.OPERATION_PROTECT, checkpoint, resources,
                {VOLUME: {"backup_name": "b"}})
    section = checkpoint.get_resource_bank_section(volume_id)
    assert isinstance(section.get_object("data_1"), bytes)
    new_resources = {}
    harness.run(constants.OPERATION_RESTORE, checkpoint, resources,
                {VOLUME: {"restore_name": "r"}}, restore=FakeRecord(),
                new_resources=new_resources)
    assert cloud.volume_data(new_resources[volume_id]) == data
    again = loaded.checkpoint_collection.get(checkpoint.id)  # index.json back
    assert again.id == checkpoint.id and again.status == checkpoint.status


def test_a_missing_checkpoint_is_karbors_checkpoint_not_found(loaded):
    with pytest.raises(karbor_exception.CheckpointNotFound):
        loaded.checkpoint_collection.get("no-such-checkpoint")
