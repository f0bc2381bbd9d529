"""Verify: check that a volume's backup in the bank can be restored as it was.

Checks the backup's status is ``available``, its manifest is present and
consistent, and every object it lists is in the bank with its recorded
stored size. With the VERIFY_SCHEMA option ``deep``, every chunk is also
decompressed and checked against its sha256, and the whole image against its
own. Chunks are read ``parallelism`` at a time. Updates Karbor's ``verify`` record when
given one, and fails naming what is missing or damaged. Nothing in the cloud
is touched.
"""

from oslo_log import log as logging

from karbor_volume_glance import datapath, exceptions, schemas
from karbor_volume_glance.format.status import BackupStatus
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import (
    base,
    bookkeeping,
    incremental,
)

LOG = logging.getLogger(__name__)


class VerifyOperation(base.Operation):
    name = "verify"
    working = BackupStatus.VERIFYING
    error = exceptions.VerifyFailed
    record = "verify"

    def validate(self, parameters, run):
        return schemas.validate(schemas.VERIFY_SCHEMA, parameters)

    def steps(self, run):
        volume_id, section = run.volume_id, run.section
        deep = run.params.get("deep", False)
        run.events.update(**payload.from_manifest(bookkeeping.read_manifest(section)))
        backup = bookkeeping.load_available(section, volume_id)
        sources = incremental.resolve_sources(self.index(section, volume_id),
                                              backup)
        transfer = self.transfer(section, volume_id, sources=sources)
        transfer.check_present(backup)
        checked = _deep(transfer, backup) if deep else _shallow(transfer, backup)
        return {"deep": deep, "objects": len(backup.locations() or
                                             backup.stored_objects()),
                "bytes": checked}

    def finished(self, run, result):
        LOG.info("Verified the backup of volume %s (%s): %d bytes checked",
                 run.volume_id, "deep" if result["deep"] else "stored sizes",
                 result["bytes"])


def _shallow(transfer, backup):
    """Read every stored object and check its size; the bytes read."""
    if backup.legacy:  # Karbor's layout records no sizes: read them all
        return sum(len(data) for data in transfer.read_legacy(backup))
    return transfer.check_stored_sizes(backup)


def _deep(transfer, backup):
    """Check every chunk and the whole image's hash; the plain bytes checked."""
    digest = datapath.StreamDigest(md5=backup.legacy)
    chunks = (transfer.read_legacy(backup) if backup.legacy
              else transfer.read_verified(backup.chunks))
    for chunk in chunks:
        digest.update(chunk)
    expected, actual = ((backup.md5, digest.md5) if backup.legacy
                        else (backup.sha256, digest.sha256))
    if actual != expected:
        raise exceptions.InvalidBackupMetadata(
            backup.volume_id, f"the data's hash {actual} differs from the "
            f"manifest's {expected}")
    return digest.size
