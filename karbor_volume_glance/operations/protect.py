"""Protect: copy a Cinder volume into the bank by way of a Glance image.

The spec's steps, in order (``on_main``):

1. wait until the volume is usable (``available`` or ``in-use``);
2. take a temporary snapshot of it (``force`` when in-use) and wait for it;
3. create a temporary volume from the snapshot and wait for it;
4. upload the temporary volume to a temporary Glance image (raw, bare,
   private) and wait until the image is active;
5. stream the image into the bank in chunks of ``backup_image_object_size``,
   ``parallelism`` at a time: all-zero chunks are only recorded, the others
   hashed (sha256), compressed when that shrinks them, and written;
6. delete every temporary resource, newest first, on success and on failure;
7. save the backup's metadata, and only then mark the backup ``available``.

With ``backup_from_snapshot = false`` steps 2 and 3 are skipped and the
volume itself is uploaded (``force`` when in-use).
"""

import datetime

from oslo_log import log as logging

from karbor_volume_glance import exceptions, schemas
from karbor_volume_glance.cloud import cleanup, facade
from karbor_volume_glance.operations import base, bookkeeping, metadata

LOG = logging.getLogger(__name__)


class ProtectOperation(base.Operation):
    def on_main(self, checkpoint, resource, context, parameters, **kwargs):
        params = schemas.validate(schemas.OPTIONS_SCHEMA, parameters)
        volume_id = resource.id
        section = checkpoint.get_resource_bank_section(volume_id)
        status = bookkeeping.SectionStatus(section, volume_id)
        LOG.info("Protecting volume %s into checkpoint %s", volume_id,
                 getattr(checkpoint, "id", None))
        with bookkeeping.failure_reported(exceptions.ProtectFailed, resource,
                                          status=status):
            status.set(bookkeeping.PROTECTING)
            result = self._protect(self.cloud(context), section, volume_id, params,
                                   kwargs.get("progress"))
            status.set(bookkeeping.AVAILABLE)
        LOG.info("Protected volume %s: %d bytes in %d chunks", volume_id,
                 result["image_size"], result["chunks_num"])
        return result

    def _protect(self, cloud, section, volume_id, params, progress=None):
        cloud.wait_volume(volume_id, facade.VOLUME_USABLE)
        volume = cloud.get_volume(volume_id)
        in_use = volume.status == "in-use"
        started_at = _now()
        chunk_size = self._settings.backup_image_object_size
        algorithm = params.get("compression") or self._settings.compression
        transfer = self.transfer(section, volume_id, progress)
        with cleanup.TemporaryResources(f"protect of volume {volume_id}") as temps:
            image_id = self._make_image(cloud, temps, volume_id, volume, in_use)
            image_info = cloud.image_info(image_id)
            records, digest = transfer.save_stream(
                cloud.image_data(image_id), chunk_size, algorithm,
                total=image_info.get("size"),
            )
            _check_download(image_id, image_info, digest)
        extra = {
            "created_at": started_at,
            "backup_from_snapshot": self._settings.backup_from_snapshot,
        }
        if temps.failures:
            extra["leftovers"] = [leftover.to_dict() for leftover in temps.failures]
        result = metadata.build(volume, params, chunk_size, algorithm, records,
                                digest, image_info, extra)
        self.bank_call(section.update_object, metadata.METADATA_KEY, result,
                       what=f"writing the manifest of volume {volume_id}")
        return result

    def _make_image(self, cloud, temps, volume_id, volume, in_use):
        """Steps 2-4: the temporary image holding the volume's data."""
        source_id, force = volume_id, in_use
        if self._settings.backup_from_snapshot:
            snapshot_id = temps.add(
                "snapshot",
                cloud.create_snapshot(
                    volume_id, f"temporary_snapshot_of_{volume_id}", force=in_use,
                ),
                cloud.delete_snapshot,
            )
            cloud.wait_snapshot(snapshot_id)
            source_id = temps.add(
                "volume",
                cloud.create_volume(
                    volume.size, f"temporary_volume_of_{volume_id}",
                    snapshot_id=snapshot_id,
                ),
                cloud.delete_volume,
            )
            cloud.wait_volume(source_id)
            force = False
        image_id = temps.add(
            "image",
            cloud.upload_volume_to_image(
                source_id, f"temporary_image_of_{volume_id}", force=force
            ),
            cloud.delete_image,
        )
        cloud.wait_image(image_id)
        if source_id == volume_id:  # the user's volume: let it leave 'uploading'
            cloud.wait_volume(volume_id, facade.VOLUME_USABLE)
        return image_id


def _check_download(image_id, image_info, digest):
    """The bytes we stored are the bytes Glance says the image holds."""
    size = image_info.get("size")
    if size is not None and size != digest.size:
        raise exceptions.ImageIntegrityError(
            image_id, f"downloaded {digest.size} bytes, Glance says {size}"
        )
    checksum = image_info.get("checksum")
    if checksum and checksum != digest.md5:
        raise exceptions.ImageIntegrityError(
            image_id,
            f"downloaded data has md5 {digest.md5}, Glance says {checksum}",
        )


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
