"""Every status this project writes or reports, defined once.

Three things have a status, each with its own set:

* :class:`BackupStatus`: a volume's backup, as Karbor names a resource's
  statuses. It is the ``status`` object of the backup's bank section
  (:data:`STATUS_KEY`, with :data:`REASON_KEY` after a failure), the status in
  Karbor's restore and verify records and in the operations' notifications.
* :class:`EntryStatus`: a backup's entry in the volume's index
  (:mod:`.index`); :data:`LIVE` are those whose ``uses`` must stay readable.
* :class:`CheckpointStatus`: a checkpoint made without Karbor
  (:mod:`.checkpoint`), as Karbor names a checkpoint's statuses.

The members are ``str`` (:class:`enum.StrEnum`): they are stored, compared
and sent as their plain string values.
"""

import enum

#: The key of a backup section's status object, and of its failure reason.
STATUS_KEY = "status"
REASON_KEY = "status_reason"


class BackupStatus(enum.StrEnum):
    """The status of one volume's backup."""

    PROTECTING = "protecting"
    AVAILABLE = "available"
    ERROR = "error"
    DELETING = "deleting"
    DELETED = "deleted"
    RESTORING = "restoring"
    #: Only in a verify's notifications: the section's status is left as is.
    VERIFYING = "verifying"


class EntryStatus(enum.StrEnum):
    """The status of a backup's entry in the volume's index."""

    PROTECTING = "protecting"
    AVAILABLE = "available"
    #: A failed protect.
    ERROR = "error"
    DELETING = "deleting"
    #: Deleted, but some of its chunks are still used by live backups.
    RETAINED = "retained"


#: Entries whose backups' ``uses`` must stay readable.
LIVE = frozenset({EntryStatus.PROTECTING, EntryStatus.AVAILABLE})


class CheckpointStatus(enum.StrEnum):
    """The status of a checkpoint, as Karbor names them."""

    PROTECTING = "protecting"
    AVAILABLE = "available"
    ERROR = "error"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR_DELETING = "error-deleting"
    #: Only reported (by ``list`` and ``show``), never written: the
    #: checkpoint's record cannot be read.
    DAMAGED = "damaged"
