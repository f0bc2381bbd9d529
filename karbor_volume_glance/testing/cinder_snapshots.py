"""The fake ``cinder.volume_snapshots`` manager: create, get, list, delete.

Snapshots are cinderclient's own :class:`cinderclient.v3.volume_snapshots.
Snapshot` objects bound to this manager. A snapshot holds the bytes its
volume had when it was asked for.
"""

from cinderclient.apiclient import base as common_base
from cinderclient.v3 import volume_snapshots as cinder_snapshots

from karbor_volume_glance.testing import cinder_views, faults, timestamps
from karbor_volume_glance.testing.cinder_common import (
    SNAPSHOT_DELETABLE_STATUSES,
    bad_request,
    failure_status_of,
    find_snapshot,
    find_volume,
    not_found,
    page,
    remove_when_entered,
    strict_bool,
)
from karbor_volume_glance.testing.identifiers import new_id
from karbor_volume_glance.testing.lifecycle import Lifecycle, Stage
from karbor_volume_glance.testing.records import SnapshotRecord
from karbor_volume_glance.testing.responses import make_response


class FakeSnapshotManager:
    resource_class = cinder_snapshots.Snapshot

    def __init__(self, cloud, api_version):
        self._cloud = cloud
        self.api_version = api_version

    def create(
        self, volume_id, force=False, name=None, description=None, metadata=None
    ):
        fault = self._cloud.enter_step("snapshot.create")
        with self._cloud.lock:
            volume = find_volume(self._cloud.state, volume_id)
            forced = strict_bool(force, "force")
            if volume.status == "in-use" and not forced:
                raise bad_request(
                    f"Invalid volume: Volume {volume.id} status must be "
                    "available, but current status is: in-use."
                )
            if volume.status not in ("available", "in-use"):
                raise bad_request(
                    f"Invalid volume: Volume {volume.id} status must be "
                    f"available or in-use, but current status is: {volume.status}."
                )
            snapshot = SnapshotRecord(
                id=new_id(),
                volume_id=volume.id,
                size=volume.size,
                data=volume.data,
                life=Lifecycle("creating"),
                created_at=timestamps.now(),
                user_id=self._cloud.user_id,
                project_id=self._cloud.project_id,
                name=name,
                description=description,
                metadata=dict(metadata or {}),
                image_metadata=(
                    None
                    if volume.image_metadata is None
                    else dict(volume.image_metadata)
                ),
                bootable=volume.bootable,
            )
            self._cloud.state.snapshots[snapshot.id] = snapshot
            self._cloud.record_created("snapshot", snapshot.id, name)
            final = "error" if faults.is_error(fault) else "available"
            snapshot.life.begin(Stage("creating", self._polls(fault)), Stage(final))
            return self._resource(snapshot)

    def get(self, snapshot_id):
        fault = self._cloud.enter_step("snapshot.get")
        with self._cloud.lock:
            state = self._cloud.state
            snapshot = find_snapshot(state, snapshot_id)
            if faults.is_error(fault):
                snapshot.life.end_in(failure_status_of(snapshot.status))
            else:
                snapshot.life.extend(faults.extra_polls(fault))
                snapshot.life.observe()
            if snapshot.id not in state.snapshots:
                raise not_found("Snapshot", snapshot.id)
            return self._resource(snapshot)

    def list(self, detailed=True, search_opts=None, marker=None, limit=None, sort=None):
        self._cloud.enter_step("snapshot.list")
        with self._cloud.lock:
            snapshots = [
                s
                for s in self._cloud.state.snapshots.values()
                if cinder_views.matches(cinder_views.snapshot_info(s), search_opts)
            ]
            show = (
                cinder_views.snapshot_info
                if detailed
                else cinder_views.snapshot_summary_info
            )
            return common_base.ListWithMeta(
                [
                    self.resource_class(self, show(s), loaded=True)
                    for s in page(snapshots, marker, limit)
                ],
                make_response(200),
            )

    def delete(self, snapshot, force=False):
        fault = self._cloud.enter_step("snapshot.delete")
        with self._cloud.lock:
            state = self._cloud.state
            record = find_snapshot(state, snapshot)
            if not force and record.status not in SNAPSHOT_DELETABLE_STATUSES:
                raise bad_request(
                    "Invalid snapshot: Volume Snapshot status must be available "
                    "or error and must not be part of a group."
                )
            if faults.is_error(fault):
                final = Stage("error_deleting")
            else:
                final = Stage(
                    "deleted",
                    on_enter=remove_when_entered(state.snapshots, record.id),
                )
            record.life.begin(Stage("deleting", self._polls(fault)), final)
            response = make_response(202)
            return common_base.TupleWithMeta((response, None), response)

    def _polls(self, fault):
        return self._cloud.transition_polls + faults.extra_polls(fault)

    def _resource(self, snapshot):
        return self.resource_class(
            self,
            cinder_views.snapshot_info(snapshot),
            loaded=True,
            resp=make_response(200),
        )
