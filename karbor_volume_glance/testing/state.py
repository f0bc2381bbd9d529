"""Everything the fake cloud holds, with the lookups across kinds of record.

:class:`CloudState` is only data; :class:`~.fakecloud.FakeCloud` owns one and
its lock, and the fake clients read and change it while holding that lock.
"""

import dataclasses

from karbor_volume_glance.testing import timestamps
from karbor_volume_glance.testing.identifiers import new_id, next_free_device
from karbor_volume_glance.testing.records import AttachmentRecord


@dataclasses.dataclass
class CloudState:
    volumes: dict = dataclasses.field(default_factory=dict)
    snapshots: dict = dataclasses.field(default_factory=dict)
    images: dict = dataclasses.field(default_factory=dict)
    servers: dict = dataclasses.field(default_factory=dict)
    attachments: dict = dataclasses.field(default_factory=dict)

    def records_of(self, kind):
        """The dict of records of one kind: volume, snapshot, image or server."""
        try:
            return {
                "volume": self.volumes,
                "snapshot": self.snapshots,
                "image": self.images,
                "server": self.servers,
            }[kind]
        except KeyError:
            raise ValueError(
                f"unknown resource kind {kind!r}; "
                "expected volume, snapshot, image or server"
            ) from None

    def attachments_of_volume(self, volume_id):
        return [a for a in self.attachments.values() if a.volume_id == volume_id]

    def attachments_of_server(self, server_id):
        return [a for a in self.attachments.values() if a.server_id == server_id]

    def snapshots_of_volume(self, volume_id):
        return [s for s in self.snapshots.values() if s.volume_id == volume_id]

    def attach(self, server_id, volume_id, device=None):
        """Record an attachment (statuses are the caller's business); return it."""
        used = {a.device for a in self.attachments_of_server(server_id)}
        attachment = AttachmentRecord(
            id=new_id(),
            server_id=server_id,
            volume_id=volume_id,
            device=device or next_free_device(used),
            attached_at=timestamps.now(),
        )
        self.attachments[attachment.id] = attachment
        return attachment
