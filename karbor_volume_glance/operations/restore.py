"""Restore: bring a protected volume back from the bank by way of Glance.

The spec's steps, in order (``on_main``), after the parameters, the backup's
status and its metadata are checked and every chunk is known to be present
(an incremental's chunks too, in the backups its manifest's ``sources``
names, each checked against the volume's index):

0. check the target before anything is made (:mod:`.target`): the volume
   type and availability zone (the parameters', else the recorded ones),
   and room in the project's quotas for the volume (Cinder's limits, and
   its per-type quotas); a quota that cannot hold it, or a type or zone
   *named in the parameters* that the target lacks, fails the restore with
   nothing created;
1. create a temporary image and stream the bank's chunks into it, fetched
   and decompressed ``parallelism`` ahead, each chunk checked against its
   recorded length and sha256 before it is sent (zero chunks regenerated,
   delta chunks applied to their verified base);
   check the whole image's sha256, wait until the image is active and
   compare Glance's size, md5 and ``os_hash_value`` with ours. A backup in
   Karbor's own layout (no per-chunk hashes) is checked by its md5 before
   any volume is made.
   The image carries the original volume's image properties
   (``hw_firmware_type``, ``os_distro`` ...) so that Cinder copies them into
   the new volume's ``volume_image_metadata``;
2. create a volume of the recorded size from the image, of the volume type,
   in the zone, with the metadata and description of the original;
3. wait until the volume is available, then set what Cinder set from the
   image back to the original's: ``bootable``, and the image metadata
   (Cinder's own keys ``image_id``, ``image_name`` ... and any property
   Glance did not take; all removed when the original had none);
4. delete the temporary image (on every path; on failure the half-made
   volume too). The new volume carries the run's tags (``kvg_unfinished``,
   :mod:`..format.runs`) from its create call until step 3 is done, when
   they are removed: a restore that dies leaves a volume a sweep deletes.
   When Glance cannot delete the image because the new volume is a clone
   of it (Glance on Cinder's Ceph with direct URLs), the image is tagged
   (:data:`LEFTOVER_PROPERTY`, :data:`HOLDER_PROPERTY`) for a later
   sweep and reported; the restore still succeeds;
5. with ``server_id``: attach the volume to that server, or with
   ``replace_volume`` put it in the original volume's place there (see
   :mod:`.placement`). If that fails the restore fails; the restored volume
   is kept.

What the restore could not honour (a recorded type or zone missing here, an
attribute Cinder refused, an image left behind) is a warning: logged, in
Karbor's restore record as the resource's reason (status ``available``), and
in the ``.end`` notification (``warnings``, ``leftovers``). A manifest
without ``volume_attributes`` (older backups) restores as before.

Restore names the new volume ``restore_name``; when Karbor calls it without
one the name is ``<checkpoint id>@<original volume id>``, as Karbor's own
plugins name restores. The result fills Karbor's ``new_resources`` and its
``restore`` record.
"""

import concurrent.futures
import copy
import dataclasses

from oslo_log import log as logging

from karbor_volume_glance import datapath, exceptions, schemas
from karbor_volume_glance.cloud import cleanup, facade
from karbor_volume_glance.format import runs as runs_format
from karbor_volume_glance.format.status import BackupStatus
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import (
    base,
    bookkeeping,
    incremental,
    placement,
    target,
)

LOG = logging.getLogger(__name__)

#: Set on a temporary image a restore could not delete: what made it.
LEFTOVER_PROPERTY = runs_format.LEFTOVER_TAG
#: ... and the volume that holds it (delete the image once that one is gone).
HOLDER_PROPERTY = runs_format.HOLDER_TAG


@dataclasses.dataclass
class Restored:
    """What one restore made, and what it could not honour or clean up."""

    volume_id: str
    warnings: list
    leftovers: list


def restore_parameters(parameters, checkpoint, volume_id):
    """Validated restore parameters, with the default name filled in."""
    params = dict(parameters or {})
    params.setdefault("restore_name", f"{checkpoint.id}@{volume_id}")
    return schemas.validate(schemas.RESTORE_SCHEMA, params)


class RestoreOperation(base.Operation):
    name = "restore"
    working = BackupStatus.RESTORING
    error = exceptions.RestoreFailed
    record = "restore"
    marks_record = True
    journaled = True

    def validate(self, parameters, run):
        return restore_parameters(parameters, run.checkpoint, run.volume_id)

    def started(self, run):
        LOG.info("Restoring volume %s from checkpoint %s as %r", run.volume_id,
                 getattr(run.checkpoint, "id", None), run.params["restore_name"])

    def steps(self, run):
        volume_id, section, events = run.volume_id, run.section, run.events
        events.update(**payload.from_manifest(bookkeeping.read_manifest(section)))
        backup = bookkeeping.load_available(section, volume_id, run.keys,
                                            getattr(run.checkpoint, "id", None))
        if backup.opened is not None:  # sealed: what it says, once opened
            run.events.update(**payload.from_manifest(backup.opened))
        sources = incremental.resolve_sources(self.index(section, volume_id,
                                                         run.index_key),
                                              backup)
        transfer = self.transfer(section, volume_id, run.progress(), sources,
                                 run.sealer())
        transfer.check_present(backup)
        cloud = self.cloud(run.context)
        plan = target.prepare(cloud, backup, run.params,
                              getattr(run.context, "project_id", None))
        restored = self._restore(cloud, transfer, backup, run.params, plan,
                                 run.journal)
        run.restored = restored
        new_volume_id = restored.volume_id
        placement.place_restored_volume(
            cloud, self.notifier, run.context, run.params, volume_id,
            new_volume_id, copy.deepcopy(events.payload))
        new_resources = run.kwargs.get("new_resources")
        if new_resources is not None:
            new_resources[volume_id] = new_volume_id
        return new_volume_id

    def finished(self, run, result):
        restored = run.restored
        if restored.warnings:
            # the restore succeeded: its warnings go where its status went
            bookkeeping.update_record(run.kwargs.get(self.record), run.resource,
                                      self.done, "; ".join(restored.warnings))
            LOG.warning("Restored volume %s as volume %s, with warnings: %s",
                        run.volume_id, result, "; ".join(restored.warnings))
        else:
            LOG.info("Restored volume %s as volume %s", run.volume_id, result)

    def end_fields(self, run, result):
        fields = {"new_volume_id": result}
        restored = run.restored
        if restored.warnings:
            fields["warnings"] = list(restored.warnings)
        if restored.leftovers:
            fields["leftovers"] = [leftover.to_dict()
                                   for leftover in restored.leftovers]
        return fields

    def _restore(self, cloud, transfer, backup, params, plan, journal=None):
        volume_id = backup.volume_id
        purpose = f"restore of volume {volume_id}"
        with cleanup.TemporaryResources(purpose, journal) as temps:
            image_id = temps.create(
                "image", _temporary_image_name(backup),
                lambda tags: _temporary_image(cloud, backup, plan, tags),
                cloud.delete_image,
            )
            self._upload(cloud, image_id, transfer, backup)
            new_volume_id = temps.create(
                "volume", params["restore_name"],
                lambda tags: cloud.create_volume(
                    backup.volume_size, params["restore_name"],
                    description=plan.description, image_id=image_id,
                    volume_type=plan.volume_type,
                    availability_zone=plan.availability_zone,
                    metadata={**(plan.metadata or {}), **tags} or None,
                ),
                cloud.delete_volume, role=runs_format.RESTORED,
            )
            cloud.wait_volume(new_volume_id)
            _set_attributes(cloud, new_volume_id, plan)
            if journal is not None:  # finished: no longer ours to sweep
                _untag(cloud, new_volume_id)
            temps.forget(new_volume_id)  # restored: it is the user's now
        leftovers = list(temps.failures)
        for leftover in leftovers:
            plan.warn(_left_behind(cloud, leftover, new_volume_id))
        return Restored(new_volume_id, plan.warnings, leftovers)

    def _upload(self, cloud, image_id, transfer, backup):
        """Step 1: stream verified chunks into the image and check the result."""
        recorded = _recorded_os_hash(backup)
        digest = datapath.StreamDigest(  # what Glance's answer is checked with
            md5=backup.legacy,
            algorithm=None if backup.legacy or recorded else GLANCE_DEFAULT_HASH)
        chunks = (transfer.read_legacy(backup) if backup.legacy
                  else transfer.read_verified(backup.chunks))
        reader = datapath.IterableReader(_tap(chunks, digest.update))
        try:
            cloud.upload_image(image_id, reader, backup.image_size)
        except Exception as exc:
            if reader.error is not None:  # ours, maybe wrapped by the HTTP stack
                raise reader.error from exc
            raise
        _check_sent(image_id, backup, digest)
        cloud.wait_image(image_id)
        info = cloud.image_info(image_id)
        if info.get("size") is not None and info["size"] != digest.size:
            raise exceptions.ImageIntegrityError(
                image_id, f"Glance stored {info['size']} bytes, we sent "
                f"{digest.size}",
            )
        if backup.md5 and info.get("checksum") and info["checksum"] != backup.md5:
            raise exceptions.ImageIntegrityError(
                image_id, f"Glance's md5 {info['checksum']} differs from the "
                f"backup's {backup.md5}",
            )
        _check_os_hash(image_id, info, recorded, digest)


#: Glance's ``hashing_algorithm`` unless its operator changed it.
GLANCE_DEFAULT_HASH = "sha512"


def _recorded_os_hash(backup):
    """``(algorithm, value)`` of Glance's os_hash that protect checked the
    data against and recorded; None for a backup without one."""
    algorithm = backup.image_metadata.get("os_hash_algo")
    value = backup.image_metadata.get("os_hash_value")
    if isinstance(algorithm, str) and isinstance(value, str) and value:
        return algorithm, value
    return None


def _check_os_hash(image_id, info, recorded, digest):
    """Glance's ``os_hash_value`` of the uploaded image is the data's.

    The bytes sent have the manifest's sha256, so they are the bytes protect
    hashed: the os_hash it recorded is theirs (no pass over the data for
    it). A backup without one has it computed while the data was sent.
    """
    algorithm, value = info.get("os_hash_algo"), info.get("os_hash_value")
    if not (algorithm and value):
        return
    if recorded is not None and recorded[0] == algorithm:
        expected = recorded[1]
    elif digest.algorithm == algorithm:
        expected = digest.value
    else:
        LOG.warning("Image %s: Glance hashes with %s, the backup's data was "
                    "hashed with %s: only its size and md5 are checked",
                    image_id, algorithm,
                    recorded[0] if recorded else digest.algorithm)
        return
    if value != expected:
        raise exceptions.ImageIntegrityError(
            image_id, f"Glance's {algorithm} {value} differs from the "
            f"backup's data's {expected}")


def _temporary_image_name(backup):
    return f"temporary_image_for_restore_of_{backup.volume_id}"


def _temporary_image(cloud, backup, plan, tags=None):
    """Step 1's image, with the original's image properties and the run's
    ``tags``; without the properties (and a warning) when Glance refuses
    them (its property protections)."""
    name = _temporary_image_name(backup)
    tags = tags or {}
    try:
        return cloud.create_image(
            name, backup.disk_format, backup.container_format,
            properties={**(plan.image_properties or {}), **tags} or None,
            min_disk=plan.min_disk, min_ram=plan.min_ram)
    except exceptions.CloudError as exc:
        if not (plan.image_properties and facade.forbidden(exc)):
            raise
        plan.warn(f"Glance refused the original's image properties ({exc}); "
                  "they are set on the restored volume's image metadata "
                  "instead")
        plan.image_properties = {}
    return cloud.create_image(name, backup.disk_format, backup.container_format,
                              properties=tags or None, min_disk=plan.min_disk,
                              min_ram=plan.min_ram)


def _set_attributes(cloud, volume_id, plan):
    """Step 3: what Cinder set from the temporary image, back to the original's.

    A refusal (a policy, an older Cinder) is a warning: the volume and its
    bytes are restored."""
    if plan.bootable is False:
        try:
            cloud.set_bootable(volume_id, False)
        except exceptions.CloudError as exc:
            plan.warn(f"the restored volume stays bootable: {exc}")
    if plan.image_metadata is None:
        return
    try:
        if plan.image_metadata:
            wanted = {key: value for key, value in plan.image_metadata.items()
                      if key not in target.NOT_VOLUME_IMAGE_METADATA}
            if wanted:  # Cinder's own keys, and what Glance did not carry
                cloud.set_volume_image_metadata(volume_id, wanted)
        else:  # the original had no image: none of the temporary one's keys
            current = getattr(cloud.get_volume(volume_id),
                              "volume_image_metadata", None) or {}
            if current:
                cloud.unset_volume_image_metadata(volume_id, list(current))
    except exceptions.CloudError as exc:
        plan.warn("the restored volume's image metadata names the temporary "
                  f"image: {exc}")


def _untag(cloud, volume_id):
    """Remove the run's tags from the restored volume: from its metadata,
    and from the image metadata Cinder copied from the tagged image."""
    cloud.remove_volume_metadata(volume_id, runs_format.TAGS)
    copied = getattr(cloud.get_volume(volume_id), "volume_image_metadata",
                     None) or {}
    tags = [key for key in copied if key in runs_format.TAGS]
    if tags:
        cloud.unset_volume_image_metadata(volume_id, tags)


def _left_behind(cloud, leftover, new_volume_id):
    """Tag a temporary resource the restore could not delete; say so."""
    if leftover.kind != "image":
        return (f"temporary {leftover.kind} {leftover.resource_id} could not "
                f"be deleted: {leftover.reason}")
    try:
        cloud.set_image_properties(leftover.resource_id, {
            LEFTOVER_PROPERTY: "restore", HOLDER_PROPERTY: new_volume_id})
        tagged = (f"it is tagged {LEFTOVER_PROPERTY}=restore and "
                  f"{HOLDER_PROPERTY}={new_volume_id}")
    except exceptions.CloudError as exc:
        LOG.error("Could not tag temporary image %s: %s", leftover.resource_id,
                  exc)
        tagged = "it could not be tagged"
    return (f"temporary image {leftover.resource_id} could not be deleted "
            f"({leftover.reason}); {tagged}: delete it once volume "
            f"{new_volume_id} no longer needs it (with Glance on Cinder's Ceph "
            "a volume made from an image is a clone of it)")


def _tap(chunks, observe):
    """The chunks, each also given to ``observe`` (the whole stream's
    hashes) in a thread of its own while the chunk is sent: the thread
    sending to Glance does not wait for the hashing (hashlib releases the
    GIL). Each chunk is observed before the next one is asked for, so the
    last is observed before the stream ends, and a chunk's buffer goes back
    to its pool (:class:`~karbor_volume_glance.datapath.BufferPool`) only
    once it is both sent and hashed."""
    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="kvg-digest") as hasher:
        for chunk in chunks:
            pending = hasher.submit(observe, chunk)
            yield chunk
            pending.result()
            del chunk, pending  # sent and hashed: its buffer may be reused


def _check_sent(image_id, backup, digest):
    """What we sent is the whole image the manifest describes."""
    if backup.legacy:
        if digest.md5 != backup.md5:
            raise exceptions.ImageIntegrityError(
                image_id, f"the backup's data has md5 {digest.md5}, its metadata "
                f"says {backup.md5} (a Karbor-layout backup has no per-chunk "
                "hashes to name the chunk)")
        return
    if digest.size != backup.image_size:
        raise exceptions.ImageIntegrityError(
            image_id, f"sent {digest.size} bytes, the backup holds "
            f"{backup.image_size}")
    if digest.sha256 != backup.sha256:
        raise exceptions.ImageIntegrityError(
            image_id, f"the image's sha256 {digest.sha256} differs from the "
            f"manifest's {backup.sha256}")

