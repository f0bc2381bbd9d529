"""What every operation shares: Karbor's four hooks and the operation's wiring.

Karbor runs an Operation's hooks in a taskflow graph: ``on_prepare_begin``,
``on_prepare_finish``, ``on_main``, ``on_complete``, each called with
``(checkpoint, resource, context, parameters, **kwargs)``. Our operations do
their work in ``on_main``; the other hooks are there for Karbor's contract
(duck-typed: Karbor's ``protection_plugin.Operation`` is never imported).
"""

from karbor_volume_glance import notifications, retry
from karbor_volume_glance.cloud import facade
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import transfer, volume_index


class Operation:
    """Karbor's Operation interface with no-op hooks."""

    #: The operation's name in its notifications' event types.
    name = None

    def __init__(self, settings, client_factory, notifier=None):
        self._settings = settings
        self._client_factory = client_factory
        self.notifier = notifier or notifications.Notifier()

    def events(self, context, checkpoint, volume_id, section):
        """The notifications of this operation on one volume's backup."""
        return notifications.OperationEvents(
            self.notifier, self.name, context,
            payload.base(context, self.notifier.host,
                         getattr(checkpoint, "id", None), volume_id, section,
                         self._settings),
            self._settings)

    def cloud(self, context):
        """The cloud facade for one request context."""
        return facade.Cloud(self._client_factory, context, self._settings)

    def bank_call(self, func, *args, what=None):
        """Call a bank method, retrying transient errors ``bank_retries`` times."""
        return retry.bank_call(func, *args, retries=self._settings.bank_retries,
                               what=what or func.__name__)

    def transfer(self, section, volume_id, progress=None, sources=None):
        """Chunk transfers for one volume's section, with our parallelism;
        ``sources`` maps the other backups it reads from to their sections."""
        return transfer.Transfer(section, volume_id, self._settings.parallelism,
                                 self.bank_call, progress, sources)

    def index(self, section, volume_id):
        """The bank's index of the volume's backups."""
        return volume_index.VolumeIndex(section, volume_id, self.bank_call)

    def on_prepare_begin(self, checkpoint, resource, context, parameters, **kwargs):
        """Runs before any child resource's hooks; nothing to do here."""

    def on_prepare_finish(self, checkpoint, resource, context, parameters, **kwargs):
        """Runs after all child resources' prepare hooks; nothing to do here."""

    def on_main(self, checkpoint, resource, context, parameters, **kwargs):
        raise NotImplementedError

    def on_complete(self, checkpoint, resource, context, parameters, **kwargs):
        """Runs after all dependent resources' hooks; nothing to do here."""
