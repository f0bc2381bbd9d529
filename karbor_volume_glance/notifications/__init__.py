"""Notifications of the operations, through oslo.messaging.

``volume_glance.<operation>.start|end|error`` for protect, restore, delete
and verify, ``volume_glance.protect.progress`` and ``restore.progress``, and
``volume_glance.volume_swap.start|end|error`` when a restore replaces a
server's volume. :class:`Notifier` sends (or, without a driver configured,
does nothing), :mod:`.payload` builds Cinder-like usage payloads,
:class:`ProgressThrottle` decides when progress is worth a message, and
:class:`OperationEvents` ties them to one operation.
"""

from karbor_volume_glance.notifications.events import OperationEvents
from karbor_volume_glance.notifications.notifier import Notifier
from karbor_volume_glance.notifications.progress import ProgressThrottle

__all__ = ["Notifier", "OperationEvents", "ProgressThrottle"]
