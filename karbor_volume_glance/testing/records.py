"""What the fake cloud stores about each volume, snapshot, image and server.

Records are plain data held by :class:`~.state.CloudState`; the fake clients
turn them into the objects the real clients return. Every status lives in the
record's :class:`~.lifecycle.Lifecycle`.
"""

import dataclasses
import datetime
import hashlib

from karbor_volume_glance.testing.lifecycle import Lifecycle

GIB = 1024**3
IMAGE_HASH_ALGORITHM = "sha512"


@dataclasses.dataclass(eq=False)
class VolumeRecord:
    id: str
    name: str | None
    size: int
    data: bytes
    life: Lifecycle
    created_at: datetime.datetime
    user_id: str
    project_id: str
    description: str | None = None
    snapshot_id: str | None = None
    source_volid: str | None = None
    availability_zone: str = "nova"
    volume_type: str = "__DEFAULT__"
    metadata: dict = dataclasses.field(default_factory=dict)
    image_metadata: dict | None = None
    bootable: bool = False
    uploading_image_id: str | None = None

    @property
    def status(self):
        return self.life.status


@dataclasses.dataclass(eq=False)
class SnapshotRecord:
    id: str
    volume_id: str
    size: int
    data: bytes
    life: Lifecycle
    created_at: datetime.datetime
    user_id: str
    project_id: str
    name: str | None = None
    description: str | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    image_metadata: dict | None = None
    bootable: bool = False

    @property
    def status(self):
        return self.life.status


@dataclasses.dataclass(eq=False)
class ImageRecord:
    id: str
    name: str | None
    owner: str
    life: Lifecycle
    created_at: datetime.datetime
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str = "shared"
    protected: bool = False
    min_disk: int = 0
    min_ram: int = 0
    os_hidden: bool = False
    tags: list = dataclasses.field(default_factory=list)
    properties: dict = dataclasses.field(default_factory=dict)
    data: bytes | None = None
    size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None

    @property
    def status(self):
        return self.life.status

    def store(self, data):
        """Keep ``data`` as the image's bytes with Glance's size and hashes."""
        self.data = bytes(data)
        self.size = len(self.data)
        self.checksum = hashlib.md5(self.data, usedforsecurity=False).hexdigest()
        self.os_hash_algo = IMAGE_HASH_ALGORITHM
        self.os_hash_value = hashlib.new(IMAGE_HASH_ALGORITHM, self.data).hexdigest()


@dataclasses.dataclass(eq=False)
class ServerRecord:
    id: str
    name: str
    created_at: datetime.datetime
    user_id: str
    project_id: str
    image_id: str | None = None
    flavor_id: str | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    status: str = "ACTIVE"


@dataclasses.dataclass(eq=False)
class AttachmentRecord:
    id: str
    server_id: str
    volume_id: str
    device: str
    attached_at: datetime.datetime
