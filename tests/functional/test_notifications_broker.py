"""Notifications of a protect and a restore reach a real listener through a
real RabbitMQ broker, as an OpenStack service's would."""

import os
import threading
import time
import warnings

import pytest

from karbor_volume_glance import conf
from karbor_volume_glance.notifications import notifier
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tests.functional.broker import Broker
from tests.functional.sites import GIB, OBJECT_SIZE

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # eventlet's, through oslo.service
    import oslo_messaging

TOPIC = "kvg_notifications"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    running = Broker(str(tmp_path_factory.mktemp("rabbitmq"))).start()
    yield running
    running.stop()


class Collector:
    """A notification listener's endpoint: every message, in order."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Condition()

    def _got(self, priority, event_type, payload):
        with self.lock:
            self.messages.append((priority, event_type, payload))
            self.lock.notify_all()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._got("INFO", event_type, payload)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._got("ERROR", event_type, payload)

    def wait_for(self, event_type, timeout=30.0):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not any(e == event_type for _, e, _ in self.messages):
                left = deadline - time.monotonic()
                assert left > 0, f"no {event_type}; got {self.messages}"
                self.lock.wait(left)


@pytest.fixture
def listener(broker):
    config = conf.make_config()
    transport = oslo_messaging.get_notification_transport(config, url=broker.url)
    collector = Collector()
    server = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=TOPIC)], [collector],
        executor="threading")
    server.start()
    yield collector
    server.stop()
    server.wait()
    transport.cleanup()


def notifying_plugin(site, broker):
    config = conf.make_config(poll_interval=0.01,
                              backup_image_object_size=OBJECT_SIZE,
                              progress_notification_chunks=1)
    notifier.register_opts(config)  # oslo.messaging's options, to override
    config.set_override("transport_url", broker.url)
    config.set_override("driver", ["messagingv2"],
                        group="oslo_messaging_notifications")
    config.set_override("topics", [TOPIC], group="oslo_messaging_notifications")
    return VolumeGlanceProtectionPlugin(config, client_factory=site.clients)


def test_protect_and_restore_notifications_through_rabbitmq(sites, bank, broker,
                                                            listener):
    data = os.urandom(3 * OBJECT_SIZE + 11)
    volume_id = sites.a.create_volume(data)
    runner = Runner(notifying_plugin(sites.a, broker), bank, sites.a.context)
    result = runner.protect([volume_id], {volume_id: {"backup_name": "mq"}})
    assert result.ok
    listener.wait_for("volume_glance.protect.end")
    restored = Runner(notifying_plugin(sites.b, broker), bank,
                      sites.b.context).restore(result.checkpoint_id, {})
    assert restored.ok
    listener.wait_for("volume_glance.restore.end")
    events = [event for _, event, _ in listener.messages]
    chunks = GIB // OBJECT_SIZE  # the whole 1 "GiB" volume, one per chunk
    assert events == (
        ["volume_glance.protect.start"] + ["volume_glance.protect.progress"] * chunks
        + ["volume_glance.protect.end", "volume_glance.restore.start"]
        + ["volume_glance.restore.progress"] * chunks
        + ["volume_glance.restore.end"])
    percents = [payload["percent"] for _, event, payload in listener.messages
                if event == "volume_glance.protect.progress"]
    assert percents == sorted(percents) and percents[-1] == 100.0
    payloads = {event: payload for _, event, payload in listener.messages}
    end = payloads["volume_glance.protect.end"]
    assert end["backup_name"] == "mq" and end["size_bytes"] == GIB
    assert end["project_id"] == sites.a.project_id
    assert end["checkpoint_id"] == result.checkpoint_id
    assert payloads["volume_glance.restore.end"]["project_id"] == sites.b.project_id
    assert all(priority == "INFO" for priority, _, _ in listener.messages)


def test_a_failure_reaches_the_listener_at_error_priority(sites, bank, broker,
                                                          listener):
    runner = Runner(notifying_plugin(sites.a, broker), bank, sites.a.context)
    volume_id = sites.a.create_volume(b"x" * 1000)
    # fails during the protect, whichever path it takes to the image
    sites.a.cloud.inject("volume.upload_to_image", "error")
    result = runner.protect([volume_id], {volume_id: {"backup_name": "x"}})
    assert not result.ok
    listener.wait_for("volume_glance.protect.error")
    [(priority, _, payload)] = [m for m in listener.messages
                                if m[1] == "volume_glance.protect.error"]
    assert priority == "ERROR"
    assert payload["volume_id"] == volume_id
    assert "image" in payload["fail_reason"]
