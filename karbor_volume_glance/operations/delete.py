"""Delete: remove every object of a volume's backup from the bank.

Marks the section ``deleting``, deletes every object in it but ``status``
(whatever exists: a backup that failed half-way has only some chunks), then
marks it ``deleted``. Running it again finds nothing to delete and marks it
``deleted`` again, so it is harmless. Nothing in the cloud is touched.
"""

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.operations import base, bookkeeping, sectionio

LOG = logging.getLogger(__name__)


class DeleteOperation(base.Operation):
    def on_main(self, checkpoint, resource, context, parameters, **kwargs):
        volume_id = resource.id
        section = checkpoint.get_resource_bank_section(volume_id)
        status = bookkeeping.SectionStatus(section, volume_id)
        LOG.info("Deleting the backup of volume %s from checkpoint %s", volume_id,
                 getattr(checkpoint, "id", None))
        with bookkeeping.failure_reported(exceptions.DeleteFailed, resource,
                                          status=status):
            status.set(bookkeeping.DELETING)
            deleted = 0
            for key in sectionio.list_all(section):
                if key == bookkeeping.STATUS_KEY:
                    continue
                deleted += _delete_if_present(section, key)
            status.set(bookkeeping.DELETED)
        LOG.info("Deleted %d objects of the backup of volume %s", deleted, volume_id)
        return deleted


def _delete_if_present(section, key):
    """Delete ``key``; 1 if it was deleted, 0 if it was already gone.

    Banks differ in what they raise for a missing key, so a failed delete is
    forgiven only when a listing shows the key is indeed gone.
    """
    try:
        section.delete_object(key)
        return 1
    except Exception:
        if sectionio.exists(section, key):
            raise
        return 0
