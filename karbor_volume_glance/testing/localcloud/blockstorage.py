"""Cinder's side of the local cloud: volumes, snapshots, upload to image.

Every change a client asks for answers at once and finishes in a job:

* create: ``creating`` -> ``available`` (copying a snapshot's or a source
  volume's bytes while ``creating``; from an image, ``creating`` then
  ``downloading`` while its bytes are copied);
* snapshot: ``creating`` -> ``available`` (the volume's bytes copied);
* upload to image: the volume is ``uploading`` while its whole size is copied
  into a new image (``queued`` -> ``saving`` -> ``active``), then back to
  ``available`` or ``in-use``;
* delete: ``deleting`` -> gone.

Each phase lasts at least ``status_delay`` seconds, a copy as long as it
takes. Volumes and snapshots belong to the project that made them; a
project with the ``admin`` role may reach any of them by id (as in Cinder).
"""

import math

from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import datafiles, exceptions
from karbor_volume_glance.testing.localcloud.state import (
    Snapshot,
    Volume,
    new_uuid,
)

LOG = logging.getLogger(__name__)

VOLUME_DELETABLE = ("available", "error", "error_restoring", "error_extending",
                    "error_managing")
SNAPSHOT_DELETABLE = ("available", "error")
UPLOAD_DISK_FORMATS = ("raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop")
MAX_SIZE = 1000


def _invalid_volume(message):
    return exceptions.BadRequest(f"Invalid volume: {message}")


def check_size(size, name="size"):
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_SIZE:
        raise exceptions.BadRequest(
            f"Invalid input received: {name} must be an integer between 1 and "
            f"{MAX_SIZE}, got {size!r}."
        )
    return size


class BlockStorage:
    def __init__(self, state, files, jobs, images, status_delay, gib):
        self.state = state
        self.files = files
        self.jobs = jobs
        self.images = images
        self.status_delay = status_delay
        self.gib = gib

    # --- lookups ----------------------------------------------------------

    @staticmethod
    def _reachable(ctx, record):
        return ctx.is_admin or record.project_id == ctx.project_id

    def volume(self, ctx, volume_id):
        with self.state.lock:
            volume = self.state.volumes.get(volume_id)
            if volume is None or not self._reachable(ctx, volume):
                raise exceptions.NotFound(f"Volume {volume_id} could not be found.")
            return volume

    def snapshot(self, ctx, snapshot_id):
        with self.state.lock:
            snapshot = self.state.snapshots.get(snapshot_id)
            if snapshot is None or not self._reachable(ctx, snapshot):
                raise exceptions.NotFound(
                    f"Snapshot {snapshot_id} could not be found."
                )
            return snapshot

    def _list(self, ctx, records, all_projects):
        everyone = all_projects and ctx.is_admin
        with self.state.lock:
            found = [record for record in records.values()
                     if everyone or record.project_id == ctx.project_id]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    def volumes(self, ctx, all_projects=False):
        return self._list(ctx, self.state.volumes, all_projects)

    def snapshots(self, ctx, all_projects=False):
        return self._list(ctx, self.state.snapshots, all_projects)

    def _set(self, records, record_id, status, only_if=None):
        """Set a record's status if it still exists (and is in ``only_if``)."""
        with self.state.lock:
            record = records.get(record_id)
            if record is None or (only_if and record.status not in only_if):
                return None
            self.state.set_status(record, status)
            return record

    def mark_error(self, record):
        """The ``error`` fault of a get: the volume or snapshot turns ``error``."""
        with self.state.lock:
            self.state.set_status(record, "error")

    # --- volumes ------------------------------------------------------------

    def create_volume(self, ctx, size=None, name=None, description=None,
                      metadata=None, snapshot_id=None, source_volid=None,
                      image_id=None, volume_type=None, fail=False):
        given = [s for s in (snapshot_id, source_volid, image_id) if s]
        if len(given) > 1:
            raise exceptions.BadRequest(
                "Invalid input received: only one of snapshot_id, source_volid "
                "and imageRef may be given."
            )
        with self.state.lock:
            source = self._source(ctx, snapshot_id, source_volid, image_id)
            kind, record, source_path, length = source or (None, None, None, 0)
            if size is None and kind in ("snapshot", "volume"):
                size = record.size
            elif size is None and kind == "image":
                size = max(1, math.ceil(length / self.gib))
            size = check_size(size)
            if kind in ("snapshot", "volume") and size < record.size:
                raise exceptions.BadRequest(
                    f"Invalid input received: Volume size '{size}'GB cannot be "
                    f"smaller than the {kind} size {record.size}GB. They must be "
                    f">= original {kind} size."
                )
            if kind == "image" and length > size * self.gib:
                raise exceptions.BadRequest(
                    f"Invalid input received: Size of specified image "
                    f"{math.ceil(length / self.gib)}GB is larger than volume size "
                    f"{size}GB."
                )
            volume = Volume(
                id=new_uuid(), project_id=ctx.project_id, user_id=ctx.user_id,
                size=size, name=name, description=description,
                metadata=dict(metadata or {}), snapshot_id=snapshot_id,
                source_volid=source_volid,
                volume_type=volume_type or "__DEFAULT__",
            )
            if kind == "image":
                volume.image_metadata = _image_metadata(record)
            self.files.create_sparse(self.files.volume_path(volume.id),
                                     size * self.gib)
            stream = open(source_path, "rb") if source_path else None
            self.state.volumes[volume.id] = volume
        LOG.info("Volume %s (%s GiB) creating from %s %s", volume.id, size,
                 kind or "nothing", record.id if record else "")
        self.jobs.spawn(
            f"create-volume-{volume.id}", self._build_volume, volume.id, kind,
            stream, length, fail,
            on_failure=lambda _exc: self._set(self.state.volumes, volume.id,
                                              "error"),
        )
        return volume

    def _source(self, ctx, snapshot_id, source_volid, image_id):
        """``(kind, record, path, length)`` of the new volume's source, or None."""
        if snapshot_id:
            snapshot = self.snapshot(ctx, snapshot_id)
            if snapshot.status != "available":
                raise exceptions.BadRequest(
                    "Invalid snapshot: Originating snapshot status must be one "
                    f"of 'available' values, but it is {snapshot.status}."
                )
            return ("snapshot", snapshot, self.files.snapshot_path(snapshot.id),
                    snapshot.size * self.gib)
        if source_volid:
            volume = self.volume(ctx, source_volid)
            if volume.status not in ("available", "in-use"):
                raise _invalid_volume(
                    "Unable to create a volume from an originating source volume "
                    "when its status is not one of 'available', 'in-use'."
                )
            return ("volume", volume, self.files.volume_path(volume.id),
                    volume.size * self.gib)
        if image_id:
            try:
                image = self.images.get(ctx, image_id)
            except exceptions.NotFound:
                raise exceptions.NotFound(
                    f"Image {image_id} could not be found."
                ) from None
            if image.status != "active":
                raise exceptions.BadRequest(
                    f"Invalid input received: Image {image_id} is not active."
                )
            return ("image", image, self.files.image_path(image.id), image.size)
        return None

    def _build_volume(self, volume_id, kind, stream, length, fail):
        path = self.files.volume_path(volume_id)
        try:
            with self.state.lock:
                size = self.state.volumes[volume_id].size * self.gib
            with self.jobs.at_least(self.status_delay):
                if stream is not None and kind != "image" and not fail:
                    datafiles.copy_sparse(stream, path, length, size, self.jobs.check)
            if kind == "image" and not fail:
                self._set(self.state.volumes, volume_id, "downloading")
                with self.jobs.at_least(self.status_delay):
                    datafiles.copy_sparse(stream, path, length, size, self.jobs.check)
        finally:
            if stream is not None:
                stream.close()
        final = "error" if fail else "available"
        self._set(self.state.volumes, volume_id, final,
                  only_if=("creating", "downloading"))
        LOG.info("Volume %s is %s", volume_id, final)

    def delete_volume(self, ctx, volume_id, cascade=False, force=False,
                      fail=False):
        with self.state.lock:
            volume = self.volume(ctx, volume_id)
            snapshots = [s for s in self.state.snapshots.values()
                         if s.volume_id == volume_id]
            if not force:
                if volume.status not in VOLUME_DELETABLE or volume.attachment:
                    raise _invalid_volume(
                        "Volume status must be available or error or "
                        "error_restoring or error_extending or error_managing and "
                        "must not be migrating, attached, belong to a group, have "
                        f"snapshots or be disassociated from snapshots after volume "
                        f"transfer. (volume {volume_id} is {volume.status}"
                        f"{', attached' if volume.attachment else ''})"
                    )
                if snapshots and not cascade:
                    raise _invalid_volume(
                        f"Volume {volume_id} still has {len(snapshots)} dependent "
                        "snapshots."
                    )
                busy = [s.id for s in snapshots if s.status not in SNAPSHOT_DELETABLE]
                if busy:
                    raise _invalid_volume(
                        f"Snapshots {', '.join(busy)} must be available or error "
                        "to delete the volume with them."
                    )
            self.state.set_status(volume, "deleting")
            for snapshot in snapshots:
                self.state.set_status(snapshot, "deleting")
        snapshot_ids = [snapshot.id for snapshot in snapshots]
        self.jobs.spawn(f"delete-volume-{volume_id}", self._remove_volume,
                        volume_id, snapshot_ids, fail)

    def _remove_volume(self, volume_id, snapshot_ids, fail):
        self.jobs.sleep(self.status_delay)
        with self.state.lock:
            if fail:
                self._set(self.state.volumes, volume_id, "error_deleting")
                for snapshot_id in snapshot_ids:
                    self._set(self.state.snapshots, snapshot_id, "available")
                return
            for snapshot_id in snapshot_ids:
                self.state.snapshots.pop(snapshot_id, None)
                self.files.remove(self.files.snapshot_path(snapshot_id))
            volume = self.state.volumes.pop(volume_id, None)
            if volume and volume.attachment:
                volume.attachment = None
        self.files.remove(self.files.volume_path(volume_id))
        LOG.info("Volume %s deleted", volume_id)

    def reset_status(self, ctx, record, status):
        if not isinstance(status, str) or not status:
            raise exceptions.BadRequest("Must specify 'status'")
        if not ctx.is_admin:
            raise exceptions.Forbidden("Policy doesn't allow "
                                       "volume_extension:volume_admin_actions:"
                                       "reset_status to be performed.")
        with self.state.lock:
            self.state.set_status(record, status)

    # --- snapshots ----------------------------------------------------------

    def create_snapshot(self, ctx, volume_id, force=False, name=None,
                        description=None, metadata=None, in_use_allowed=False,
                        fail=False):
        with self.state.lock:
            volume = self.volume(ctx, volume_id)
            allowed = ("available", "in-use") if (force or in_use_allowed) else (
                "available",)
            if volume.status not in allowed:
                raise _invalid_volume(
                    f"Volume {volume_id} status must be available, but current "
                    f"status is: {volume.status}."
                )
            snapshot = Snapshot(
                id=new_uuid(), project_id=ctx.project_id, user_id=ctx.user_id,
                volume_id=volume_id, size=volume.size, name=name,
                description=description, metadata=dict(metadata or {}),
            )
            path = self.files.snapshot_path(snapshot.id)
            self.files.create_sparse(path, volume.size * self.gib)
            stream = open(self.files.volume_path(volume_id), "rb")
            self.state.snapshots[snapshot.id] = snapshot
        LOG.info("Snapshot %s of volume %s creating", snapshot.id, volume_id)
        self.jobs.spawn(
            f"create-snapshot-{snapshot.id}", self._build_snapshot, snapshot,
            stream, fail,
            on_failure=lambda _exc: self._set(self.state.snapshots, snapshot.id,
                                              "error"),
        )
        return snapshot

    def _build_snapshot(self, snapshot, stream, fail):
        length = snapshot.size * self.gib
        try:
            with self.jobs.at_least(self.status_delay):
                if not fail:
                    datafiles.copy_sparse(stream, self.files.snapshot_path(snapshot.id),
                                          length, length, self.jobs.check)
        finally:
            stream.close()
        final = "error" if fail else "available"
        self._set(self.state.snapshots, snapshot.id, final, only_if=("creating",))
        LOG.info("Snapshot %s is %s", snapshot.id, final)

    def delete_snapshot(self, ctx, snapshot_id, force=False, fail=False):
        with self.state.lock:
            snapshot = self.snapshot(ctx, snapshot_id)
            if not force and snapshot.status not in SNAPSHOT_DELETABLE:
                raise exceptions.BadRequest(
                    "Invalid snapshot: Volume Snapshot status must be available or "
                    f"error and must not be part of a group (it is "
                    f"{snapshot.status})."
                )
            self.state.set_status(snapshot, "deleting")
        self.jobs.spawn(f"delete-snapshot-{snapshot_id}", self._remove_snapshot,
                        snapshot_id, fail)

    def _remove_snapshot(self, snapshot_id, fail):
        self.jobs.sleep(self.status_delay)
        with self.state.lock:
            if fail:
                self._set(self.state.snapshots, snapshot_id, "error_deleting")
                return
            self.state.snapshots.pop(snapshot_id, None)
        self.files.remove(self.files.snapshot_path(snapshot_id))
        LOG.info("Snapshot %s deleted", snapshot_id)

    # --- upload to image ------------------------------------------------------

    def upload_to_image(self, ctx, volume_id, image_name, force=False,
                        disk_format="raw", container_format="bare",
                        visibility="shared", protected=False, fail=False):
        if disk_format not in UPLOAD_DISK_FORMATS:
            raise exceptions.BadRequest(
                f"Invalid input received: Invalid disk-format '{disk_format}' is "
                f"specified. Allowed disk-formats are {', '.join(UPLOAD_DISK_FORMATS)}."
            )
        if container_format != "bare":
            raise exceptions.BadRequest(
                f"Invalid input received: Invalid container-format "
                f"'{container_format}' is specified. Allowed container-formats "
                "are bare."
            )
        if visibility == "public" and not ctx.is_admin:
            raise exceptions.Forbidden(
                "Policy doesn't allow volume_extension:volume_actions:"
                "upload_public to be performed."
            )
        with self.state.lock:
            volume = self.volume(ctx, volume_id)
            allowed = ("available", "in-use") if force else ("available",)
            if volume.status not in allowed:
                raise _invalid_volume(
                    f"Volume {volume_id} status must be available or in-use (with "
                    f"force), but current status is: {volume.status}."
                )
            image = self.images.create_for_volume(
                ctx, image_name, disk_format, container_format, visibility,
                protected,
            )
            previous = volume.status
            self.state.set_status(volume, "uploading")
            stream = open(self.files.volume_path(volume_id), "rb")
            length = volume.size * self.gib
        LOG.info("Volume %s uploading to image %s", volume_id, image.id)
        self.jobs.spawn(
            f"upload-volume-{volume_id}", self._copy_to_image, volume_id,
            previous, image, stream, length, fail,
            on_failure=lambda _exc: self._upload_failed(volume_id, previous, image),
        )
        return volume, image

    def _copy_to_image(self, volume_id, previous, image, stream, length, fail):
        hashers = datafiles.new_hashers()
        try:
            self.images.start_saving(image.id)
            with self.jobs.at_least(self.status_delay):
                if not fail:
                    datafiles.copy_sparse(stream, self.files.image_path(image.id),
                                          length, length, self.jobs.check, hashers)
        finally:
            stream.close()
        result = None if fail else (length, *(h.hexdigest() for h in hashers))
        self._set(self.state.volumes, volume_id, previous, only_if=("uploading",))
        try:
            self.images.finish_saving(image, result)
        except exceptions.Gone:
            LOG.warning("Image %s was deleted while volume %s uploaded to it",
                        image.id, volume_id)

    def _upload_failed(self, volume_id, previous, image):
        self._set(self.state.volumes, volume_id, previous, only_if=("uploading",))
        try:
            self.images.finish_saving(image, None)
        except exceptions.Gone:
            pass


def _image_metadata(image):
    """The ``volume_image_metadata`` Cinder keeps of a volume's source image."""
    metadata = {"image_id": image.id, "image_name": image.name or "",
                "checksum": image.checksum or "", "size": str(image.size),
                "disk_format": image.disk_format or "",
                "container_format": image.container_format or "",
                "min_disk": str(image.min_disk), "min_ram": str(image.min_ram)}
    metadata.update({k: v for k, v in image.properties.items()
                     if isinstance(v, str)})
    return metadata
