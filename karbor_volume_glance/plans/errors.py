"""The error of a plan that cannot be used as written or asked.

:class:`PlanError` says which plan file and, when it is about one field of
it, which field (``resources[1].options.compression``), so a person can go
straight to the line to fix.
"""

from karbor_volume_glance import exceptions


class PlanError(exceptions.VolumeGlanceError):
    """A plan file that is unreadable or invalid, or a request it cannot serve.

    ``source`` is the plan file (or None), ``field`` the dotted field the
    error is about (or None) and ``reason`` the rest of the message.
    """

    def __init__(self, reason, source=None, field=None):
        self.source = source
        self.field = field
        self.reason = reason
        where = ": ".join(str(part) for part in (source, field) if part)
        super().__init__(f"{where}: {reason}" if where else reason)
