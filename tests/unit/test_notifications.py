"""Notifications through oslo.messaging's ``test`` driver, checked by schema."""

import os
import subprocess
import sys

import jsonschema
import pytest
from oslo_config import cfg
from oslo_messaging.notify import _impl_test

from karbor_volume_glance import exceptions
from karbor_volume_glance.notifications import (
    Notifier,
    ProgressThrottle,
    notifier,
    payload,
)
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import FakeCheckpoint
from tests.unit.harness import OBJECT_SIZE, Harness, plugin_config

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"], "minimum": 0}

PAYLOAD_SCHEMA = {
    "type": "object",
    "required": ["tenant_id", "project_id", "user_id", "availability_zone",
                 "host", "checkpoint_id", "volume_id", "snapshot_id",
                 "backup_name", "description", "parent_checkpoint_id",
                 "created_at", "status", "size", "size_bytes",
                 "service_metadata"],
    "properties": {
        "tenant_id": {"type": "string"},
        "project_id": {"type": "string"},
        "user_id": {"type": "string"},
        "availability_zone": NULLABLE_STRING,
        "host": {"type": "string", "minLength": 1},
        "checkpoint_id": {"type": "string"},
        "volume_id": {"type": "string"},
        "snapshot_id": NULLABLE_STRING,
        "backup_name": NULLABLE_STRING,
        "description": NULLABLE_STRING,
        "parent_checkpoint_id": NULLABLE_STRING,
        "created_at": NULLABLE_STRING,
        "status": {"enum": ["protecting", "available", "restoring", "deleting",
                            "deleted", "verifying", "error"]},
        "size": NULLABLE_INT,
        "size_bytes": NULLABLE_INT,
        "new_volume_id": {"type": "string"},
        "fail_reason": {"type": "string", "minLength": 1},
        "percent": {"type": "number", "minimum": 0, "maximum": 100},
        "bytes_done": {"type": "integer", "minimum": 0},
        "bytes_total": {"type": "integer", "minimum": 0},
        # a restore's .end: what it could not honour, and what it left
        "warnings": {"type": "array", "minItems": 1,
                     "items": {"type": "string", "minLength": 1}},
        "leftovers": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["kind", "resource_id", "reason"],
                "properties": {"kind": {"enum": ["image", "volume", "snapshot"]},
                               "resource_id": {"type": "string"},
                               "reason": {"type": "string", "minLength": 1}},
                "additionalProperties": False,
            },
        },
        "service_metadata": {
            "type": "object",
            "required": ["bank", "chunk_size", "compression"],
            "properties": {
                "bank": {
                    "type": "object",
                    "required": ["kind", "location"],
                    "properties": {"kind": {"type": "string"},
                                   "location": NULLABLE_STRING},
                    "additionalProperties": False,
                },
                "chunk_size": {"type": "integer", "minimum": 1},
                "compression": {"enum": ["none", "zlib", "zstd"]},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
PHASE_KEYS = {
    "progress": {"percent", "bytes_done", "bytes_total"},
    "error": {"fail_reason"},
}


@pytest.fixture
def sent():
    _impl_test.reset()
    yield _impl_test.NOTIFICATIONS
    _impl_test.reset()


def notifying_config(**overrides):
    config = plugin_config(**overrides)
    notifier.register_opts(config)  # oslo.messaging's options, to override
    config.set_override("driver", ["test"], group="oslo_messaging_notifications")
    config.set_override("transport_url", "fake:/")
    return config


class NotifyingHarness(Harness):
    def __init__(self, cloud, bank, **overrides):
        super().__init__(cloud, bank)
        self.plugin = VolumeGlanceProtectionPlugin(
            notifying_config(**overrides), client_factory=cloud.client_factory())


def messages():
    """``(event_type, priority, payload)`` of what was sent, checked."""
    found = []
    for _context, message, priority, _retry in _impl_test.NOTIFICATIONS:
        event_type, body = message["event_type"], message["payload"]
        jsonschema.validate(body, PAYLOAD_SCHEMA)
        phase = event_type.rsplit(".", 1)[1]
        assert PHASE_KEYS.get(phase, set()) <= set(body), event_type
        found.append((event_type, priority, body))
    return found


def test_a_protect_sends_start_progress_and_end(cloud, bank, sent):
    harness = NotifyingHarness(cloud, bank, progress_notification_chunks=2)
    data = os.urandom(5 * OBJECT_SIZE + 100)
    volume_id = cloud.add_volume(data=data, size=2)
    harness.protect(volume_id, {"backup_name": "nightly", "description": "d"})
    found = messages()
    types = [event for event, _, _ in found]
    assert types[0] == "volume_glance.protect.start"
    assert types[-1] == "volume_glance.protect.end"
    progress = [body for event, _, body in found if event.endswith(".progress")]
    # six chunks, every second one: 2, 4, 6 (the last, at 100 %)
    assert [p["bytes_done"] for p in progress] == [
        2 * OBJECT_SIZE, 4 * OBJECT_SIZE, len(data)]
    assert progress[-1]["percent"] == 100.0
    assert all(p["bytes_total"] == len(data) for p in progress)
    start, end = found[0][2], found[-1][2]
    assert start["status"] == "protecting" and end["status"] == "available"
    assert (end["size"], end["size_bytes"]) == (2, len(data))
    assert end["backup_name"] == "nightly" and end["description"] == "d"
    assert end["checkpoint_id"] == harness.checkpoint.id
    assert end["project_id"] == cloud.project_id == end["tenant_id"]
    assert end["service_metadata"]["chunk_size"] == OBJECT_SIZE
    assert end["service_metadata"]["bank"]["kind"] in ("memory", "file")
    assert all(priority == "INFO" for _, priority, _ in found)


def test_progress_is_by_bytes_monotone_and_ends_at_100(cloud, bank, sent):
    harness = NotifyingHarness(cloud, bank, progress_notification_chunks=1)
    data = bytearray(os.urandom(4 * OBJECT_SIZE + 7))
    data[OBJECT_SIZE:3 * OBJECT_SIZE] = bytes(2 * OBJECT_SIZE)  # zero chunks
    volume_id = cloud.add_volume(data=bytes(data))
    harness.protect(volume_id)
    harness.restore(volume_id)
    for operation in ("protect", "restore"):
        percents = [body["percent"] for event, _, body in messages()
                    if event == f"volume_glance.{operation}.progress"]
        assert len(percents) == 5  # one per chunk, never more
        assert percents == sorted(percents) and percents[-1] == 100.0
        assert percents[0] == pytest.approx(100 * OBJECT_SIZE / len(data), abs=0.01)


def test_restore_delete_and_verify_send_start_and_end(cloud, bank, sent):
    harness = NotifyingHarness(cloud, bank)
    volume_id = cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.protect(volume_id)
    _impl_test.reset()
    new_volume = harness.restore(volume_id)
    from karbor_volume_glance.testing import run_operation, volume_resource
    resource = volume_resource(volume_id)
    run_operation(harness.plugin.get_verify_operation(resource), harness.checkpoint,
                  resource, harness.context, {"deep": True})
    harness.delete(volume_id)
    found = messages()
    types = [event for event, _, _ in found if not event.endswith(".progress")]
    assert types == [f"volume_glance.{op}.{phase}"
                     for op in ("restore", "verify", "delete")
                     for phase in ("start", "end")]
    ends = {event: body for event, _, body in found if event.endswith(".end")}
    assert ends["volume_glance.restore.end"]["new_volume_id"] == new_volume
    assert ends["volume_glance.restore.end"]["size_bytes"] == 3 * OBJECT_SIZE
    assert ends["volume_glance.delete.end"]["status"] == "deleted"
    assert ends["volume_glance.verify.end"]["backup_name"] == "b"


def test_a_failure_sends_error_with_its_reason_at_error_priority(cloud, bank, sent):
    harness = NotifyingHarness(cloud, bank)
    volume_id = cloud.add_volume(data=b"abc")
    cloud.inject("volume.upload_to_image", "error")
    with pytest.raises(exceptions.ProtectFailed):
        harness.protect(volume_id)
    event, priority, body = messages()[-1]
    assert (event, priority) == ("volume_glance.protect.error", "ERROR")
    assert body["status"] == "error"
    assert body["fail_reason"].startswith("ResourceFailed: ")
    assert volume_id in body["fail_reason"] or "image" in body["fail_reason"]


def test_invalid_parameters_send_an_error_naming_the_field(cloud, bank, sent):
    harness = NotifyingHarness(cloud, bank)
    volume_id = cloud.add_volume(data=b"abc")
    with pytest.raises(exceptions.InvalidParameters):
        harness.protect(volume_id, {"description": "no name"})
    [(event, priority, body)] = messages()
    assert event == "volume_glance.protect.error" and priority == "ERROR"
    assert body["fail_reason"].startswith("InvalidParameters: backup_name")


def test_without_a_driver_nothing_is_sent(harness, sent):
    volume_id = harness.cloud.add_volume(data=b"abc")
    harness.protect(volume_id)
    harness.restore(volume_id)
    assert harness.plugin.notifier.enabled is False
    assert _impl_test.NOTIFICATIONS == []


class BrokenDriver:
    def info(self, *args):
        raise ConnectionError("the broker is gone")

    error = info


def test_a_notifier_that_fails_never_fails_the_operation(cloud, bank, caplog):
    harness = Harness(cloud, bank)
    harness.plugin.notifier = Notifier(BrokenDriver(), host="h")
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE + 1))
    harness.protect(volume_id)
    assert cloud.volume_data(harness.restore(volume_id))[:OBJECT_SIZE + 1]
    assert "Could not send notification volume_glance.protect.start" in caplog.text
    assert "the broker is gone" in caplog.text


def test_an_incrementals_notifications_name_its_parent(cloud, bank, sent):
    harness = NotifyingHarness(cloud, bank)
    volume_id = cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    harness.protect(volume_id)
    child = FakeCheckpoint(bank)
    harness.protect(volume_id, {"backup_name": "i", "incremental": True},
                    checkpoint=child)
    end = [body for event, _, body in messages()
           if event == "volume_glance.protect.end"][-1]
    assert end["parent_checkpoint_id"] == harness.checkpoint.id
    assert end["checkpoint_id"] == child.id


# --- the parts ---------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def throttle(every=3, interval=60.0):
    sent, clock = [], Clock()
    return sent, clock, ProgressThrottle(lambda *a: sent.append(a), every,
                                         interval, clock)


def test_the_throttle_sends_every_n_chunks_and_at_the_end():
    sent, _clock, progress = throttle(every=3)
    for done in range(10, 80, 10):
        progress.chunk_done(done, 70)
    assert [s[0] for s in sent] == [30, 60, 70]
    assert sent[-1][2] == 100.0
    progress.finish(70)
    assert len(sent) == 3  # 100 % is said once


def test_the_throttle_sends_after_the_interval_but_never_twice_a_chunk():
    sent, clock, progress = throttle(every=100, interval=60.0)
    progress.chunk_done(10, 100)
    clock.now = 61.0
    progress.chunk_done(20, 100)
    progress.chunk_done(20, 100)  # the same chunk again: nothing
    progress.chunk_done(15, 100)  # going back: nothing
    assert [s[0] for s in sent] == [20]
    progress.finish(100)
    assert sent[-1] == (100, 100, 100.0)


def test_percent_is_none_without_a_total_until_the_end():
    sent, _clock, progress = throttle(every=1)
    progress.chunk_done(10, None)
    progress.finish(None)
    assert sent == [(10, None, None), (10, 10, 100.0)]


@pytest.mark.parametrize("url, shown", [
    ("s3://key:secret@host:9000/bucket/p?endpoint=http://x&secret_key=s",
     "s3://host:9000/bucket/p?endpoint=http%3A%2F%2Fx"),
    ("swift://container/prefix?cloud=site&password=p", "swift://container/prefix?cloud=site"),
    ("file:///srv/bank", "file:///srv/bank"),
])
def test_bank_locations_lose_their_credentials(url, shown):
    assert payload.public_location(url) == shown


def test_an_encrypted_backups_restore_and_verify_say_what_its_seal_holds(
        cloud, bank, sent):
    from karbor_volume_glance.format.keys import MasterKey
    from karbor_volume_glance.testing import run_operation, volume_resource

    harness = NotifyingHarness(cloud, bank)
    harness.plugin = VolumeGlanceProtectionPlugin(
        notifying_config(), client_factory=cloud.client_factory(),
        keys=MasterKey.generate())
    volume_id = cloud.add_volume(data=os.urandom(3 * OBJECT_SIZE))
    harness.protect(volume_id)
    _impl_test.reset()
    harness.restore(volume_id)
    resource = volume_resource(volume_id)
    run_operation(harness.plugin.get_verify_operation(resource), harness.checkpoint,
                  resource, harness.context, {"deep": True})
    ends = {event: body for event, _, body in messages() if event.endswith(".end")}
    assert ends["volume_glance.restore.end"]["size_bytes"] == 3 * OBJECT_SIZE
    assert ends["volume_glance.verify.end"]["backup_name"] == "b"


# --- oslo.messaging only when a driver is configured ------------------------

DRIVER_FILES = {
    "none": "[volume_glance_plugin]\npoll_interval = 0.5\n",
    "noop": "[oslo_messaging_notifications]\ndriver = noop\n",
    "test": "[DEFAULT]\ntransport_url = fake:/\n"
            "[oslo_messaging_notifications]\ndriver = test\n",
    "two": "[oslo_messaging_notifications]\ndriver = test\n"
           "driver = messagingv2\n",
}


@pytest.mark.parametrize("name", sorted(DRIVER_FILES))
def test_the_drivers_read_without_oslo_messaging_are_its_own(tmp_path, name):
    path = tmp_path / "plugin.conf"
    path.write_text(DRIVER_FILES[name])
    from karbor_volume_glance import conf

    unregistered = conf.make_config(str(path))
    found = notifier.configured_drivers(unregistered)
    assert notifier.GROUP not in unregistered  # read from the file alone
    registered = conf.make_config(str(path))
    notifier.register_opts(registered)
    assert found == [d for d in registered[notifier.GROUP].driver
                     if d != "noop"]
    assert found == {"none": [], "noop": [], "test": ["test"],
                     "two": ["test", "messagingv2"]}[name]


def test_a_driver_in_a_config_dir_is_found(tmp_path):
    from karbor_volume_glance import conf

    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "notify.conf").write_text(DRIVER_FILES["test"])
    config = cfg.ConfigOpts()
    config(["--config-dir", str(tmp_path / "conf.d")], project=None,
           default_config_files=[], default_config_dirs=[])
    conf.register_opts(config)
    assert notifier.configured_drivers(config) == ["test"]
    assert Notifier.from_config(config).enabled is True


def test_a_driver_in_the_config_file_enables_the_notifier(tmp_path):
    from karbor_volume_glance import conf

    path = tmp_path / "plugin.conf"
    path.write_text(DRIVER_FILES["test"])
    assert Notifier.from_config(conf.make_config(str(path))).enabled is True


def test_without_a_driver_oslo_messaging_is_not_imported(tmp_path):
    path = tmp_path / "plugin.conf"
    path.write_text(DRIVER_FILES["noop"])
    script = (
        "import sys\n"
        "from karbor_volume_glance import conf\n"
        "from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin\n"
        "plugin = VolumeGlanceProtectionPlugin(conf.make_config(sys.argv[1]))\n"
        "print(plugin.notifier.enabled, 'oslo_messaging' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path)],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
