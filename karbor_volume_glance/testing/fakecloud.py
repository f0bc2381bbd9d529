"""A stateful in-memory cloud behind fake Cinder, Glance and Nova clients.

Tests build one :class:`FakeCloud`, put the user's volumes and servers in it
(:meth:`FakeCloud.add_volume`, :meth:`FakeCloud.add_server`), hand its
:meth:`FakeCloud.client_factory` to the code under test and then check what
became of the cloud: the bytes (:meth:`FakeCloud.volume_data`,
:meth:`FakeCloud.image_data`), what the clients created and what of it is left
(:meth:`FakeCloud.created`, :meth:`FakeCloud.leftovers`) and which steps were
called (:attr:`FakeCloud.calls`). Faults are armed with
:meth:`FakeCloud.inject` (see :mod:`.faults`).

The fake clients read and change :attr:`FakeCloud.state` holding
:attr:`FakeCloud.lock`, and report each call through
:meth:`FakeCloud.enter_step`.
"""

import threading
import time

from karbor_volume_glance.testing import faults, timestamps
from karbor_volume_glance.testing.fake_context import FakeContext
from karbor_volume_glance.testing.identifiers import new_id
from karbor_volume_glance.testing.lifecycle import Lifecycle
from karbor_volume_glance.testing.records import (
    ImageRecord,
    ServerRecord,
    SnapshotRecord,
    VolumeRecord,
)
from karbor_volume_glance.testing.state import CloudState

__all__ = ["FakeCloud", "FakeContext"]


class FakeCloud:
    """Volumes, snapshots, images, servers and attachments of one project."""

    def __init__(
        self,
        transition_polls=1,
        project_id="fake-project",
        user_id="fake-user",
        nova_accepts_swap=False,
    ):
        if (
            not isinstance(transition_polls, int)
            or isinstance(transition_polls, bool)
            or transition_polls < 0
        ):
            raise ValueError(
                f"transition_polls must be an integer >= 0, got {transition_polls!r}"
            )
        self.transition_polls = transition_polls
        self.project_id = project_id
        self.user_id = user_id
        self.nova_accepts_swap = nova_accepts_swap
        self.lock = threading.RLock()
        self.state = CloudState()
        self._fault_plan = faults.FaultPlan()
        self._calls = []
        self._created = []

    # --- setting the scene ---------------------------------------------------

    def add_volume(
        self, data=b"", size=1, name=None, status="available", server_id=None
    ):
        """Put a user's volume in the cloud (not counted as created by clients).

        With ``server_id`` the volume is attached to that server and
        ``in-use``. Returns the volume id.
        """
        with self.lock:
            if server_id is not None and server_id not in self.state.servers:
                raise ValueError(f"no server {server_id!r} in the fake cloud")
            if server_id is not None and status == "available":
                status = "in-use"
            volume = VolumeRecord(
                id=new_id(),
                name=name,
                size=size,
                data=bytes(data),
                life=Lifecycle(status),
                created_at=timestamps.now(),
                user_id=self.user_id,
                project_id=self.project_id,
            )
            self.state.volumes[volume.id] = volume
            if server_id is not None:
                self.state.attach(server_id, volume.id)
            return volume.id

    def add_snapshot(self, volume_id, name=None, status="available",
                     created_at=None):
        """Put a user's snapshot of a volume in the cloud; returns its id.

        It holds the volume's current data; ``created_at`` (an aware
        datetime) defaults to now.
        """
        with self.lock:
            volume = self._existing("volume", volume_id)
            snapshot = SnapshotRecord(
                id=new_id(),
                volume_id=volume.id,
                size=volume.size,
                data=volume.data,
                life=Lifecycle(status),
                created_at=created_at or timestamps.now(),
                user_id=self.user_id,
                project_id=self.project_id,
                name=name,
            )
            self.state.snapshots[snapshot.id] = snapshot
            return snapshot.id

    def write_volume(self, volume_id, offset, data):
        """Overwrite ``data`` at ``offset`` of a volume's data, as a guest would."""
        with self.lock:
            volume = self._existing("volume", volume_id)
            current = bytearray(volume.data)
            end = offset + len(data)
            if end > volume.size * 1024 ** 3:
                raise ValueError(f"write past the end of volume {volume_id}")
            if end > len(current):
                current.extend(bytes(end - len(current)))
            current[offset:end] = data
            volume.data = bytes(current)

    def add_server(self, name="server"):
        """Put a user's server in the cloud; returns its id."""
        with self.lock:
            server = ServerRecord(
                id=new_id(),
                name=name,
                created_at=timestamps.now(),
                user_id=self.user_id,
                project_id=self.project_id,
            )
            self.state.servers[server.id] = server
            return server.id

    def add_image(
        self,
        data=b"",
        name=None,
        disk_format="raw",
        container_format="bare",
        **properties,
    ):
        """Put an ``active`` image with ``data`` in the cloud; returns its id."""
        with self.lock:
            image = ImageRecord(
                id=new_id(),
                name=name,
                owner=self.project_id,
                life=Lifecycle("active"),
                created_at=timestamps.now(),
                disk_format=disk_format,
                container_format=container_format,
                properties=dict(properties),
            )
            image.store(data)
            self.state.images[image.id] = image
            return image.id

    def context(self):
        """A request context for this cloud's project and user."""
        return FakeContext(project_id=self.project_id, user_id=self.user_id)

    def client_factory(self):
        """An object whose ``create_client(service, context)`` gives fake clients."""
        from karbor_volume_glance.testing.fake_client_factory import (
            FakeClientFactory,
        )

        return FakeClientFactory(self)

    # --- looking at the outcome ----------------------------------------------

    def volume_data(self, volume_id):
        with self.lock:
            return self._existing("volume", volume_id).data

    def image_data(self, image_id):
        """The bytes of an image; None while it has none (not yet uploaded)."""
        with self.lock:
            return self._existing("image", image_id).data

    def status_of(self, kind, resource_id):
        """Current status of a resource without polling it; None once gone."""
        with self.lock:
            record = self.state.records_of(kind).get(resource_id)
            return None if record is None else record.status

    def attachments(self):
        """``(server_id, volume_id, device)`` of every attachment."""
        with self.lock:
            return [
                (a.server_id, a.volume_id, a.device)
                for a in self.state.attachments.values()
            ]

    def created(self):
        """``(kind, id, name)`` of every resource the fake clients created."""
        with self.lock:
            return list(self._created)

    def leftovers(self, keep=()):
        """The created resources that still exist, in any status, minus ``keep``."""
        keep = set(keep)
        with self.lock:
            return [
                (kind, resource_id, name)
                for kind, resource_id, name in self._created
                if resource_id not in keep
                and resource_id in self.state.records_of(kind)
            ]

    @property
    def calls(self):
        """Names of the steps the fake clients were called for, in order."""
        with self.lock:
            return list(self._calls)

    def settle(self):
        """Let every resource reach the end of its transitions, as if time passed."""
        with self.lock:
            for kind in ("image", "snapshot", "volume"):
                for record in list(self.state.records_of(kind).values()):
                    record.life.finish()

    # --- faults --------------------------------------------------------------

    def inject(self, step, fault, times=1, **options):
        """Make the next ``times`` calls of ``step`` suffer ``fault``."""
        with self.lock:
            self._fault_plan.inject(step, fault, times, **options)

    def clear_faults(self):
        with self.lock:
            self._fault_plan.clear()

    # --- for the fake clients ------------------------------------------------

    def enter_step(self, step):
        """Record a call of ``step``, apply its delay or exception fault.

        Returns the fault left for the caller to apply (or None). The delay is
        slept without holding the lock, so other threads go on meanwhile.
        """
        with self.lock:
            self._calls.append(step)
            fault = self._fault_plan.take(step)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.kind == faults.EXCEPTION:
            raise faults.server_error(step)
        return fault

    def record_created(self, kind, resource_id, name):
        with self.lock:
            self._created.append((kind, resource_id, name))

    def _existing(self, kind, resource_id):
        record = self.state.records_of(kind).get(resource_id)
        if record is None:
            raise KeyError(f"no {kind} {resource_id!r} in the fake cloud")
        return record
