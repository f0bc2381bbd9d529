"""Cinder's side of the local cloud: volumes, snapshots, upload to image.

Every change a client asks for answers at once and moves on through stages
(:mod:`.pacing`: in time on the HTTP server, per poll in ``FakeCloud``):

* create: ``creating`` -> ``available`` (copying a snapshot's or a source
  volume's bytes while ``creating``; from an image, ``creating`` then
  ``downloading`` while its bytes are copied);
* snapshot: ``creating`` -> ``available`` (the volume's bytes copied);
* upload to image: the volume is ``uploading`` while its whole size is copied
  into a new image (``queued`` -> ``saving`` -> ``active``), then back to
  ``available`` or ``in-use``. As in Cinder, where the volume manager's
  ``copy_volume_to_image`` runs it, the upload goes on whether or not its
  client is still there; an image deleted meanwhile fails it at once: its
  data is removed and the volume returns to its status (the manager's
  ``finally`` sets it from the attachments);
* delete: ``deleting`` -> gone.

Volumes and snapshots belong to the project that made them; a project with
the ``admin`` role may reach any of them by id (as in Cinder). As Cinder: a
volume made from an image is ``bootable`` (one made from a volume or a
snapshot inherits its source's), an image's ``min_disk`` bounds the size,
a size is at least 1 and has no maximum but the quotas (past the default
1000 ``gigabytes``: 413), an in-use volume needs ``force`` (below
microversion 3.66) to be snapshotted, an upload takes any of Glance's
container formats (Cinder passes it on; Glance refuses others) and is
``private`` unless asked otherwise (microversion 3.1 and later). These rules
are checked against real Cinder and Glance by the real tier's run of the
conformance suite. An in-use volume is uploaded only with
``force`` and only where the operator set Cinder's ``enable_force_upload``
(:attr:`BlockStorage.enable_force_upload`, off by default as in Cinder):
otherwise ``force`` is ignored and the upload refused with 400 "status must
be available".

A volume made from an image gets ``volume_image_metadata``: the image's id,
name, checksum, size, formats, ``min_disk``/``min_ram`` and every property but
those in Glance's reserved ``os_glance`` namespace (as Cinder's
``_capture_volume_image_metadata`` with its reserved-namespace filter); the
owner may set its ``bootable`` flag and change that image metadata later.
With Glance on RBD and direct URLs (:attr:`.imagestore.ImageStore.rbd_direct_url`)
a volume made from a ``raw`` image is a clone of it (unless its volume type
is encrypted: Cinder never clones those), and the image cannot be deleted
while the volume exists.

Volume types (:meth:`BlockStorage.add_volume_type`; ``__DEFAULT__`` always),
availability zones (:attr:`BlockStorage.availability_zones`) and quotas
(:meth:`BlockStorage.set_quota`: ``volumes``, ``gigabytes``,
``per_volume_gigabytes`` and per type
``volumes_<type>``/``gigabytes_<type>``; a volume's and a snapshot's size
count against ``gigabytes``) are checked when a volume is created: an unknown
type is 404, an unknown zone 400, a quota exceeded 413 with Cinder's message.
:meth:`BlockStorage.limits` and :meth:`BlockStorage.quota_usage` answer the
limits and quota-sets APIs.
"""

import functools
import math

from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import datafiles, exceptions, imagestore
from karbor_volume_glance.testing.localcloud import messages as user_messages
from karbor_volume_glance.testing.localcloud.pacing import Stage
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
VISIBILITIES = ("public", "private", "shared", "community")
DEFAULT_TYPE = "__DEFAULT__"
#: The local cloud's default quotas (-1: unlimited; per-type quotas default
#: to it). Cinder's are 10 volumes and snapshots and 1000 gigabytes; tests
#: make more volumes than 10, so only ``gigabytes`` keeps Cinder's default.
DEFAULT_QUOTAS = {"volumes": -1, "snapshots": -1, "gigabytes": 1000,
                  "backups": 10, "backup_gigabytes": 1000}
#: Glance's reserved namespace: Cinder does not copy these image properties.
RESERVED_IMAGE_PREFIXES = ("os_glance",)


def _invalid_volume(message):
    return exceptions.BadRequest(f"Invalid volume: {message}")


def check_size(size, name="size"):
    """Cinder's schema: an integer (or its digits) of at least 1; the quotas
    (``gigabytes``, ``per_volume_gigabytes``) bound it from above."""
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise exceptions.BadRequest(
            f"Invalid input for field/attribute {name}. Value: {size}. "
            f"{size!r} is less than the minimum of 1"
        )
    return size


class BlockStorage:
    #: Cinder's ``enable_force_upload``: whether upload-to-image honours
    #: ``force`` for an in-use volume (off by default, as in Cinder).
    enable_force_upload = False

    def __init__(self, state, files, jobs, images, pacer, gib):
        self.state = state
        self.files = files
        self.jobs = jobs
        self.images = images
        self.pacer = pacer
        self.gib = gib
        self.availability_zones = ["nova"]
        self.volume_types = {}
        self.quotas = {}  # project id -> {quota name: limit}
        self.add_volume_type(DEFAULT_TYPE, description="Default Volume Type")

    # --- volume types, zones and quotas -----------------------------------

    def add_volume_type(self, name, extra_specs=None, encryption=None,
                        description=None):
        """A public volume type; ``encryption`` (a dict) makes it encrypted,
        ``extra_specs={"multiattach": "<is> True"}`` multiattach."""
        with self.state.lock:
            record = {"id": new_uuid(), "name": name,
                      "description": description, "is_public": True,
                      "extra_specs": dict(extra_specs or {}),
                      "encryption": dict(encryption) if encryption else None}
            self.volume_types[name] = record
            return record

    def volume_type(self, name_or_id):
        with self.state.lock:
            for record in self.volume_types.values():
                if name_or_id in (record["name"], record["id"]):
                    return record
        raise exceptions.NotFound(
            f"Volume type with name {name_or_id} could not be found.")

    def set_quota(self, project_id, **limits):
        """Set quotas of a project (``gigabytes=2``, ``volumes___DEFAULT__=1``)."""
        with self.state.lock:
            self.quotas.setdefault(project_id, {}).update(limits)

    def _quota(self, project_id, name):
        default = DEFAULT_QUOTAS.get(name, -1)
        return self.quotas.get(project_id, {}).get(name, default)

    def _usage(self, project_id):
        """``{quota name: in use}`` of a project (hold the lock)."""
        usage = {"volumes": 0, "gigabytes": 0, "snapshots": 0}
        for volume in self.state.volumes.values():
            if volume.project_id != project_id:
                continue
            usage["volumes"] += 1
            usage["gigabytes"] += volume.size
            for key, amount in ((f"volumes_{volume.volume_type}", 1),
                                (f"gigabytes_{volume.volume_type}", volume.size)):
                usage[key] = usage.get(key, 0) + amount
        for snapshot in self.state.snapshots.values():
            if snapshot.project_id == project_id:
                usage["snapshots"] += 1
                usage["gigabytes"] += snapshot.size
        return usage

    def _check_quota(self, project_id, size, type_name):
        """Cinder's 413 when one more volume of ``size`` GiB exceeds a quota."""
        usage = self._usage(project_id)
        largest = self._quota(project_id, "per_volume_gigabytes")
        if 0 <= largest < size:
            raise exceptions.ApiError(
                f"VolumeSizeExceedsLimit: Requested volume size {size}G is "
                f"larger than maximum allowed limit {largest}G.", code=413)
        for name in ("volumes", f"volumes_{type_name}"):
            limit = self._quota(project_id, name)
            if limit >= 0 and usage.get(name, 0) + 1 > limit:
                raise exceptions.ApiError(
                    f"VolumeLimitExceeded: Maximum number of volumes allowed "
                    f"({limit}) exceeded for quota '{name}'.", code=413)
        for name in ("gigabytes", f"gigabytes_{type_name}"):
            limit = self._quota(project_id, name)
            used = usage.get(name, 0)
            if limit >= 0 and used + size > limit:
                raise exceptions.ApiError(
                    f"VolumeSizeExceedsAvailableQuota: Requested volume or "
                    f"snapshot exceeds allowed {name} quota. Requested "
                    f"{size}G, quota is {limit}G and {used}G has been "
                    "consumed.", code=413)

    def limits(self, ctx):
        """The ``absolute`` limits of ``GET /v3/{project}/limits``."""
        with self.state.lock:
            usage = self._usage(ctx.project_id)
            quota = functools.partial(self._quota, ctx.project_id)
            return {
                "maxTotalVolumes": quota("volumes"),
                "maxTotalSnapshots": quota("snapshots"),
                "maxTotalVolumeGigabytes": quota("gigabytes"),
                "maxTotalBackups": quota("backups"),
                "maxTotalBackupGigabytes": quota("backup_gigabytes"),
                "totalVolumesUsed": usage["volumes"],
                "totalGigabytesUsed": usage["gigabytes"],
                "totalSnapshotsUsed": usage["snapshots"],
                "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0,
            }

    def quota_usage(self, ctx, project_id, usage=False):
        """``quota_set`` of ``GET /v3/{project}/os-quota-sets/{project_id}``."""
        if project_id != ctx.project_id and not ctx.is_admin:
            raise exceptions.Forbidden(
                "Policy doesn't allow volume_extension:quotas:show to be "
                "performed.")
        with self.state.lock:
            used = self._usage(project_id)
            names = list(DEFAULT_QUOTAS)
            for type_name in self.volume_types:
                names += [f"volumes_{type_name}", f"gigabytes_{type_name}",
                          f"snapshots_{type_name}"]
            names.append("per_volume_gigabytes")
            quota_set = {"id": project_id}
            for name in names:
                limit = self._quota(project_id, name)
                quota_set[name] = ({"limit": limit, "in_use": used.get(name, 0),
                                    "reserved": 0}
                                   if usage else limit)
            return quota_set

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

    # --- volumes ------------------------------------------------------------

    def create_volume(self, ctx, size=None, name=None, description=None,
                      metadata=None, snapshot_id=None, source_volid=None,
                      image_id=None, volume_type=None, availability_zone=None,
                      fail=False, extra=0):
        given = [s for s in (snapshot_id, source_volid, image_id) if s]
        if len(given) > 1:
            raise exceptions.BadRequest(
                "Invalid input received: only one of snapshot_id, source_volid "
                "and imageRef may be given."
            )
        if availability_zone not in (None, *self.availability_zones):
            raise exceptions.BadRequest(
                f"Availability zone '{availability_zone}' is invalid.")
        with self.state.lock:
            vtype = self.volume_type(volume_type or DEFAULT_TYPE)
            source = self._source(ctx, snapshot_id, source_volid, image_id)
            kind, record, source_key, length = source or (None, None, None, 0)
            if size is None and kind in ("snapshot", "volume"):
                size = record.size
            elif size is None and kind == "image":
                size = max(1, math.ceil(length / self.gib), record.min_disk)
            size = check_size(size)
            if kind in ("snapshot", "volume") and size < record.size:
                raise exceptions.BadRequest(
                    f"Invalid input received: Volume size '{size}'GB cannot be "
                    f"smaller than the {kind} size {record.size}GB. They must be "
                    f">= original {kind} size."
                )
            if kind == "image" and (length > size * self.gib
                                    or size < record.min_disk):
                raise exceptions.BadRequest(
                    f"Invalid input received: Size of specified image "
                    f"{max(math.ceil(length / self.gib), record.min_disk)}GB is "
                    f"larger than volume size {size}GB."
                )
            self._check_quota(ctx.project_id, size, vtype["name"])
            volume = Volume(
                id=new_uuid(), project_id=ctx.project_id, user_id=ctx.user_id,
                size=size, name=name, description=description,
                metadata=dict(metadata or {}), snapshot_id=snapshot_id,
                source_volid=source_volid, volume_type=vtype["name"],
                availability_zone=availability_zone or self.availability_zones[0],
                multiattach=vtype["extra_specs"].get("multiattach")
                == "<is> True",
            )
            if kind == "image":
                volume.image_metadata = _image_metadata(record)
                volume.bootable = True
                if (self.images.rbd_direct_url and record.disk_format == "raw"
                        and not vtype["encryption"]):
                    volume.cloned_from_image = record.id
            elif kind == "snapshot":
                origin = self.state.volumes.get(record.volume_id)
                volume.bootable = bool(origin and origin.bootable)
            elif kind == "volume":
                volume.bootable = record.bootable
            self.files.create("volumes", volume.id, size * self.gib)
            stream = self.files.open(*source_key) if source_key else None
            self.state.add("volume", volume)
        LOG.info("Volume %s (%s GiB) creating from %s %s", volume.id, size,
                 kind or "nothing", record.id if record else "")

        def copy():
            try:
                if stream is not None:
                    self.files.copy(stream, "volumes", volume.id, length,
                                    size * self.gib, self.jobs.check)
            finally:
                if stream is not None:
                    stream.close()

        def close():
            if stream is not None:
                stream.close()
            self._failed_create(volume)

        if fail:
            stages = [Stage("creating", close, extra), Stage("error")]
        elif kind == "image":
            stages = [Stage("creating"), Stage("downloading", copy, extra),
                      Stage("available")]
        else:
            stages = [Stage("creating", copy, extra), Stage("available")]
        def failed(_exc):
            self._failed_create(volume)
            self._set(self.state.volumes, volume.id, "error")

        self.pacer.begin(
            f"create-volume-{volume.id}", self.state.volumes, volume.id, stages,
            on_failure=failed,
        )
        return volume

    def _message(self, record, resource_type, action, detail):
        """Cinder's user message of a failure of ``record`` (:mod:`.messages`)."""
        user_messages.record(self.state, record.project_id, resource_type,
                             record.id, action, detail)

    def _failed_create(self, volume):
        self._message(volume, user_messages.VOLUME,
                      user_messages.CREATE_VOLUME_FROM_BACKEND,
                      user_messages.DRIVER_FAILED_CREATE)

    def _source(self, ctx, snapshot_id, source_volid, image_id):
        """``(kind, record, (store kind, id), length)`` of the source, or None."""
        if snapshot_id:
            snapshot = self.snapshot(ctx, snapshot_id)
            if snapshot.status != "available":
                raise exceptions.BadRequest(
                    "Invalid snapshot: Originating snapshot status must be one "
                    f"of 'available' values, but it is {snapshot.status}."
                )
            return ("snapshot", snapshot, ("snapshots", snapshot.id),
                    snapshot.size * self.gib)
        if source_volid:
            volume = self.volume(ctx, source_volid)
            if volume.status not in ("available", "in-use"):
                raise _invalid_volume(
                    "Unable to create a volume from an originating source volume "
                    "when its status is not one of 'available', 'in-use'."
                )
            return ("volume", volume, ("volumes", volume.id),
                    volume.size * self.gib)
        if image_id:
            try:
                image = self.images.get(ctx, image_id)
            except exceptions.NotFound:
                raise exceptions.BadRequest(
                    "Invalid image identifier or unable to access requested "
                    "image."
                ) from None
            if image.status != "active":
                raise exceptions.BadRequest(
                    f"Invalid input received: Image {image_id} is not active."
                )
            return ("image", image, ("images", image.id), image.size)
        return None

    def observe(self, record, extra=0, fail=False):
        """One get of a volume or snapshot: its transition moves on.

        The ``error`` fault of a get ends the record in its failure status.
        """
        if fail:
            with self.state.lock:
                why = self._why(record)
                failed = "error_deleting" if record.status == "deleting" else "error"
                self.state.set_status(record, failed)
                if hasattr(record, "uploading_image_id"):
                    record.uploading_image_id = None
            if why is not None:
                self._message(record, *why)
            return
        self.pacer.observe(record.id, extra)

    @staticmethod
    def _why(record):
        """``(resource type, action, detail)`` of Cinder's message when
        ``record`` fails in its current status; None where Cinder writes none."""
        snapshot = isinstance(record, Snapshot)
        kind = user_messages.VOLUME_SNAPSHOT if snapshot else user_messages.VOLUME
        return {
            (True, "creating"): (kind, user_messages.SNAPSHOT_CREATE,
                                 user_messages.SNAPSHOT_CREATE_ERROR),
            (True, "deleting"): (kind, user_messages.SNAPSHOT_DELETE,
                                 user_messages.SNAPSHOT_DELETE_ERROR),
            (False, "creating"): (kind, user_messages.CREATE_VOLUME_FROM_BACKEND,
                                  user_messages.DRIVER_FAILED_CREATE),
            (False, "downloading"): (kind,
                                     user_messages.CREATE_VOLUME_FROM_BACKEND,
                                     user_messages.DRIVER_FAILED_CREATE),
            (False, "uploading"): (kind, user_messages.COPY_VOLUME_TO_IMAGE,
                                   user_messages.FAILED_TO_UPLOAD_VOLUME),
        }.get((snapshot, record.status))

    def delete_volume(self, ctx, volume_id, cascade=False, force=False,
                      fail=False, busy=False, extra=0):
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
                working = [s.id for s in snapshots
                           if s.status not in SNAPSHOT_DELETABLE]
                if working:
                    raise _invalid_volume(
                        f"Snapshots {', '.join(working)} must be available or error "
                        "to delete the volume with them."
                    )
            for snapshot in snapshots:
                self.state.set_status(snapshot, "deleting")
        snapshot_ids = [snapshot.id for snapshot in snapshots]

        def remove():
            with self.state.lock:
                for snapshot_id in snapshot_ids:
                    self.state.snapshots.pop(snapshot_id, None)
                    self.files.remove("snapshots", snapshot_id)
                volume = self.state.volumes.pop(volume_id, None)
                if volume and volume.attachment:
                    volume.attachment = None
            self.files.remove("volumes", volume_id)
            LOG.info("Volume %s deleted", volume_id)

        def failed():
            with self.state.lock:
                for snapshot_id in snapshot_ids:
                    self._set(self.state.snapshots, snapshot_id, "available")

        if fail:
            final = Stage("error_deleting", failed)
        elif busy:  # VolumeIsBusy: the manager makes it available again
            final = Stage("available", failed)
        else:
            final = Stage(None, remove)
        self.pacer.begin(f"delete-volume-{volume_id}", self.state.volumes,
                         volume_id, [Stage("deleting", extra=extra), final])

    def reset_status(self, ctx, record, status):
        if not isinstance(status, str) or not status:
            raise exceptions.BadRequest("Must specify 'status'")
        if not ctx.is_admin:
            raise exceptions.Forbidden("Policy doesn't allow "
                                       "volume_extension:volume_admin_actions:"
                                       "reset_status to be performed.")
        with self.state.lock:
            self.state.set_status(record, status)

    def _settled_volume(self, ctx, volume_id):
        """A volume whose flags and image metadata may change: Cinder wants
        it ``available`` or ``in-use``. Call with the state's lock held."""
        volume = self.volume(ctx, volume_id)
        if volume.status not in ("available", "in-use"):
            raise _invalid_volume(
                f"Volume {volume_id} status must be available or in-use, "
                f"but current status is: {volume.status}.")
        return volume

    def set_bootable(self, ctx, volume_id, bootable):
        with self.state.lock:
            self._settled_volume(ctx, volume_id).bootable = bool(bootable)

    def set_image_metadata(self, ctx, volume_id, metadata):
        with self.state.lock:
            volume = self._settled_volume(ctx, volume_id)
            volume.image_metadata.update(metadata)
            return dict(volume.image_metadata)

    def unset_image_metadata(self, ctx, volume_id, key):
        with self.state.lock:
            volume = self.volume(ctx, volume_id)
            if key not in volume.image_metadata:
                raise exceptions.NotFound(
                    f"Glance metadata for volume {volume_id} with key {key} "
                    "cannot be found.")
            del volume.image_metadata[key]

    def volume_metadata(self, ctx, volume_id):
        with self.state.lock:
            return dict(self.volume(ctx, volume_id).metadata)

    def update_volume_metadata(self, ctx, volume_id, metadata, replace):
        """``POST`` (merge) or ``PUT`` (``replace``) a volume's metadata, as
        Cinder does in any status but ``maintenance``."""
        with self.state.lock:
            volume = self.volume(ctx, volume_id)
            if volume.status == "maintenance":
                raise _invalid_volume(
                    f"Volume {volume_id} status must not be maintenance.")
            if replace:
                volume.metadata = dict(metadata)
            else:
                volume.metadata.update(metadata)
            return dict(volume.metadata)

    # --- snapshots ----------------------------------------------------------

    def create_snapshot(self, ctx, volume_id, force=False, name=None,
                        description=None, metadata=None, in_use_allowed=False,
                        fail=False, extra=0):
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
            length = volume.size * self.gib
            self.files.create("snapshots", snapshot.id, length)
            stream = self.files.open("volumes", volume_id)
            self.state.add("snapshot", snapshot)
        LOG.info("Snapshot %s of volume %s creating", snapshot.id, volume_id)

        def copy():
            try:
                if not fail:
                    self.files.copy(stream, "snapshots", snapshot.id, length,
                                    length, self.jobs.check)
            finally:
                stream.close()
            if fail:
                self._failed_snapshot(snapshot)

        def failed(_exc):
            self._failed_snapshot(snapshot)
            self._set(self.state.snapshots, snapshot.id, "error")

        self.pacer.begin(
            f"create-snapshot-{snapshot.id}", self.state.snapshots, snapshot.id,
            [Stage("creating", copy, extra), Stage("error" if fail else "available")],
            on_failure=failed,
        )
        return snapshot

    def _failed_snapshot(self, snapshot):
        self._message(snapshot, user_messages.VOLUME_SNAPSHOT,
                      user_messages.SNAPSHOT_CREATE,
                      user_messages.SNAPSHOT_CREATE_ERROR)

    def delete_snapshot(self, ctx, snapshot_id, force=False, fail=False,
                        busy=False, extra=0):
        with self.state.lock:
            snapshot = self.snapshot(ctx, snapshot_id)
            if not force and snapshot.status not in SNAPSHOT_DELETABLE:
                raise exceptions.BadRequest(
                    "Invalid snapshot: Volume Snapshot status must be available or "
                    f"error and must not be part of a group (it is "
                    f"{snapshot.status})."
                )

        def remove():
            with self.state.lock:
                self.state.snapshots.pop(snapshot_id, None)
            self.files.remove("snapshots", snapshot_id)
            LOG.info("Snapshot %s deleted", snapshot_id)

        if fail:
            final = Stage("error_deleting")
        elif busy:  # SnapshotIsBusy: the manager makes it available again
            final = Stage("available")
        else:
            final = Stage(None, remove)
        self.pacer.begin(f"delete-snapshot-{snapshot_id}", self.state.snapshots,
                         snapshot_id, [Stage("deleting", extra=extra), final])

    # --- upload to image ------------------------------------------------------

    def upload_to_image(self, ctx, volume_id, image_name, force=False,
                        disk_format="raw", container_format="bare",
                        visibility="private", protected=False, fail=False,
                        extra=0):
        if disk_format not in UPLOAD_DISK_FORMATS:
            raise exceptions.BadRequest(
                f"Invalid input received: Invalid disk-format '{disk_format}' is "
                f"specified. Allowed disk-formats are {', '.join(UPLOAD_DISK_FORMATS)}."
            )
        if container_format not in imagestore.CONTAINER_FORMATS:
            # Cinder passes it on; Glance's schema refuses it
            allowed = [None, *imagestore.CONTAINER_FORMATS]
            raise exceptions.BadRequest(
                f"Unable to set 'container_format' to '{container_format}'. "
                f"Reason: '{container_format}' is not one of {allowed}"
            )
        if visibility not in VISIBILITIES:
            raise exceptions.BadRequest(
                f"Invalid input received: Invalid visibility '{visibility}' is "
                "specified."
            )
        if visibility == "public" and not ctx.is_admin:
            raise exceptions.Forbidden(
                "Policy doesn't allow volume_extension:volume_actions:"
                "upload_public to be performed."
            )
        if force and not self.enable_force_upload:
            LOG.info("Force upload to image is disabled, Force option will be "
                     "ignored (volume %s).", volume_id)
            force = False
        with self.state.lock:
            volume = self.volume(ctx, volume_id)
            allowed = ("available", "in-use") if force else ("available",)
            if volume.status not in allowed:
                raise _invalid_volume(
                    f"Volume {volume_id} status must be {' or '.join(allowed)}"
                )
            image = self.images.create_for_volume(
                ctx, image_name, disk_format, container_format, visibility,
                protected,
            )
            previous = volume.status
            self.state.set_status(volume, "uploading")
            volume.uploading_image_id = image.id
            stream = self.files.open("volumes", volume_id)
            length = volume.size * self.gib
        LOG.info("Volume %s uploading to image %s", volume_id, image.id)
        hashers = datafiles.new_hashers(self.images.hashing_algorithm)
        copied = []

        def copy():
            try:
                if not fail:
                    copied.append(self.files.copy(
                        stream, "images", image.id, length, length,
                        self.jobs.check, hashers))
            finally:
                stream.close()
            if fail:
                self._failed_upload(volume)

        def finish():
            result = None
            if copied:
                result = (copied[0], *(h.hexdigest() for h in hashers))
            self._volume_back(volume_id, image.id, previous)
            try:
                self.images.finish_saving(image, result)
            except exceptions.Gone:
                LOG.warning("Image %s was deleted while volume %s uploaded to "
                            "it", image.id, volume_id)

        def failed(_exc):
            stream.close()
            self._failed_upload(volume)
            self._volume_back(volume_id, image.id, previous)
            try:
                self.images.finish_saving(image, None)
            except exceptions.Gone:
                pass

        self.pacer.begin(
            f"upload-volume-{volume_id}", self.state.images, image.id,
            [Stage("queued"), Stage("saving", copy, extra), Stage(None, finish)],
            on_failure=failed, also=(volume_id,),
            on_abandon=lambda: self._upload_abandoned(volume_id, image,
                                                      previous),
        )
        return volume, image

    def _upload_abandoned(self, volume_id, image, previous):
        """The image was deleted (or failed) while the volume uploaded to it:
        Cinder's manager fails the upload, removes what it wrote and sets the
        volume's status from its attachments (``copy_volume_to_image``)."""
        self._volume_back(volume_id, image.id, previous)
        if self.state.images.get(image.id) is not image:
            self.files.remove("images", image.id)

    def _failed_upload(self, volume):
        self._message(volume, user_messages.VOLUME,
                      user_messages.COPY_VOLUME_TO_IMAGE,
                      user_messages.FAILED_TO_UPLOAD_VOLUME)

    def _volume_back(self, volume_id, image_id, previous):
        """The volume leaves ``uploading`` once its image is done."""
        with self.state.lock:
            volume = self.state.volumes.get(volume_id)
            if volume is not None and volume.uploading_image_id == image_id:
                volume.uploading_image_id = None
                if volume.status == "uploading":
                    self.state.set_status(volume, previous)


def _image_metadata(image):
    """The ``volume_image_metadata`` Cinder keeps of a volume's source image."""
    metadata = {"image_id": image.id, "image_name": image.name or "",
                "checksum": image.checksum or "", "size": str(image.size),
                "disk_format": image.disk_format or "",
                "container_format": image.container_format or "",
                "min_disk": str(image.min_disk), "min_ram": str(image.min_ram)}
    properties = {k: v for k, v in image.properties.items()
                  if isinstance(v, str)
                  and not k.startswith(RESERVED_IMAGE_PREFIXES)}
    return {**properties, **metadata}
