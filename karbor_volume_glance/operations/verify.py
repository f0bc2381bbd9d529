"""Verify: check that a volume's backup in the bank can be restored as it was.

Checks the backup's status is ``available``, its metadata is present and
consistent, and every chunk it lists is in the bank with its recorded length
and sha256 (each chunk is read once). Updates Karbor's ``verify`` record when
given one, and fails naming what is missing or damaged. Nothing in the cloud
is touched.
"""

from oslo_log import log as logging

from karbor_volume_glance import exceptions, schemas
from karbor_volume_glance.operations import base, bookkeeping, metadata, transfer

LOG = logging.getLogger(__name__)


class VerifyOperation(base.Operation):
    def on_main(self, checkpoint, resource, context, parameters, **kwargs):
        schemas.validate(schemas.VERIFY_SCHEMA, parameters)
        volume_id = resource.id
        record = kwargs.get("verify")
        with bookkeeping.failure_reported(exceptions.VerifyFailed, resource,
                                          record=record):
            section = checkpoint.get_resource_bank_section(volume_id)
            backup = metadata.load_available(section, volume_id)
            transfer.check_present(section, backup.chunks)
            checked = sum(
                len(chunk) for chunk in transfer.read_verified(section, backup.chunks)
            )
        bookkeeping.update_record(record, resource, bookkeeping.AVAILABLE)
        LOG.info("Verified the backup of volume %s: %d chunks, %d bytes",
                 volume_id, len(backup.chunks), checked)
        return {"chunks": len(backup.chunks), "bytes": checked}
