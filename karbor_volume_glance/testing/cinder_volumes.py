"""The fake ``cinder.volumes`` manager: create, get, list, delete, upload.

Volumes are returned as cinderclient's own :class:`cinderclient.v3.volumes.
Volume` objects bound to this manager, so ``volume.delete()`` and
``volume.upload_to_image(...)`` work as they do on real ones.
"""

import math

from cinderclient.apiclient import base as common_base
from cinderclient.v3 import volumes as cinder_volumes

from karbor_volume_glance.testing import cinder_views, faults, timestamps
from karbor_volume_glance.testing.cinder_common import (
    SNAPSHOT_DELETABLE_STATUSES,
    VOLUME_DELETABLE_STATUSES,
    bad_request,
    failure_status_of,
    find_volume,
    not_found,
    page,
    remove_when_entered,
    strict_bool,
)
from karbor_volume_glance.testing.identifiers import new_id
from karbor_volume_glance.testing.lifecycle import Lifecycle, Stage
from karbor_volume_glance.testing.records import GIB, ImageRecord, VolumeRecord
from karbor_volume_glance.testing.responses import make_response

UPLOAD_DISK_FORMATS = frozenset({"raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"})
UPLOAD_CONTAINER_FORMATS = frozenset({"bare", "compressed"})
IMAGE_VISIBILITIES = frozenset({"public", "private", "shared", "community"})
_CANNOT_DELETE = (
    "Invalid volume: Volume status must be available or error or "
    "error_restoring or error_extending or error_managing and must not be "
    "migrating, attached, belong to a group, have snapshots or be "
    "disassociated from snapshots after volume transfer."
)


class FakeVolumeManager:
    resource_class = cinder_volumes.Volume

    def __init__(self, cloud, api_version):
        self._cloud = cloud
        self.api_version = api_version

    # --- reading -------------------------------------------------------------

    def get(self, volume_id):
        fault = self._cloud.enter_step("volume.get")
        with self._cloud.lock:
            state = self._cloud.state
            volume = find_volume(state, volume_id)
            self._poll(volume, fault)
            if volume.id not in state.volumes:
                raise not_found("Volume", volume.id)
            return self._resource(volume)

    def list(self, detailed=True, search_opts=None, marker=None, limit=None, sort=None):
        self._cloud.enter_step("volume.list")
        with self._cloud.lock:
            state = self._cloud.state
            infos = {
                v.id: cinder_views.volume_info(state, v) for v in state.volumes.values()
            }
            matching = [
                v
                for v in state.volumes.values()
                if cinder_views.matches(infos[v.id], search_opts)
            ]
            chosen = [
                infos[v.id] if detailed else cinder_views.volume_summary_info(v)
                for v in page(matching, marker, limit)
            ]
            return common_base.ListWithMeta(
                [self.resource_class(self, i, loaded=True) for i in chosen],
                make_response(200),
            )

    # --- creating ------------------------------------------------------------

    def create(
        self,
        size,
        consistencygroup_id=None,
        group_id=None,
        snapshot_id=None,
        source_volid=None,
        name=None,
        description=None,
        volume_type=None,
        user_id=None,
        project_id=None,
        availability_zone=None,
        metadata=None,
        imageRef=None,
        scheduler_hints=None,
        backup_id=None,
    ):
        fault = self._cloud.enter_step("volume.create")
        with self._cloud.lock:
            self._refuse_unknown_groups(consistencygroup_id, group_id, backup_id)
            source = self._source(snapshot_id, source_volid, imageRef)
            volume = VolumeRecord(
                id=new_id(),
                name=name,
                description=description,
                size=self._checked_size(size, source),
                data=b"",
                life=Lifecycle("creating"),
                created_at=timestamps.now(),
                user_id=self._cloud.user_id,
                project_id=self._cloud.project_id,
                snapshot_id=snapshot_id,
                source_volid=source_volid,
                availability_zone=availability_zone or "nova",
                volume_type=volume_type or "__DEFAULT__",
                metadata=dict(metadata or {}),
            )
            self._cloud.state.volumes[volume.id] = volume
            self._cloud.record_created("volume", volume.id, name)
            volume.life.begin(*self._creation_stages(volume, source, fault))
            return self._resource(volume)

    def _refuse_unknown_groups(self, consistencygroup_id, group_id, backup_id):
        # the fake has no groups or backups, so any reference to one is dangling
        if consistencygroup_id is not None:
            raise not_found("ConsistencyGroup", consistencygroup_id)
        if group_id is not None:
            raise not_found("Group", group_id)
        if backup_id is not None:
            raise not_found("Backup", backup_id)

    def _source(self, snapshot_id, source_volid, image_ref):
        """The record a new volume copies from (or None), checked as Cinder does."""
        given = [s for s in (snapshot_id, source_volid, image_ref) if s is not None]
        if len(given) > 1:
            raise bad_request(
                "Invalid input: only one of snapshot_id, source_volid and "
                "imageRef may be given."
            )
        state = self._cloud.state
        if snapshot_id is not None:
            snapshot = state.snapshots.get(snapshot_id)
            if snapshot is None:
                raise not_found("Snapshot", snapshot_id)
            if snapshot.status != "available":
                raise bad_request(
                    f"Invalid snapshot: Originating snapshot status must be "
                    f"one of 'available' values, not {snapshot.status}."
                )
            return snapshot
        if source_volid is not None:
            volume = state.volumes.get(source_volid)
            if volume is None:
                raise not_found("Volume", source_volid)
            if volume.status not in ("available", "in-use"):
                raise bad_request(
                    f"Invalid volume: Source volume status must be available "
                    f"or in-use, not {volume.status}."
                )
            return volume
        if image_ref is not None:
            image = state.images.get(image_ref)
            if image is None:
                raise bad_request(
                    "Invalid image identifier or unable to access requested image."
                )
            if image.status != "active":
                raise bad_request(
                    f"Invalid image: Image {image.id} is not active "
                    f"(status {image.status})."
                )
            return image
        return None

    def _checked_size(self, size, source):
        if size is None and (source is None or isinstance(source, ImageRecord)):
            raise bad_request("Invalid input: size is required.")
        if size is None:
            return source.size
        try:
            size = int(size)
        except (TypeError, ValueError):
            message = f"Invalid input: size {size!r} is not an integer."
            raise bad_request(message) from None
        if size <= 0:
            raise bad_request(f"Invalid input: size {size} must be more than 0.")
        if isinstance(source, ImageRecord):
            image_gib = max(math.ceil((source.size or 0) / GIB), source.min_disk)
            if size < image_gib:
                raise bad_request(
                    f"Invalid input: Size of specified image {image_gib} GB is "
                    f"larger than volume size {size} GB."
                )
        elif source is not None and size < source.size:
            raise bad_request(
                f"Invalid input: Volume size {size} GB cannot be smaller than "
                f"the source size {source.size} GB."
            )
        return size

    def _creation_stages(self, volume, source, fault):
        polls = self._cloud.transition_polls
        extra = faults.extra_polls(fault)
        from_image = isinstance(source, ImageRecord)
        if faults.is_error(fault):
            final = Stage("error")
        else:
            final = Stage("available", on_enter=_copier(volume, source))
        if from_image:
            return [
                Stage("creating", polls),
                Stage("downloading", polls + extra),
                final,
            ]
        return [Stage("creating", polls + extra), final]

    # --- deleting ------------------------------------------------------------

    def delete(self, volume, cascade=False):
        fault = self._cloud.enter_step("volume.delete")
        with self._cloud.lock:
            state = self._cloud.state
            record = find_volume(state, volume)
            snapshots = state.snapshots_of_volume(record.id)
            if (
                record.status not in VOLUME_DELETABLE_STATUSES
                or state.attachments_of_volume(record.id)
                or (snapshots and not cascade)
            ):
                raise bad_request(_CANNOT_DELETE)
            if any(s.status not in SNAPSHOT_DELETABLE_STATUSES for s in snapshots):
                raise bad_request(
                    "Invalid volume: Snapshot of volume not in a deletable state."
                )
            for snapshot in snapshots:
                snapshot.life.begin(
                    *self._deletion_stages(state.snapshots, snapshot.id, None)
                )
            record.life.begin(*self._deletion_stages(state.volumes, record.id, fault))
            response = make_response(202)
            return common_base.TupleWithMeta((response, None), response)

    def _deletion_stages(self, records, record_id, fault):
        polls = self._cloud.transition_polls + faults.extra_polls(fault)
        if faults.is_error(fault):
            return [Stage("deleting", polls), Stage("error_deleting")]
        return [
            Stage("deleting", polls),
            Stage("deleted", on_enter=remove_when_entered(records, record_id)),
        ]

    # --- uploading to an image -----------------------------------------------

    def upload_to_image(
        self,
        volume,
        force,
        image_name,
        container_format,
        disk_format,
        visibility=None,
        protected=None,
    ):
        fault = self._cloud.enter_step("volume.upload_to_image")
        with self._cloud.lock:
            record = find_volume(self._cloud.state, volume)
            forced = strict_bool(force, "force")
            visibility = visibility or "private"
            protected = strict_bool(protected or False, "protected")
            self._check_upload(
                record, forced, container_format, disk_format, visibility
            )
            image = self._start_upload(
                record,
                image_name,
                container_format,
                disk_format,
                visibility,
                protected,
                fault,
            )
            body = {
                "os-volume_upload_image": {
                    "id": record.id,
                    "updated_at": timestamps.cinder_time(record.life.changed_at),
                    "status": "uploading",
                    "display_description": record.description,
                    "size": record.size,
                    "volume_type": {"name": record.volume_type},
                    "image_id": image.id,
                    "container_format": container_format,
                    "disk_format": disk_format,
                    "image_name": image_name,
                    "visibility": visibility,
                    "protected": protected,
                }
            }
            response = make_response(202)
            return common_base.TupleWithMeta((response, body), response)

    @staticmethod
    def _check_upload(record, forced, container_format, disk_format, visibility):
        if record.status == "in-use" and not forced:
            raise bad_request(
                f"Invalid volume: Volume {record.id} status must be available, "
                "but current status is: in-use."
            )
        if record.status not in ("available", "in-use"):
            raise bad_request(
                f"Invalid volume: Volume {record.id} status must be available "
                f"or in-use, but current status is: {record.status}."
            )
        if disk_format not in UPLOAD_DISK_FORMATS:
            raise bad_request(f"Invalid disk-format '{disk_format}' is specified.")
        if container_format not in UPLOAD_CONTAINER_FORMATS:
            raise bad_request(
                f"Invalid container-format '{container_format}' is specified."
            )
        if visibility not in IMAGE_VISIBILITIES:
            raise bad_request(f"Invalid visibility '{visibility}' is specified.")

    def _start_upload(
        self,
        record,
        image_name,
        container_format,
        disk_format,
        visibility,
        protected,
        fault,
    ):
        image = ImageRecord(
            id=new_id(),
            name=image_name,
            owner=self._cloud.project_id,
            life=Lifecycle("queued"),
            created_at=timestamps.now(),
            disk_format=disk_format,
            container_format=container_format,
            visibility=visibility,
            protected=protected,
        )
        self._cloud.state.images[image.id] = image
        self._cloud.record_created("image", image.id, image_name)
        status_after_upload = record.status
        record.uploading_image_id = image.id
        record.life.end_in("uploading")

        def volume_back_when_image_done(image_status):
            if image_status in ("queued", "saving"):
                return
            if record.uploading_image_id == image.id:
                record.uploading_image_id = None
                record.life.end_in(status_after_upload)

        image.life.watch(volume_back_when_image_done)
        payload = record.data
        if faults.is_error(fault):
            final = Stage("killed")
        else:
            final = Stage("active", on_enter=lambda: image.store(payload))
        polls = self._cloud.transition_polls
        image.life.begin(
            Stage("queued", polls),
            Stage("saving", polls + faults.extra_polls(fault)),
            final,
        )
        return image

    # --- polling -------------------------------------------------------------

    def _poll(self, volume, fault):
        """One ``get``: the volume (and the image it uploads to) move on."""
        upload = self._cloud.state.images.get(volume.uploading_image_id or "")
        if faults.is_error(fault):
            volume.uploading_image_id = None
            volume.life.end_in(failure_status_of(volume.status))
            return
        extra = faults.extra_polls(fault)
        if upload is not None:
            upload.life.extend(extra)
            upload.life.observe()
            return
        volume.life.extend(extra)
        volume.life.observe()

    def _resource(self, volume):
        info = cinder_views.volume_info(self._cloud.state, volume)
        return self.resource_class(self, info, loaded=True, resp=make_response(200))


def _copier(volume, source):
    """An ``on_enter`` giving ``volume`` what ``source`` holds now.

    The bytes and image metadata are taken at the call, as Cinder reads a
    snapshot, volume or image when asked to copy it; they land in the volume
    when it becomes available.
    """
    if source is None:
        data, bootable, image_metadata = b"", False, None
    elif isinstance(source, ImageRecord):
        data, bootable, image_metadata = (
            source.data or b"",
            True,
            {
                "image_id": source.id,
                "image_name": source.name or "",
                "container_format": source.container_format or "",
                "disk_format": source.disk_format or "",
                "checksum": source.checksum or "",
                "size": str(source.size or 0),
                "min_disk": str(source.min_disk),
                "min_ram": str(source.min_ram),
            },
        )
    else:
        data, bootable = source.data, source.bootable
        image_metadata = (
            None if source.image_metadata is None else dict(source.image_metadata)
        )

    def copy():
        volume.data = data
        volume.bootable = bootable
        volume.image_metadata = image_metadata

    return copy
