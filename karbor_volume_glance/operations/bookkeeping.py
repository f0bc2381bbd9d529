"""Status bookkeeping: the resource section's ``status`` and Karbor's records.

The bank section of a protected volume holds ``status`` (a plain string, as
Karbor's plugins write it) and, after a failure, ``status_reason``
(:mod:`karbor_volume_glance.format.status`). Karbor's restore and verify
records get per-resource statuses; a record that fails to save is logged and
never fails the operation. :func:`read_manifest` and :func:`load_available`
read the section's manifest.
"""

import contextlib

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import manifest
from karbor_volume_glance.format.status import REASON_KEY, STATUS_KEY, BackupStatus

LOG = logging.getLogger(__name__)


def describe(exc):
    """A one-line reason for an error: its class and its message."""
    return f"{type(exc).__name__}: {exc}"


class SectionStatus:
    """Reads and writes the ``status`` of one volume's bank section."""

    def __init__(self, section, resource_id):
        self._section = section
        self._resource_id = resource_id

    def get(self):
        """The recorded status, or None when the section has none."""
        return compat.read_optional(self._section, STATUS_KEY)

    def set(self, status, reason=None):
        """Record ``status``; ``deleted`` is final: over it, ``deleting`` is
        not written and any other status raises BackupDeleted."""
        if status != BackupStatus.DELETED and self.get() == BackupStatus.DELETED:
            if status == BackupStatus.DELETING:
                return
            raise exceptions.BackupDeleted(
                self._resource_id, f"the backup is deleted; it stays so "
                f"(not {status})")
        if reason is not None:
            self._section.update_object(REASON_KEY, reason)
        self._section.update_object(STATUS_KEY, status)
        LOG.info("Backup of volume %s is now %s", self._resource_id, status)

    def fail(self, exc):
        """Record ``error`` with the reason; a bank that fails too is only logged."""
        try:
            self.set(BackupStatus.ERROR, describe(exc))
        except exceptions.BackupDeleted:
            LOG.info("Backup of volume %s failed (%s) after it was deleted: "
                     "it stays deleted", self._resource_id, describe(exc))
        except Exception as bank_exc:
            LOG.error(
                "Could not record status error for volume %s: %s "
                "(the operation failed with %s)",
                self._resource_id, describe(bank_exc), describe(exc),
            )


def update_record(record, resource, status, reason=None):
    """Set ``resource``'s status in Karbor's restore/verify record, if given."""
    if record is None:
        return
    try:
        record.update_resource_status(resource.type, resource.id, status, reason)
        record.save()
    except Exception as exc:
        LOG.error(
            "Could not update the record of %s %s to %s: %s",
            resource.type, resource.id, status, describe(exc),
        )


@contextlib.contextmanager
def failure_reported(error_class, resource, status=None, record=None):
    """Report an error of the block everywhere it belongs, then raise it wrapped.

    The section's status (``status``, a SectionStatus) and Karbor's record
    (``record``) get ``error`` with the reason, the failure is logged, and
    ``error_class(resource id, cause)`` is raised from the original error.
    """
    try:
        yield
    except Exception as exc:
        if status is not None:
            status.fail(exc)
        update_record(record, resource, BackupStatus.ERROR, describe(exc))
        LOG.error("%s of volume %s failed: %s", error_class.operation.capitalize(),
                  resource.id, describe(exc))
        raise error_class(resource.id, exc) from exc


def read_manifest(section):
    """The section's manifest as stored (None when there is none): unchecked."""
    return compat.read_optional(section, manifest.METADATA_KEY)


def load_available(section, volume_id, keys=None, checkpoint_id=None):
    """The checked manifest of an ``available`` backup, or an error saying
    why; an encrypted one opened with ``keys``, bound to ``checkpoint_id``."""
    status = SectionStatus(section, volume_id).get()
    if status != BackupStatus.AVAILABLE:
        raise exceptions.BackupNotAvailable(volume_id, status)
    return manifest.parse(read_manifest(section), volume_id, keys, checkpoint_id)
