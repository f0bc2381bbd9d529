"""The plugin inside Karbor 1.6's own machinery (needs the ``karbor`` package).

These tests load the plugin the way Karbor's provider does, run its hooks in
Karbor's own taskflow resource graph, and keep the backup in Karbor's own
Checkpoint and BankSection classes, so the duck-typed contract is checked
against the real thing rather than against our reading of it.
"""

import os
import warnings

import pytest
from oslo_config import cfg

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's deprecation notice
    from karbor.common import constants
    from karbor.services.protection import bank_plugin, graph, provider, resource_flow
    from karbor.services.protection.checkpoint import CheckpointCollection
    from karbor.services.protection.flows import workflow

from karbor_volume_glance import conf
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import FakeCloud, FakeContext, FakeRecord, Resource

VOLUME = "OS::Cinder::Volume"

# Karbor 1.6 runs on eventlet and futurist's green executors, all deprecated.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def provider_config(tmp_path):
    bank_dir = tmp_path / "fs-bank"
    path = tmp_path / "provider.conf"
    path.write_text(
        "[provider]\n"
        "name = volume-glance\n"
        "id = 4b0f9d36-7d2f-4b8c-9d38-3f6c7c5a1a11\n"
        "plugin = volume-glance-protection-plugin\n"
        "bank = karbor-fs-bank-plugin\n"
        "enabled = True\n"
        "[file_system_bank_plugin]\n"
        f"file_system_bank_path = {bank_dir}\n"
        "[volume_glance_plugin]\n"
        "poll_interval = 0.01\n"
        "backup_image_object_size = 131072\n"
    )
    config = cfg.ConfigOpts()
    config(args=[f"--config-file={path}"])
    config.register_opts(provider.provider_opts, "provider")
    return config


def test_karbors_provider_loads_the_plugin_beside_karbors_own(provider_config):
    loaded = provider.PluggableProtectionProvider(provider_config)
    assert loaded.plugins[VOLUME] is VolumeGlanceProtectionPlugin
    schemas = loaded.extended_info_schema
    assert schemas["options_schema"][VOLUME]["required"] == ["backup_name"]
    assert schemas["restore_schema"][VOLUME]["required"] == ["restore_name"]
    [plugin] = loaded.load_plugins().values()
    assert plugin.settings.poll_interval == 0.01
    assert plugin.settings.backup_image_object_size == 131072
    # Karbor's own volume-glance plugin is still loadable under its name
    from karbor import utils

    karbors = utils.load_class(provider.PROTECTION_NAMESPACE,
                               "karbor-volume-glance-plugin")
    assert karbors is not VolumeGlanceProtectionPlugin


class Harness:
    """Karbor's Bank, Checkpoint and taskflow resource graph around the plugin."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.context = FakeContext(project_id="proj", user_id="user")
        self.bank = bank_plugin.Bank(MemoryBackend())
        config = cfg.ConfigOpts()
        config([], default_config_files=[])
        config.register_opts(conf.volume_glance_opts, conf.GROUP)
        config.set_override("poll_interval", 0.01, conf.GROUP)
        config.set_override("backup_image_object_size", 131072, conf.GROUP)
        self.plugin = VolumeGlanceProtectionPlugin(
            config, client_factory=cloud.client_factory())
        self.engine = workflow.TaskFlowEngine()

    def checkpoint(self, resources):
        plan = {"id": "plan-1", "name": "plan", "provider_id": "prov",
                "project_id": "proj",
                "resources": [r._asdict() for r in resources]}
        return CheckpointCollection(self.bank).create(plan, context=self.context)

    def run(self, operation, checkpoint, resources, parameters, **store):
        resource_graph = graph.build_graph(resources, lambda node: [])
        flow = resource_flow.build_resource_flow(
            operation_type=operation, context=self.context,
            workflow_engine=self.engine, plugins={VOLUME: self.plugin},
            resource_graph=resource_graph, parameters=parameters,
        )
        store.update(context=self.context, checkpoint=checkpoint,
                     operation_log=None)
        engine = self.engine.get_engine(flow, store=store)
        self.engine.run_engine(engine)


def test_protect_restore_verify_delete_in_karbors_flow():
    cloud = FakeCloud()
    data = {}
    resources = []
    for index in range(2):
        data[index] = os.urandom(131072 * 2 + index)
        volume_id = cloud.add_volume(data=data[index], size=1)
        resources.append(Resource(type=VOLUME, id=volume_id, name=f"v{index}"))
    harness = Harness(cloud)
    checkpoint = harness.checkpoint(resources)

    harness.run(constants.OPERATION_PROTECT, checkpoint, resources,
                {VOLUME: {"backup_name": "nightly"}})
    for resource in resources:
        section = checkpoint.get_resource_bank_section(resource.id)
        assert section.get_object("status") == "available"
    assert cloud.leftovers() == []

    restore = FakeRecord()
    new_resources = {}
    harness.run(constants.OPERATION_RESTORE, checkpoint, resources,
                {VOLUME: {"restore_name": "back"}},
                restore=restore, new_resources=new_resources)
    for index, resource in enumerate(resources):
        new_id = new_resources[resource.id]
        assert cloud.volume_data(new_id) == data[index]
        assert restore.status_of(resource) == "available"
    assert cloud.leftovers(keep=new_resources.values()) == []

    verify = FakeRecord()
    harness.run(constants.OPERATION_VERIFY, checkpoint, resources, {},
                verify=verify, new_resources={})
    assert all(verify.status_of(r) == "available" for r in resources)

    harness.run(constants.OPERATION_DELETE, checkpoint, resources, {})
    for resource in resources:
        section = checkpoint.get_resource_bank_section(resource.id)
        assert section.list_objects() == ["status"]
        assert section.get_object("status") == "deleted"


def test_restore_without_a_name_in_karbors_flow_uses_checkpoint_at_volume():
    cloud = FakeCloud()
    volume_id = cloud.add_volume(data=b"abc")
    resources = [Resource(type=VOLUME, id=volume_id, name="v")]
    harness = Harness(cloud)
    checkpoint = harness.checkpoint(resources)
    harness.run(constants.OPERATION_PROTECT, checkpoint, resources,
                {VOLUME: {"backup_name": "b"}})
    new_resources = {}
    harness.run(constants.OPERATION_RESTORE, checkpoint, resources, {},
                restore=FakeRecord(), new_resources=new_resources)
    cinder = cloud.client_factory().create_client("cinder", None)
    assert cinder.volumes.get(new_resources[volume_id]).name == (
        f"{checkpoint.id}@{volume_id}")


def test_a_failed_protect_fails_karbors_flow_and_the_backup_can_be_deleted():
    cloud = FakeCloud()
    volume_id = cloud.add_volume(data=os.urandom(300000))
    resources = [Resource(type=VOLUME, id=volume_id, name="v")]
    harness = Harness(cloud)
    checkpoint = harness.checkpoint(resources)
    cloud.inject("image.data", "drop", after_bytes=100, times=4)  # > retries
    with pytest.raises(Exception, match="protect of volume"):
        harness.run(constants.OPERATION_PROTECT, checkpoint, resources,
                    {VOLUME: {"backup_name": "b"}})
    section = checkpoint.get_resource_bank_section(volume_id)
    assert section.get_object("status") == "error"
    assert cloud.leftovers() == []
    harness.run(constants.OPERATION_DELETE, checkpoint, resources, {})
    assert section.list_objects() == ["status"]


def _read_and_restore_in_karbor(harness, cloud, backend, checkpoint_id,
                                volume_ids):
    """Karbor's CheckpointCollection lists and reads ``checkpoint_id`` (made
    without Karbor) with its volumes in order, and Karbor's flow restores each
    volume byte for byte from where the plugin put its data: the checkpoint
    Karbor read."""
    from karbor_volume_glance.standalone import checkpoints as cps

    collection = CheckpointCollection(bank_plugin.Bank(backend))
    ids = collection.list_ids(project_id="proj",
                              provider_id=cps.STANDALONE_PROVIDER_ID)
    assert ids == [checkpoint_id]
    checkpoint = collection.get(checkpoint_id)
    assert checkpoint.status == "available"
    resources = [node.value for node in checkpoint.resource_graph]
    assert [resource.id for resource in resources] == volume_ids
    new_resources = {}
    harness.run(constants.OPERATION_RESTORE, checkpoint, resources, {},
                restore=FakeRecord(), new_resources=new_resources)
    for volume_id in volume_ids:
        assert (cloud.volume_data(new_resources[volume_id])
                == cloud.volume_data(volume_id))
    return checkpoint


def test_karbor_lists_and_reads_checkpoints_made_without_karbor():
    from karbor_volume_glance.bank import Bank
    from karbor_volume_glance.standalone.runner import Runner

    cloud = FakeCloud()
    volume_ids = [cloud.add_volume(data=os.urandom(1000 + i)) for i in range(2)]
    harness = Harness(cloud)
    backend = MemoryBackend()  # one store, seen through our Bank and Karbor's
    runner = Runner(harness.plugin, Bank(backend), harness.context)
    result = runner.protect(volume_ids, {v: {"backup_name": "b"} for v in volume_ids})
    assert result.ok

    _read_and_restore_in_karbor(harness, cloud, backend, result.checkpoint_id,
                                volume_ids)



def test_karbor_lists_and_reads_our_sealed_checkpoints_of_an_encrypted_bank():
    """A checkpoint made without Karbor on an encrypted bank: its names are
    sealed behind a placeholder, and Karbor still lists it, reads its
    resource graph, and restores from it (with the bank's key)."""
    from karbor_volume_glance.bank import Bank
    from karbor_volume_glance.format import checkpoint as record_format
    from karbor_volume_glance.format.keys import MasterKey
    from karbor_volume_glance.standalone.runner import Runner

    cloud = FakeCloud()
    volume_ids = [cloud.add_volume(data=os.urandom(1000 + i)) for i in range(2)]
    harness = Harness(cloud)
    harness.plugin = VolumeGlanceProtectionPlugin(
        harness.plugin._config, client_factory=cloud.client_factory(),
        keys=MasterKey.generate())
    backend = MemoryBackend()
    runner = Runner(harness.plugin, Bank(backend), harness.context)
    result = runner.protect(volume_ids,
                            {v: {"backup_name": "b"} for v in volume_ids},
                            plan_name="a secret plan name")
    assert result.ok

    checkpoint = _read_and_restore_in_karbor(
        harness, cloud, backend, result.checkpoint_id, volume_ids)
    assert checkpoint.protection_plan["name"] == record_format.SEALED_NAME
    assert ({node.value.name for node in checkpoint.resource_graph}
            == {record_format.SEALED_NAME})

def test_an_incremental_chain_in_karbors_flow_with_karbors_bank_sections():
    """Karbor's BankSection has no public bank or prefix: the index and the
    chunks of other checkpoints must still be reached through it."""
    cloud = FakeCloud()
    data = bytearray(os.urandom(131072 * 3))
    volume_id = cloud.add_volume(data=bytes(data))
    resources = [Resource(type=VOLUME, id=volume_id, name="v")]
    harness = Harness(cloud)
    checkpoints, states = [], []
    for round_ in range(3):
        checkpoint = harness.checkpoint(resources)
        harness.run(constants.OPERATION_PROTECT, checkpoint, resources,
                    {VOLUME: {"backup_name": f"b{round_}", "incremental": True}})
        checkpoints.append(checkpoint)
        states.append(bytes(data))
        offset = 131072 * round_  # a block of another chunk each time
        data[offset:offset + 4096] = os.urandom(4096)
        cloud.write_volume(volume_id, 0, bytes(data))
    last = checkpoints[-1].get_resource_bank_section(volume_id).get_object(
        "metadata")
    assert last["parent_checkpoint_id"] == checkpoints[1].id
    assert set(last["sources"]) == {checkpoints[0].id, checkpoints[1].id}

    harness.run(constants.OPERATION_DELETE, checkpoints[0], resources, {})
    harness.run(constants.OPERATION_DELETE, checkpoints[1], resources, {})
    new_resources = {}
    harness.run(constants.OPERATION_RESTORE, checkpoints[2], resources,
                {VOLUME: {"restore_name": "back"}},
                restore=FakeRecord(), new_resources=new_resources)
    assert cloud.volume_data(new_resources[volume_id]) == states[2]

    harness.run(constants.OPERATION_DELETE, checkpoints[2], resources, {})
    left = [key for key in harness.bank.list_objects("/checkpoints/")
            if "/resource-data/" in key and not key.endswith("/status")]
    assert left == []
    assert harness.bank.list_objects("/volume_glance/") == []


def test_encrypt_in_a_provider_file_encrypts_the_bank_in_karbors_flow(
        provider_config, tmp_path):
    """``[volume_glance_plugin] encrypt = true`` and ``key_file`` in a
    provider file: the config Karbor's provider hands the plugin makes the
    bank encrypted at its first protect, and restores read it back."""
    from karbor_volume_glance.operations import keys

    key_file = tmp_path / "bank.key"
    key_file.write_bytes(os.urandom(32))
    path = tmp_path / "provider.conf"
    path.write_text(path.read_text() + f"encrypt = true\nkey_file = {key_file}\n")
    config = cfg.ConfigOpts()
    config(args=[f"--config-file={path}"])
    config.register_opts(provider.provider_opts, "provider")
    loaded = provider.PluggableProtectionProvider(config)
    [plugin] = loaded.load_plugins().values()
    assert (plugin.settings.encrypt, plugin.settings.key_file) == (
        True, str(key_file))

    cloud = FakeCloud()
    data = os.urandom(131072 * 2 + 5)
    volume_id = cloud.add_volume(data=data, size=1)
    resources = [Resource(type=VOLUME, id=volume_id, name="v")]
    harness = Harness(cloud)
    harness.plugin = VolumeGlanceProtectionPlugin(
        config, client_factory=cloud.client_factory())
    checkpoint = harness.checkpoint(resources)
    harness.run(constants.OPERATION_PROTECT, checkpoint, resources,
                {VOLUME: {"backup_name": "nightly"}})
    section = checkpoint.get_resource_bank_section(volume_id)
    assert section.get_object("status") == "available"
    assert keys.encryption_record(harness.bank)["encrypted"] is True
    assert [row["kind"] for row in keys.list_copies(harness.bank)] == [
        "key_file"]
    assert section.get_object("metadata")["format_version"] == 4

    new_resources = {}
    harness.run(constants.OPERATION_RESTORE, checkpoint, resources,
                {VOLUME: {"restore_name": "back"}},
                restore=FakeRecord(), new_resources=new_resources)
    assert cloud.volume_data(new_resources[volume_id]) == data
