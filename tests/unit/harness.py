"""The unit tests' harness: a fast plugin over a fake cloud and a bank."""

from oslo_config import fixture as oslo_fixture

from karbor_volume_glance import conf
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import (
    FakeCheckpoint,
    FakeRecord,
    run_operation,
    volume_resource,
)

OBJECT_SIZE = 65536  # the smallest object size, so small data spans chunks
DEFAULT = object()  # "the usual parameters" (None is a parameter value to test)


def config_fixture(conf_opts=None):
    """oslo.config's Config fixture, set up, over a ConfigOpts with our options.

    ``conf_opts`` defaults to a fresh one parsed as the CLI's
    (:func:`conf.make_config`); a test that shares one cleans up with
    ``fixture.cleanUp()``, a fresh one needs no cleaning.
    """
    fixture = oslo_fixture.Config(conf_opts or conf.make_config())
    fixture.setUp()
    fixture.register_opts(conf.volume_glance_opts, group=conf.GROUP)
    return fixture


def plugin_config(**overrides):
    """A ConfigOpts for a fast plugin: tiny polls and objects, then ``overrides``."""
    values = {"poll_interval": 0.001, "backup_image_object_size": OBJECT_SIZE}
    values.update(overrides)
    fixture = config_fixture()
    fixture.config(group=conf.GROUP, **values)
    return fixture.conf


class Harness:
    """A plugin over a fake cloud and a bank, with Karbor's calls as methods."""

    def __init__(self, cloud, bank, master_key=None, **overrides):
        self.cloud = cloud
        self.bank = bank
        self.master_key = master_key
        self.plugin = VolumeGlanceProtectionPlugin(
            plugin_config(**overrides), client_factory=cloud.client_factory(),
            keys=master_key,
        )
        self.context = cloud.context()
        self.checkpoint = FakeCheckpoint(bank)

    def section(self, volume_id, checkpoint=None):
        checkpoint = checkpoint or self.checkpoint
        return checkpoint.get_resource_bank_section(volume_id)

    def protect(self, volume_id, params=DEFAULT, checkpoint=None):
        resource = volume_resource(volume_id)
        params = {"backup_name": "b"} if params is DEFAULT else params
        return run_operation(self.plugin.get_protect_operation(resource),
                             checkpoint or self.checkpoint, resource,
                             self.context, params)

    def restore(self, volume_id, params=DEFAULT, checkpoint=None, record=None):
        resource = volume_resource(volume_id)
        new_resources = {}
        record = FakeRecord() if record is None else record
        run_operation(self.plugin.get_restore_operation(resource),
                      checkpoint or self.checkpoint, resource, self.context,
                      {"restore_name": "r"} if params is DEFAULT else params,
                      restore=record, new_resources=new_resources)
        return new_resources.get(volume_id)

    def delete(self, volume_id, checkpoint=None):
        resource = volume_resource(volume_id)
        return run_operation(self.plugin.get_delete_operation(resource),
                             checkpoint or self.checkpoint, resource,
                             self.context, {})

    def verify(self, volume_id, checkpoint=None, record=None, params=None):
        resource = volume_resource(volume_id)
        return run_operation(self.plugin.get_verify_operation(resource),
                             checkpoint or self.checkpoint, resource,
                             self.context, params or {},
                             verify=record or FakeRecord())


def fail_after(monkeypatch, target, name, cloud, volume_id):
    """Put ``volume_id`` of ``cloud`` in ``error`` right after the first call
    of ``target.name`` (the call that creates a checkpoint): a volume that
    passed the checks before the checkpoint and fails during the protect."""
    original = getattr(target, name)
    done = []

    def call_then_fail(*args, **kwargs):
        result = original(*args, **kwargs)
        if not done:
            done.append(result)
            with cloud.lock:
                cloud.state.volumes[volume_id].status = "error"
        return result

    monkeypatch.setattr(target, name, call_then_fail)
