"""A notifier for tests: keeps every notification instead of sending it.

It has what the plugin asks of its notifier (``enabled``, ``host``,
``info``, ``error``), so ``VolumeGlanceProtectionPlugin(config,
client_factory=…, notifier=RecordingNotifier())`` records what a real one
would send, as ``(priority, event_type, payload)``.
"""

SWAP = "volume_glance.volume_swap"


class RecordingNotifier:
    enabled = True

    def __init__(self, host="test-host"):
        self.host = host
        self.sent = []

    def info(self, context, event_type, payload):
        self.sent.append(("INFO", event_type, payload))

    def error(self, context, event_type, payload):
        self.sent.append(("ERROR", event_type, payload))

    def events(self):
        """The event types sent, in order, without progress."""
        return [event for _, event, _ in self.sent
                if not event.endswith(".progress")]

    def swaps(self):
        """What was sent of the volume swap events."""
        return [entry for entry in self.sent if entry[1].startswith(SWAP)]
