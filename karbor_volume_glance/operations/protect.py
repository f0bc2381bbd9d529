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

With ``backup_from_snapshot = auto`` (the default) the volume's status
chooses: an ``available`` volume skips steps 2 and 3 and is uploaded itself
(Cinder holds it in ``uploading`` meanwhile, so it cannot change), an
``in-use`` one takes them; a volume that left ``available`` before Cinder
took the upload is refused and backed up from a temporary snapshot after
all. With ``backup_from_snapshot = true`` steps 2 and 3 are always taken;
with ``false`` they are skipped and the
volume itself is uploaded (``force`` when in-use). Cinder honours that
``force`` only where its ``enable_force_upload`` is set (off by default);
refused, protect takes steps 2 and 3 after all and says so in the log and in
the manifest (``backup_path`` and ``backup_path_reason`` record the path
every backup took, and why). With the option
``snapshot_id`` the user's own snapshot (of this volume, ``available``) is
used in step 3 and step 2 is skipped; it is never changed or deleted.

The backup's point in time, ``data_timestamp``, is the snapshot's
``created_at`` (the user's or the temporary one), or the upload's start
without a snapshot. Every backup is registered in the volume's index (see
:mod:`.volume_index`) before any data is written. With ``incremental``, the
chunks equal to the parent's are referenced and the changed ones stored as
deltas or in full (:mod:`.incremental`, :mod:`.transfer`). The manifest
records the volume's attributes (``volume_attributes``: type, zone,
bootable, image metadata, metadata, description, multiattach, encrypted) as
Cinder shows them when protect starts, for restore to make it again.
"""

import datetime
import types

from oslo_log import log as logging

from karbor_volume_glance import conf, datapath, exceptions, schemas
from karbor_volume_glance.bank import compat
from karbor_volume_glance.cloud import cleanup, facade
from karbor_volume_glance.format import index as index_format
from karbor_volume_glance.format import manifest
from karbor_volume_glance.format.status import (
    REASON_KEY,
    STATUS_KEY,
    BackupStatus,
    EntryStatus,
)
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import base, incremental

LOG = logging.getLogger(__name__)

#: The paths to the temporary image (the manifest's ``backup_path``): the
#: user's volume uploaded itself, a temporary snapshot, the user's snapshot.
VOLUME, TEMPORARY_SNAPSHOT, USER_SNAPSHOT = (
    "volume", "temporary_snapshot", "user_snapshot")
PATHS = (VOLUME, TEMPORARY_SNAPSHOT, USER_SNAPSHOT)
#: ``backup_from_snapshot = auto``: the volume's status chooses the path.
AUTO = conf.AutoOrBoolean.AUTO
#: With ``auto``, how many refused uploads of an available volume (another
#: run uploading it, an attach in between) before a snapshot is taken.
AUTO_UPLOAD_TRIES = 3


class ProtectOperation(base.Operation):
    name = "protect"
    working = BackupStatus.PROTECTING
    error = exceptions.ProtectFailed
    tracks_section = True
    journaled = True
    creates_key = True

    def validate(self, parameters, run):
        return schemas.validate(schemas.OPTIONS_SCHEMA, parameters)

    def check(self, volume_id, parameters, context=None):
        """Protect's input checked before anything is made, in the bank or
        the cloud: the options (InvalidParameters naming the field) and, with
        a request ``context``, the volume (it exists for this project and is
        not in a failure status) and a ``snapshot_id`` (the volume's own,
        available). Raises ProtectFailed naming the volume, its cause the
        reason; returns the options."""
        try:
            options = self.validate(parameters, None)
            if context is not None:
                cloud = self.cloud(context)
                cloud.check_volume_usable(volume_id)
                _user_snapshot(cloud, volume_id, options.get("snapshot_id"))
            return options
        except exceptions.VolumeGlanceError as exc:
            raise self.error(volume_id, exc) from exc

    def start_fields(self, run):
        params = run.params
        return dict(backup_name=params["backup_name"],
                    description=params.get("description"),
                    snapshot_id=params.get("snapshot_id"),
                    service_metadata={"compression": params.get(
                        "compression") or self._settings.compression})

    def started(self, run):
        LOG.info("Protecting volume %s into checkpoint %s", run.volume_id,
                 getattr(run.checkpoint, "id", None))

    def steps(self, run):
        return self._protect(self.cloud(run.context), run.checkpoint.id,
                             run.section, run.volume_id, run.params,
                             run.progress(), run.events, run.journal, run.keys,
                             run.index_key)

    def finished(self, run, result):
        LOG.info("Protected volume %s: %d bytes in %d chunks%s", run.volume_id,
                 result["image_size"], result["chunks_num"],
                 f", incremental on checkpoint {result['parent_checkpoint_id']}"
                 if result["parent_checkpoint_id"] else "")

    def end_fields(self, run, result):
        return payload.from_manifest(result)

    def _protect(self, cloud, checkpoint_id, section, volume_id, params,
                 progress=None, events=None, journal=None, keys=None,
                 index_key=None):
        cloud.wait_volume(volume_id, facade.VOLUME_USABLE)
        volume = cloud.get_volume(volume_id)
        attributes = cloud.volume_attributes(volume)
        if events is not None:
            events.update(availability_zone=getattr(volume, "availability_zone",
                                                    None), size=volume.size)
        snapshot = _user_snapshot(cloud, volume_id, params.get("snapshot_id"))
        if snapshot is not None and snapshot.size:  # the volume may have grown
            volume = types.SimpleNamespace(id=volume_id, size=snapshot.size,
                                           status=volume.status)
        chunk_size = self._settings.backup_image_object_size
        index = self.index(section, volume_id, index_key)
        started_at = _now()
        lineage = incremental.plan(
            index, params, volume, chunk_size,
            snapshot.created_at if snapshot else _now(), checkpoint_id, keys)
        entry = index_format.Entry(
            checkpoint_id, volume_id, compat.prefix_of(section),
            EntryStatus.PROTECTING, chunk_size=chunk_size,
            parent_checkpoint_id=lineage.parent_id, uses=lineage.uses)
        index.put(entry)  # before relying on the parent's chunks
        try:
            return self._protect_registered(cloud, section, volume, snapshot,
                                            params, progress, index, entry,
                                            lineage.confirm(index), started_at,
                                            attributes, journal, keys)
        except exceptions.BackupDeleted:
            _remove_written(section, checkpoint_id)
            raise
        except BaseException:
            _mark_entry_failed(index, entry)
            raise

    def _protect_registered(self, cloud, section, volume, snapshot, params,
                            progress, index, entry, lineage, started_at,
                            attributes, journal=None, keys=None):
        volume_id = volume.id
        chunk_size = entry.chunk_size
        algorithm = params.get("compression") or self._settings.compression
        with cleanup.TemporaryResources(f"protect of volume {volume_id}",
                                        journal) as temps:
            image_id, moment, path = self._make_image(cloud, temps, volume,
                                                      snapshot)
            lineage = lineage.check_older(moment)
            image_info = cloud.image_info(image_id)
            transfer = self.transfer(
                section, volume_id, progress, lineage.sections,
                None if keys is None else keys.chunks(entry.checkpoint_id))
            # a parallel download reads the image in blocks of a chunk, which
            # become the chunks uncopied
            records, digest = transfer.save_stream(
                cloud.image_data(image_id, block_size=chunk_size), chunk_size,
                algorithm, total=image_info.get("size"),
                previous=lineage.records,
                whole_hash=datapath.glance_hash_algorithm(image_info),
                whole_chunks=True,
            )
            _check_download(image_id, image_info, digest)
        extra = {
            "created_at": started_at.isoformat(timespec="seconds"),
            "backup_from_snapshot": self._settings.backup_from_snapshot,
            "backup_path": path[0],
            "backup_path_reason": path[1],
            "snapshot_id": snapshot.id if snapshot else None,
            "data_timestamp": moment.isoformat(),
            "incremental": lineage.parent_id is not None,
            "parent_checkpoint_id": lineage.parent_id,
            "full_reason": lineage.full_reason,
            "volume_attributes": dict(attributes, size=volume.size),
        }
        if temps.failures:
            extra["leftovers"] = [leftover.to_dict() for leftover in temps.failures]
        result = manifest.build(volume, params, chunk_size, algorithm, records,
                                digest, image_info, extra,
                                sources=lineage.sources_of(records),
                                encrypted=keys is not None)
        current = index.get(entry.checkpoint_id)
        if current is None or current.status != EntryStatus.PROTECTING:
            raise exceptions.BackupDeleted(
                volume_id, f"the index entry of checkpoint {entry.checkpoint_id} "
                f"is {current.status if current else 'gone'}: the backup was "
                "deleted while it was being made")
        section.update_object(manifest.METADATA_KEY, manifest.seal(
            result, keys, entry.checkpoint_id))
        entry.status = EntryStatus.AVAILABLE
        entry.data_timestamp = result["data_timestamp"]
        entry.parent_checkpoint_id = lineage.parent_id
        entry.uses = manifest.references(records)
        index.put(entry)
        return result

    def _make_image(self, cloud, temps, volume, snapshot):
        """Steps 2-4: the temporary image holding the volume's data, the
        point in time it holds, and the path taken (:data:`PATHS`) and why."""
        volume_id = volume.id
        in_use = volume.status == "in-use"
        mode = self._settings.backup_from_snapshot
        path, refusals = None, 0
        if snapshot is not None:
            path = (USER_SNAPSHOT, "snapshot_id was given")
        elif mode is True:
            path = (TEMPORARY_SNAPSHOT, "backup_from_snapshot is true")
        while path is None:
            if mode == AUTO and in_use:
                path = (TEMPORARY_SNAPSHOT, "backup_from_snapshot is auto and "
                        "the volume is in-use")
                break
            moment = _now()
            try:
                image_id = self._upload(cloud, temps, volume_id, volume_id,
                                        force=in_use)
            except facade.ForcedUploadRefused as exc:
                reason = (f"backup_from_snapshot is false, but Cinder refused "
                          f"the forced upload of the in-use volume ({exc.reason})"
                          ": its enable_force_upload is off")
                LOG.warning("Volume %s: %s; backing up from a temporary "
                            "snapshot instead", volume_id, reason)
                path = (TEMPORARY_SNAPSHOT, reason)
            except facade.UploadRefused as exc:
                if mode != AUTO:
                    raise
                # it left 'available' since it was looked at: attached, or
                # another run's upload; wait for that, then choose again
                refusals += 1
                LOG.info("Volume %s: Cinder refused to upload it (%s); "
                         "choosing the path again once it is usable",
                         volume_id, exc.reason)
                cloud.wait_volume(volume_id, facade.VOLUME_USABLE)
                in_use = cloud.get_volume(volume_id).status == "in-use"
                if refusals >= AUTO_UPLOAD_TRIES and not in_use:
                    path = (TEMPORARY_SNAPSHOT, (
                        f"backup_from_snapshot is auto, but Cinder refused to "
                        f"upload the volume {refusals} times (last: "
                        f"{exc.reason})"))
            else:
                # the user's volume: let it leave 'uploading'
                cloud.wait_volume(volume_id, facade.VOLUME_USABLE)
                return image_id, moment, (VOLUME, (
                    "backup_from_snapshot is false" if mode is False else
                    "backup_from_snapshot is auto and the volume is available "
                    "(Cinder holds it in uploading)"))
        if snapshot is None:
            name = f"temporary_snapshot_of_{volume_id}"
            snapshot_id = temps.create(
                "snapshot", name,
                lambda tags: cloud.create_snapshot(volume_id, name, force=in_use,
                                                   metadata=tags),
                cloud.delete_snapshot,
            )
            cloud.wait_snapshot(snapshot_id)
            moment = cloud.get_snapshot(snapshot_id).created_at or _now()
        else:
            snapshot_id, moment = snapshot.id, snapshot.created_at
        name = f"temporary_volume_of_{volume_id}"
        source_id = temps.create(
            "volume", name,
            lambda tags: cloud.create_volume(volume.size, name,
                                             snapshot_id=snapshot_id,
                                             metadata=tags or None),
            cloud.delete_volume,
        )
        cloud.wait_volume(source_id)
        return self._upload(cloud, temps, volume_id, source_id), moment, path

    @staticmethod
    def _upload(cloud, temps, volume_id, source_id, force=False):
        """Step 4: upload ``source_id`` to the temporary image, wait for it.

        Cinder makes the image: its tags are set as soon as its id is known
        (a failure to tag it fails the protect, which deletes it)."""
        name = f"temporary_image_of_{volume_id}"
        tagging = []

        def upload(tags):
            tagging.append(tags)
            return cloud.upload_volume_to_image(source_id, name, force=force)

        image_id = temps.create("image", name, upload, cloud.delete_image)
        if tagging[0]:
            cloud.set_image_properties(image_id, tagging[0])
        cloud.wait_upload(image_id, source_id)
        return image_id


def _mark_entry_failed(index, entry):
    """A failed protect's entry: ``error``, with no ``uses`` — unless a
    delete has taken it over meanwhile (it is the delete's then)."""
    try:
        current = index.get(entry.checkpoint_id)
        if current is not None and current.status != EntryStatus.PROTECTING:
            return
        if current is None and entry.status != EntryStatus.PROTECTING:
            return
        entry.status, entry.uses = EntryStatus.ERROR, {}
        index.put(entry)
    except Exception:
        LOG.exception("Could not mark the index entry of checkpoint %s failed",
                      entry.checkpoint_id)


def _remove_written(section, checkpoint_id):
    """A protect that found its backup deleted removes what it wrote since
    (chunks, manifest); the ``status`` stays the delete's."""
    try:
        removed = sum(compat.delete_if_present(section, key)
                      for key in compat.list_all(section)
                      if key not in (STATUS_KEY, REASON_KEY))
    except Exception:
        LOG.exception("Could not remove what the protect of checkpoint %s "
                      "wrote after its delete", checkpoint_id)
        return
    LOG.info("Checkpoint %s was deleted while it was being protected: removed "
             "the %d objects written since", checkpoint_id, removed)


def _user_snapshot(cloud, volume_id, snapshot_id):
    """The user's snapshot to protect, checked; None when none is named."""
    if snapshot_id is None:
        return None
    snapshot = cloud.get_snapshot(snapshot_id)
    if snapshot.volume_id != volume_id:
        raise exceptions.InvalidParameters(
            "snapshot_id", f"snapshot {snapshot_id} is of volume "
            f"{snapshot.volume_id}, not of the protected volume {volume_id}")
    if snapshot.status != "available":
        raise exceptions.InvalidParameters(
            "snapshot_id", f"snapshot {snapshot_id} is {snapshot.status}, not "
            "available")
    if snapshot.created_at is None:
        raise exceptions.InvalidParameters(
            "snapshot_id", f"snapshot {snapshot_id} has no created_at")
    return snapshot


def _check_download(image_id, image_info, digest):
    """The bytes we stored are the bytes Glance says the image holds: its
    size, and its ``os_hash_value`` (``os_hash_algo``) or, from a Glance
    without one, its md5 ``checksum``."""
    size = image_info.get("size")
    if size is not None and size != digest.size:
        raise exceptions.ImageIntegrityError(
            image_id, f"downloaded {digest.size} bytes, Glance says {size}"
        )
    expected = (image_info.get("checksum") if digest.algorithm == "md5"
                else image_info.get("os_hash_value"))
    if expected and expected != digest.value:
        raise exceptions.ImageIntegrityError(
            image_id, f"downloaded data has {digest.algorithm} {digest.value}, "
            f"Glance says {expected}",
        )


def _now():
    return datetime.datetime.now(datetime.UTC)
