"""The local cloud's records and the one lock that guards them.

Every service reads and changes :class:`State` holding :attr:`State.lock`;
background jobs take the same lock for each status change and never hold it
while bytes are copied. Records are plain dataclasses; the HTTP layers turn
them into each service's JSON.
"""

import dataclasses
import datetime
import threading
import uuid


def utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def new_uuid():
    return str(uuid.uuid4())


def new_hex_id():
    """Keystone-style ids: 32 hex digits."""
    return uuid.uuid4().hex


@dataclasses.dataclass
class Project:
    id: str
    name: str
    domain_id: str = "default"


@dataclasses.dataclass
class User:
    id: str
    name: str
    password: str
    project_id: str
    roles: tuple = ("member", "reader")
    domain_id: str = "default"


@dataclasses.dataclass
class Token:
    id: str
    user: User
    project: Project | None
    roles: tuple
    methods: tuple
    issued_at: datetime.datetime
    expires_at: datetime.datetime
    audit_id: str

    @property
    def project_id(self):
        return self.project.id if self.project else None

    @property
    def user_id(self):
        return self.user.id

    @property
    def is_admin(self):
        return "admin" in self.roles


@dataclasses.dataclass
class Attachment:
    id: str
    volume_id: str
    server_id: str
    device: str
    attached_at: datetime.datetime | None = None


@dataclasses.dataclass
class Volume:
    id: str
    project_id: str
    user_id: str
    size: int
    name: str | None = None
    description: str | None = None
    status: str = "creating"
    volume_type: str = "__DEFAULT__"
    metadata: dict = dataclasses.field(default_factory=dict)
    snapshot_id: str | None = None
    source_volid: str | None = None
    image_metadata: dict = dataclasses.field(default_factory=dict)
    attachment: Attachment | None = None
    bootable: bool = False
    uploading_image_id: str | None = None
    availability_zone: str = "nova"
    multiattach: bool = False
    #: The image this volume is a copy-on-write clone of (Glance on RBD with
    #: direct URLs): that image cannot be deleted while the volume exists.
    cloned_from_image: str | None = None
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime.datetime | None = None


@dataclasses.dataclass
class Snapshot:
    id: str
    project_id: str
    user_id: str
    volume_id: str
    size: int
    name: str | None = None
    description: str | None = None
    status: str = "creating"
    metadata: dict = dataclasses.field(default_factory=dict)
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime.datetime | None = None


@dataclasses.dataclass
class Image:
    id: str
    owner: str
    name: str | None = None
    status: str = "queued"
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    disk_format: str | None = None
    container_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    tags: list = dataclasses.field(default_factory=list)
    properties: dict = dataclasses.field(default_factory=dict)
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime.datetime = dataclasses.field(default_factory=utcnow)


@dataclasses.dataclass
class Server:
    id: str
    project_id: str
    user_id: str
    name: str
    image_ref: str | None
    flavor_ref: str
    status: str = "BUILD"
    task_state: str | None = "scheduling"
    metadata: dict = dataclasses.field(default_factory=dict)
    created_at: datetime.datetime = dataclasses.field(default_factory=utcnow)
    updated_at: datetime.datetime = dataclasses.field(default_factory=utcnow)


class State:
    """Projects, users, tokens, volumes, snapshots, images and servers."""

    def __init__(self):
        self.lock = threading.RLock()
        self.projects = {}
        self.users = {}
        self.tokens = {}
        self.volumes = {}
        self.snapshots = {}
        self.images = {}
        self.servers = {}
        self.messages = {}  # Cinder's user messages (:mod:`.messages`)
        self.created = []  # (kind, id, name) of what requests created

    def records_of(self, kind):
        """The records of one kind: volume, snapshot, image or server."""
        return {"volume": self.volumes, "snapshot": self.snapshots,
                "image": self.images, "server": self.servers}[kind]

    def add(self, kind, record):
        """Keep a record a request made, and remember it was made (hold the lock)."""
        self.records_of(kind)[record.id] = record
        self.created.append((kind, record.id, record.name))

    @staticmethod
    def set_status(record, status):
        """Change a record's status and its ``updated_at`` (hold the lock)."""
        record.status = status
        record.updated_at = utcnow()

    def attachments_of(self, server_id):
        """The attachments of a server, in device order (hold the lock)."""
        found = [
            volume.attachment
            for volume in self.volumes.values()
            if volume.attachment and volume.attachment.server_id == server_id
        ]
        return sorted(found, key=lambda attachment: attachment.device)
