"""Restore into a server over the fake cloud: attach, replace in place, roll back.

The restored volume always takes the original's place by detach-then-attach
(Nova's swap is never used: it copies the attached volume's data onto the
new one, which would undo the restore).
"""

import os

import jsonschema
import oslo_messaging
import pytest
from oslo_messaging.notify import _impl_test

from karbor_volume_glance import conf, exceptions, schemas
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.cloud import facade
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import FakeCloud, FakeRecord, volume_resource
from karbor_volume_glance.testing.notifications import RecordingNotifier
from tests.unit.harness import OBJECT_SIZE, Harness, plugin_config

SWAP = "volume_glance.volume_swap"

_BASE_PROPERTIES = {
    "tenant_id": {"type": ["string", "null"]},
    "project_id": {"type": ["string", "null"]},
    "user_id": {"type": ["string", "null"]},
    "availability_zone": {"type": ["string", "null"]},
    "host": {"type": "string"},
    "checkpoint_id": {"type": "string"},
    "volume_id": {"type": "string"},
    "snapshot_id": {"type": ["string", "null"]},
    "backup_name": {"type": ["string", "null"]},
    "description": {"type": ["string", "null"]},
    "parent_checkpoint_id": {"type": ["string", "null"]},
    "created_at": {"type": ["string", "null"]},
    "status": {"type": ["string", "null"]},
    "size": {"type": ["integer", "null"]},
    "size_bytes": {"type": ["integer", "null"]},
    "service_metadata": {"type": "object"},
    "server_id": {"type": "string", "minLength": 1},
    "old_volume_id": {"type": "string", "minLength": 1},
    "new_volume_id": {"type": "string", "minLength": 1},
    "device": {"type": "string", "pattern": "^/dev/"},
}
_PHASE_PROPERTIES = {
    "start": {},
    "end": {"method": {"enum": ["swap", "detach-attach"]}},
    "error": {
        "method": {"enum": ["swap", "detach-attach"]},
        "fail_reason": {"type": "string", "minLength": 1},
        "rolled_back": {"type": "boolean"},
        "rollback_error": {"type": ["string", "null"]},
    },
}
#: The payload of each volume_swap event: the restore's, plus the swap's.
SWAP_PAYLOAD_SCHEMA = {
    phase: {
        "type": "object",
        "properties": {**_BASE_PROPERTIES, **extra},
        "required": sorted({**_BASE_PROPERTIES, **extra}),
        "additionalProperties": False,
    }
    for phase, extra in _PHASE_PROPERTIES.items()
}


def check_swap_payload(event_type, payload):
    phase = event_type.rsplit(".", 1)[1]
    jsonschema.Draft7Validator(SWAP_PAYLOAD_SCHEMA[phase]).validate(payload)


class Scene:
    """A server with a first volume at /dev/vdb and the protected original
    at /dev/vdc, whose data then went bad; a plugin telling a recorder."""

    def __init__(self, config=None):
        """``config``: the plugin's, with its notifier; else a recorder."""
        self.cloud = FakeCloud(transition_polls=1)
        self.harness = Harness(self.cloud, open_bank("memory://"))
        self.notifier = None if config else RecordingNotifier()
        self.harness.plugin = VolumeGlanceProtectionPlugin(
            config or plugin_config(), client_factory=self.cloud.client_factory(),
            notifier=self.notifier)
        self.server_id = self.cloud.add_server()
        self.first_id = self.cloud.add_volume(data=b"boot",
                                              server_id=self.server_id)
        self.data = os.urandom(2 * OBJECT_SIZE + 7)
        self.original_id = self.cloud.add_volume(data=self.data,
                                                 server_id=self.server_id)
        assert self.device_of(self.original_id) == "/dev/vdc"
        self.harness.protect(self.original_id)
        self.cloud.write_volume(self.original_id, 0, b"ransomware")
        self.bad_data = self.cloud.volume_data(self.original_id)
        self.calls_before = len(self.cloud.calls)
        if self.notifier is not None:
            self.notifier.sent.clear()  # forget the protect's notifications
        self.record = FakeRecord()

    def restore(self, **params):
        return self.harness.restore(self.original_id,
                                    {"restore_name": "r", **params},
                                    record=self.record)

    def failing_restore(self, **params):
        with pytest.raises(exceptions.RestoreFailed) as info:
            self.restore(**params)
        cause = info.value.cause
        assert isinstance(cause, exceptions.PlacementFailed)
        return cause

    def device_of(self, volume_id, server_id=None):
        for server, volume, device in self.cloud.attachments():
            if volume == volume_id and server == (server_id or self.server_id):
                return device
        return None

    def calls(self):
        return self.cloud.calls[self.calls_before:]

    def record_status(self):
        resource = volume_resource(self.original_id)
        return self.record.status_of(resource), self.record.reason_of(resource)

    def assert_original_untouched(self):
        assert self.device_of(self.original_id) == "/dev/vdc"
        assert self.cloud.status_of("volume", self.original_id) == "in-use"
        assert self.cloud.volume_data(self.original_id) == self.bad_data
        assert self.device_of(self.first_id) == "/dev/vdb"

    def assert_kept_detached(self, volume_id):
        """The restored volume exists, holds the backup, is attached nowhere."""
        assert self.cloud.status_of("volume", volume_id) == "available"
        assert self.cloud.volume_data(volume_id) == self.data
        assert all(v != volume_id for _s, v, _d in self.cloud.attachments())
        assert self.cloud.leftovers() == [("volume", volume_id, "r")]


@pytest.fixture
def scene():
    return Scene()


# --- parameters -----------------------------------------------------------


@pytest.mark.parametrize("params, field, rule", [
    ({"replace_volume": True}, "server_id", "'server_id' is a required property"),
    ({"server_id": ""}, "server_id", "should be non-empty"),
    ({"server_id": 7}, "server_id", "is not of type 'string'"),
    ({"server_id": "s", "replace_volume": "yes"}, "replace_volume",
     "is not of type 'boolean'"),
])
def test_schema_errors_name_the_field(params, field, rule):
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.RESTORE_SCHEMA, {"restore_name": "r", **params})
    assert info.value.field == field
    assert rule in info.value.rule


@pytest.mark.parametrize("params", [
    {"server_id": "s"},
    {"server_id": "s", "replace_volume": True},
    {"server_id": "s", "replace_volume": False},
    {"replace_volume": False},  # what a form sends with its default
])
def test_schema_accepts_a_server_and_replace(params):
    params = {"restore_name": "r", **params}
    assert schemas.validate(schemas.RESTORE_SCHEMA, params) == params


def test_schema_describes_the_new_fields():
    properties = schemas.RESTORE_SCHEMA["properties"]
    assert properties["replace_volume"]["default"] is False
    assert all(properties[name]["description"]
               for name in ("server_id", "replace_volume"))


def test_replace_without_a_server_fails_before_anything_is_made(scene):
    with pytest.raises(exceptions.InvalidParameters, match="server_id"):
        scene.restore(replace_volume=True)
    assert all(name != "r" for _kind, _id, name in scene.cloud.created())
    assert scene.calls() == []
    scene.assert_original_untouched()


# --- attach only ------------------------------------------------------------


def test_server_id_alone_attaches_the_restored_volume(scene):
    new_id = scene.restore(server_id=scene.server_id)
    assert scene.device_of(new_id) == "/dev/vdd"  # Nova's next free device
    assert scene.cloud.status_of("volume", new_id) == "in-use"
    assert scene.cloud.volume_data(new_id) == scene.data
    scene.assert_original_untouched()
    assert "server.swap" not in scene.calls()
    assert "server.detach" not in scene.calls()
    assert scene.notifier.swaps() == []  # nothing is swapped
    assert scene.record_status() == ("available", None)


@pytest.mark.parametrize("fault", ["exception", "error"])
def test_a_failed_attach_fails_the_restore_and_keeps_the_volume(scene, fault):
    scene.cloud.inject("server.attach", fault)
    cause = scene.failing_restore(server_id=scene.server_id)
    new_id = cause.volume_id
    assert (cause.server_id, cause.rolled_back) == (scene.server_id, None)
    assert f"to server {scene.server_id}" in str(cause)
    assert f"restored volume {new_id} is kept" in str(cause)
    scene.assert_kept_detached(new_id)
    scene.assert_original_untouched()
    status, reason = scene.record_status()
    assert status == "error" and scene.server_id in reason and new_id in reason


def test_a_missing_server_is_named(scene):
    cause = scene.failing_restore(server_id="no-such-server")
    assert isinstance(cause.__cause__, exceptions.ResourceGone)
    assert "server no-such-server not found" in str(cause)
    scene.assert_kept_detached(cause.volume_id)
    assert "server.attach" not in scene.calls()


# --- replace in place -------------------------------------------------------


def test_replace_puts_the_restored_volume_at_the_original_device(scene):
    new_id = scene.restore(server_id=scene.server_id, replace_volume=True)
    assert scene.device_of(new_id) == "/dev/vdc"
    assert scene.device_of(scene.original_id) is None
    assert scene.device_of(scene.first_id) == "/dev/vdb"
    # the server now sees the backup's data, not the bad data
    assert scene.cloud.volume_data(new_id) == scene.data
    assert scene.cloud.status_of("volume", new_id) == "in-use"
    # the original is detached and kept as it was
    assert scene.cloud.status_of("volume", scene.original_id) == "available"
    assert scene.cloud.volume_data(scene.original_id) == scene.bad_data
    assert "volume.delete" not in scene.calls()
    # Nova's swap is never asked for, even when it would accept
    calls = [c for c in scene.calls() if c.startswith("server.")]
    assert calls == ["server.get", "server.get_volumes", "server.detach",
                     "server.attach"]
    assert scene.record_status() == ("available", None)
    assert scene.cloud.leftovers() == [("volume", new_id, "r")]


def test_replace_notifies_start_and_end_between_the_restores(scene):
    new_id = scene.restore(server_id=scene.server_id, replace_volume=True)
    assert scene.notifier.events() == [
        "volume_glance.restore.start", f"{SWAP}.start", f"{SWAP}.end",
        "volume_glance.restore.end"]
    (p1, start_type, start), (p2, end_type, end) = scene.notifier.swaps()
    assert (p1, p2) == ("INFO", "INFO")
    for event_type, payload in ((start_type, start), (end_type, end)):
        check_swap_payload(event_type, payload)
        assert payload["server_id"] == scene.server_id
        assert payload["old_volume_id"] == scene.original_id
        assert payload["new_volume_id"] == new_id
        assert payload["device"] == "/dev/vdc"
        assert payload["volume_id"] == scene.original_id
        assert payload["checkpoint_id"] == scene.harness.checkpoint.id
        assert payload["project_id"] == "fake-project"
        assert payload["user_id"] == "fake-user"
        assert payload["host"] == "test-host"
        assert payload["backup_name"] == "b"
    assert "method" not in start
    assert end["method"] == "detach-attach"


@pytest.mark.parametrize("fault", ["exception", "error"])
def test_a_failed_attach_rolls_back_to_the_original_device(scene, fault):
    scene.cloud.inject("server.attach", fault)  # the restored volume's attach
    cause = scene.failing_restore(server_id=scene.server_id,
                                  replace_volume=True)
    new_id = cause.volume_id
    assert cause.rolled_back is True and cause.rollback_error is None
    assert cause.old_volume_id == scene.original_id
    assert f"volume {scene.original_id} is attached again at /dev/vdc" in str(
        cause)
    assert f"restored volume {new_id} is kept" in str(cause)
    scene.assert_original_untouched()  # back where it was, never deleted
    scene.assert_kept_detached(new_id)
    calls = [c for c in scene.calls() if c.startswith("server.")]
    assert calls == ["server.get", "server.get_volumes", "server.detach",
                     "server.attach", "server.get_volumes", "server.attach"]
    assert "volume.delete" not in scene.calls()
    status, reason = scene.record_status()
    assert status == "error"
    assert scene.server_id in reason and new_id in reason
    assert "attached again" in reason


def test_a_failed_attach_notifies_the_error_and_the_rollback(scene):
    scene.cloud.inject("server.attach", "error")
    cause = scene.failing_restore(server_id=scene.server_id,
                                  replace_volume=True)
    assert scene.notifier.events() == [
        "volume_glance.restore.start", f"{SWAP}.start", f"{SWAP}.error",
        "volume_glance.restore.error"]
    (_p, _t, start), (priority, event_type, error) = scene.notifier.swaps()
    assert priority == "ERROR"
    check_swap_payload(event_type, error)
    assert error["rolled_back"] is True and error["rollback_error"] is None
    assert error["fail_reason"].startswith("ResourceFailed: volume "
                                           f"{cause.volume_id} went to status "
                                           "'available'")
    assert error["method"] == "detach-attach"
    assert error["device"] == "/dev/vdc"
    assert {k: v for k, v in error.items()
            if k not in ("method", "fail_reason", "rolled_back",
                         "rollback_error")} == start


def test_a_failed_detach_changes_nothing(scene):
    scene.cloud.inject("server.detach", "error")  # Nova keeps it attached
    cause = scene.failing_restore(server_id=scene.server_id,
                                  replace_volume=True)
    assert cause.rolled_back is True
    scene.assert_original_untouched()
    scene.assert_kept_detached(cause.volume_id)
    assert "server.attach" not in scene.calls()
    (_p, _t, _start), (priority, _type, error) = scene.notifier.swaps()
    assert priority == "ERROR" and error["rolled_back"] is True
    assert "went to status 'in-use'" in error["fail_reason"]


def test_a_failed_rollback_is_said_everywhere(scene):
    scene.cloud.inject("server.attach", "exception", times=2)
    cause = scene.failing_restore(server_id=scene.server_id,
                                  replace_volume=True)
    assert cause.rolled_back is False
    assert "Injected fault" in cause.rollback_error
    assert "rolling back failed too" in str(cause)
    # the original is detached but intact, and the restored volume is kept
    assert scene.device_of(scene.original_id) is None
    assert scene.cloud.status_of("volume", scene.original_id) == "available"
    assert scene.cloud.volume_data(scene.original_id) == scene.bad_data
    scene.assert_kept_detached(cause.volume_id)
    (_p, _t, _start), (priority, event_type, error) = scene.notifier.swaps()
    check_swap_payload(event_type, error)
    assert priority == "ERROR"
    assert error["rolled_back"] is False
    assert error["rollback_error"] == cause.rollback_error
    assert scene.record_status()[0] == "error"


def test_an_original_not_on_that_server_is_refused_before_any_change(scene):
    other_server = scene.cloud.add_server("other")
    cause = scene.failing_restore(server_id=other_server, replace_volume=True)
    message = str(cause)
    assert f"volume {scene.original_id} is not attached to server " \
           f"{other_server}" in message
    assert cause.volume_id in message and "nothing was changed" in message
    assert cause.rolled_back is None
    scene.assert_original_untouched()
    scene.assert_kept_detached(cause.volume_id)
    assert [c for c in scene.calls() if c.startswith("server.")] == [
        "server.get", "server.get_volumes"]
    assert scene.notifier.swaps() == []
    assert scene.record_status()[0] == "error"


def test_replacing_on_a_missing_server_changes_nothing(scene):
    cause = scene.failing_restore(server_id="gone", replace_volume=True)
    assert "server gone not found" in str(cause)
    scene.assert_original_untouched()
    assert scene.notifier.swaps() == []


# --- the facade's Nova section ----------------------------------------------


@pytest.fixture
def nova_scene():
    """A facade over a cloud; old attached, new not."""
    cloud = FakeCloud(transition_polls=1)
    server_id = cloud.add_server()
    old_id = cloud.add_volume(data=b"old data", server_id=server_id)
    new_id = cloud.add_volume(data=b"restored data")
    cloud_facade = facade.Cloud(cloud.client_factory(), cloud.context(),
                                conf.load_settings(plugin_config()),
                                sleep=lambda _s: None)
    return cloud, cloud_facade, server_id, old_id, new_id


def test_facade_attaches_detaches_and_lists(nova_scene):
    cloud, cloud_facade, server_id, old_id, new_id = nova_scene
    assert cloud_facade.get_server(server_id).id == server_id
    assert cloud_facade.server_attachments(server_id) == [(old_id, "/dev/vdb")]
    assert cloud_facade.attach_volume(server_id, new_id, "/dev/vdf") == "/dev/vdf"
    assert cloud.status_of("volume", new_id) == "in-use"
    cloud_facade.detach_volume(server_id, old_id)
    assert cloud.status_of("volume", old_id) == "available"
    assert cloud_facade.server_attachments(server_id) == [(new_id, "/dev/vdf")]


def test_facade_names_a_missing_server_and_failed_calls(nova_scene):
    cloud, cloud_facade, server_id, old_id, new_id = nova_scene
    with pytest.raises(exceptions.ResourceGone, match="server nope not found"):
        cloud_facade.get_server("nope")
    with pytest.raises(exceptions.ResourceGone, match="server nope not found"):
        cloud_facade.server_attachments("nope")
    with pytest.raises(exceptions.CloudError,
                       match=f"attaching volume {new_id} to server {server_id} "
                       "at /dev/vdb failed: BadRequest"):
        cloud_facade.attach_volume(server_id, new_id, "/dev/vdb")  # in use
    cloud.inject("server.detach", "exception")
    with pytest.raises(exceptions.CloudError,
                       match=f"detaching volume {old_id} from server "
                       f"{server_id} failed: ClientException"):
        cloud_facade.detach_volume(server_id, old_id)


# --- through oslo.messaging's test driver ----------------------------------


def messaging_config():
    config = plugin_config()
    oslo_messaging.get_notification_transport(config)  # registers the options
    config.set_override("transport_url", "fake:/")
    config.set_override("driver", ["test"], group="oslo_messaging_notifications")
    return config


@pytest.fixture
def sent():
    _impl_test.reset()
    yield lambda: [(message["priority"], message["event_type"],
                    message["payload"])
                   for _ctxt, message, _priority, _retry
                   in _impl_test.NOTIFICATIONS
                   if not message["event_type"].endswith(".progress")]
    _impl_test.reset()


def test_swap_notifications_through_oslo_messaging(sent):
    scene = Scene(config=messaging_config())
    assert scene.harness.plugin.notifier.enabled
    _impl_test.reset()  # forget the protect's notifications
    new_id = scene.restore(server_id=scene.server_id, replace_volume=True)
    notifications = sent()
    assert [(p, e) for p, e, _payload in notifications] == [
        ("INFO", "volume_glance.restore.start"), ("INFO", f"{SWAP}.start"),
        ("INFO", f"{SWAP}.end"), ("INFO", "volume_glance.restore.end")]
    for _priority, event_type, payload in notifications[1:3]:
        check_swap_payload(event_type, payload)
        assert (payload["old_volume_id"], payload["new_volume_id"],
                payload["device"]) == (scene.original_id, new_id, "/dev/vdc")
        assert payload["host"] == scene.harness.plugin.notifier.host
    assert notifications[2][2]["method"] == "detach-attach"


def test_swap_error_through_oslo_messaging_is_priority_error(sent):
    scene = Scene(config=messaging_config())
    _impl_test.reset()
    scene.cloud.inject("server.attach", "error")
    cause = scene.failing_restore(server_id=scene.server_id,
                                  replace_volume=True)
    notifications = sent()
    assert [(p, e) for p, e, _payload in notifications] == [
        ("INFO", "volume_glance.restore.start"), ("INFO", f"{SWAP}.start"),
        ("ERROR", f"{SWAP}.error"), ("ERROR", "volume_glance.restore.error")]
    _priority, event_type, error = notifications[2]
    check_swap_payload(event_type, error)
    assert error["rolled_back"] is True
    assert error["new_volume_id"] == cause.volume_id
    assert "ResourceFailed" in error["fail_reason"]
    assert "PlacementFailed" in notifications[3][2]["fail_reason"]
