"""The notifications of one operation on one volume's backup.

``reported()`` wraps the operation: any exception sends
``volume_glance.<operation>.error`` (priority ERROR, with ``fail_reason``)
and goes on. The operation calls ``start(...)`` once its parameters are
valid and ``end(...)`` when it is done; ``update(...)`` adds what it learns
on the way, and ``progress`` is the callback its data transfer reports to.
"""

import contextlib
import copy

from karbor_volume_glance.format.status import BackupStatus
from karbor_volume_glance.notifications import payload as payloads
from karbor_volume_glance.notifications.progress import ProgressThrottle

EVENT_PREFIX = "volume_glance"


class OperationEvents:
    def __init__(self, notifier, operation, context, payload, settings=None):
        self.notifier = notifier
        self.operation = operation
        self.context = context
        self.payload = payload
        every = getattr(settings, "progress_notification_chunks", 10)
        interval = getattr(settings, "progress_notification_interval", 120.0)
        self._throttle = ProgressThrottle(self._send_progress, every, interval)
        self._reports_progress = False
        self._total = None

    def event_type(self, phase):
        return f"{EVENT_PREFIX}.{self.operation}.{phase}"

    def update(self, **fields):
        """Add what the operation learnt; ``service_metadata`` is merged."""
        service = fields.pop("service_metadata", None)
        if service:
            self.payload["service_metadata"].update(service)
        self.payload.update(fields)

    def _message(self, **extra):
        message = copy.deepcopy(self.payload)
        message.update(extra)
        return message

    def start(self, status, **fields):
        self.update(status=status, **fields)
        self.notifier.info(self.context, self.event_type("start"), self._message())

    def end(self, status, **fields):
        self.update(status=status, **fields)
        if self._reports_progress and self.notifier.enabled:
            self._throttle.finish(self._total)
        self.notifier.info(self.context, self.event_type("end"), self._message())

    def error(self, exc):
        self.update(status=BackupStatus.ERROR)
        self.notifier.error(self.context, self.event_type("error"),
                            self._message(fail_reason=payloads.fail_reason(exc)))

    @contextlib.contextmanager
    def reported(self):
        try:
            yield self
        except Exception as exc:
            self.error(exc)
            raise

    def progress(self, forward=None):
        """A transfer's progress callback ``(volume_id, done, total)`` that
        sends progress notifications, and calls ``forward`` too if given."""
        self._reports_progress = True

        def report(volume_id, done, total):
            if total is not None:
                self._total = total
            if forward is not None:
                forward(volume_id, done, total)
            if self.notifier.enabled:
                self._throttle.chunk_done(done, total)
        return report

    def _send_progress(self, done, total, percent):
        self.notifier.info(self.context, self.event_type("progress"),
                           self._message(percent=percent, bytes_done=done,
                                         bytes_total=total))
