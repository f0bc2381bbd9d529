"""The local cloud in process: the real clients, no socket, polls instead of time.

Tests build one :class:`FakeCloud`, put the user's volumes and servers in it
(:meth:`FakeCloud.add_volume`, :meth:`FakeCloud.add_server`), hand its
:meth:`FakeCloud.client_factory` to the code under test and then check what
became of the cloud: the bytes (:meth:`FakeCloud.volume_data`,
:meth:`FakeCloud.image_data`), what the clients created and what of it is left
(:meth:`FakeCloud.created`, :meth:`FakeCloud.leftovers`) and which steps were
called (:attr:`FakeCloud.calls`). Faults are armed with
:meth:`FakeCloud.inject` (see :mod:`.localcloud.faults`).

It is the local cloud's one model of Keystone, Cinder, Glance and Nova
(:mod:`.localcloud`) behind another front door: the client factory hands out
the real python-cinderclient, glanceclient and novaclient, whose keystoneauth1
session sends every request to the local cloud's WSGI application in this
process (:mod:`.localcloud.inprocess`). Bytes live in memory; a transition
(``creating`` -> ``available``) lasts ``transition_polls`` gets of the
resource instead of seconds (:class:`.localcloud.pacing.PollPacer`), and
:meth:`FakeCloud.settle` ends them all.
"""

import dataclasses
import datetime
import hashlib
import secrets
import uuid

from keystoneauth1 import access
from keystoneauth1.identity import access as access_plugin

from karbor_volume_glance.testing.localcloud import datafiles, pacing
from karbor_volume_glance.testing.localcloud.cloud import build_model
from karbor_volume_glance.testing.localcloud.state import (
    Attachment,
    Image,
    Project,
    Server,
    Snapshot,
    User,
    Volume,
    new_uuid,
    utcnow,
)

__all__ = ["FakeCloud", "FakeContext"]

#: Where the in-process services seem to be; nothing listens there.
BASE_URL = "http://fakecloud.invalid"
SERVICES = ("cinder", "glance", "nova")
GIB = 1024**3


@dataclasses.dataclass
class FakeContext:
    """A stand-in for Karbor's RequestContext, as far as client factories use it."""

    project_id: str
    user_id: str
    auth_token: str = "fake-token"
    service_catalog: tuple | list = ()
    is_admin: bool = False
    project_name: str | None = None
    project_domain_name: str | None = None
    request_id: str = dataclasses.field(default_factory=lambda: f"req-{uuid.uuid4()}")

    def to_dict(self):
        return dataclasses.asdict(self)


def _naive_utc(moment):
    if moment is None:
        return utcnow()
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


class FakeCloud:
    """Volumes, snapshots, images, servers and attachments of one project."""

    def __init__(self, transition_polls=1, project_id="fake-project",
                 user_id="fake-user", glance_rbd_direct_url=False,
                 project_name=None):
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
        #: the project's name (default: its id); two clouds with one name
        #: and two ids are one tenant at two sites
        self.project_name = project_name or project_id
        build_model(
            self, datafiles.MemoryStore(),
            lambda state, _jobs: pacing.PollPacer(state, transition_polls), GIB,
            glance_rbd_direct_url=glance_rbd_direct_url,
        )
        self.catalog.base_url = BASE_URL
        self.catalog.interfaces = ("public",)
        project = Project(project_id, self.project_name)
        self._user = User(user_id, user_id, secrets.token_urlsafe(16), project_id)
        self.state.projects[project.id] = project
        self.state.users[self._user.id] = self._user
        self._auth = None
        self._cinder_version = None

    @property
    def lock(self):
        """The lock that guards :attr:`state`."""
        return self.state.lock

    # --- setting the scene ---------------------------------------------------

    def add_volume(
        self, data=b"", size=1, name=None, status="available", server_id=None,
        **attributes,
    ):
        """Put a user's volume in the cloud (not counted as created by clients).

        With ``server_id`` the volume is attached to that server and
        ``in-use``. ``attributes`` are fields of the volume's record
        (``bootable``, ``image_metadata``, ``metadata``, ``volume_type``,
        ``description``, ``availability_zone``...). Returns the volume id.
        """
        with self.lock:
            if server_id is not None and server_id not in self.state.servers:
                raise ValueError(f"no server {server_id!r} in the fake cloud")
            if server_id is not None and status == "available":
                status = "in-use"
            volume = Volume(id=new_uuid(), project_id=self.project_id,
                            user_id=self.user_id, size=size, name=name,
                            status=status, **attributes)
            if server_id is not None:
                volume.attachment = Attachment(
                    id=new_uuid(), volume_id=volume.id, server_id=server_id,
                    device=self.compute.free_device(server_id),
                    attached_at=utcnow(),
                )
            self.state.volumes[volume.id] = volume
            self.files.put("volumes", volume.id, data)
            return volume.id

    def add_snapshot(self, volume_id, name=None, status="available",
                     created_at=None):
        """Put a user's snapshot of a volume in the cloud; returns its id.

        It holds the volume's current data; ``created_at`` (an aware
        datetime) defaults to now.
        """
        with self.lock:
            volume = self._existing("volume", volume_id)
            snapshot = Snapshot(id=new_uuid(), project_id=self.project_id,
                                user_id=self.user_id, volume_id=volume.id,
                                size=volume.size, name=name, status=status,
                                created_at=_naive_utc(created_at))
            self.state.snapshots[snapshot.id] = snapshot
            self.files.put("snapshots", snapshot.id,
                           self.files.get("volumes", volume.id) or b"")
            return snapshot.id

    def write_volume(self, volume_id, offset, data):
        """Overwrite ``data`` at ``offset`` of a volume's data, as a guest would."""
        with self.lock:
            volume = self._existing("volume", volume_id)
            current = bytearray(self.files.get("volumes", volume_id) or b"")
            end = offset + len(data)
            if end > volume.size * GIB:
                raise ValueError(f"write past the end of volume {volume_id}")
            if end > len(current):
                current.extend(bytes(end - len(current)))
            current[offset:end] = data
            self.files.put("volumes", volume_id, current)

    def add_server(self, name="server"):
        """Put a user's server in the cloud; returns its id."""
        with self.lock:
            server = Server(id=new_uuid(), project_id=self.project_id,
                            user_id=self.user_id, name=name, image_ref=None,
                            flavor_ref="1", status="ACTIVE", task_state=None)
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
        data = bytes(data)
        with self.lock:
            image = Image(
                id=new_uuid(), owner=self.project_id, name=name, status="active",
                disk_format=disk_format, container_format=container_format,
                properties=dict(properties), size=len(data),
                virtual_size=len(data) if disk_format == "raw" else None,
                checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                os_hash_algo=self.images.hashing_algorithm,
                os_hash_value=hashlib.new(self.images.hashing_algorithm,
                                          data).hexdigest(),
            )
            self.state.images[image.id] = image
            self.files.put("images", image.id, data)
            return image.id

    def context(self):
        """A request context for this cloud's project and user."""
        return FakeContext(project_id=self.project_id, user_id=self.user_id,
                           project_name=self.project_name,
                           project_domain_name="Default")

    def client_factory(self):
        """An object whose ``create_client(service, context)`` gives real clients."""
        return _ClientFactory(self)

    def session(self, project_id=None):
        """A keystoneauth1 session served in process.

        Of this cloud's user, or of a user of another project ``project_id``
        (made on first use: to see what one project may not see of another).
        """
        from keystoneauth1 import session as ks_session

        from karbor_volume_glance.testing.localcloud.inprocess import (
            InProcessSession,
        )

        with self.lock:
            if project_id not in (None, self.project_id):
                auth = self._auth_of(self._other_user(project_id))
            else:
                if self._auth is None:
                    self._auth = self._auth_of(self._user)
                auth = self._auth
        return ks_session.Session(auth=auth, session=InProcessSession(self.app))

    def _other_user(self, project_id):
        user_id = f"{project_id}-user"
        if project_id not in self.state.projects:
            self.state.projects[project_id] = Project(project_id, project_id)
            self.state.users[user_id] = User(user_id, user_id,
                                             secrets.token_urlsafe(16),
                                             project_id)
        return self.state.users[user_id]

    def _auth_of(self, user):
        project = self.state.projects[user.project_id]
        token = self.identity.issue(user, project, ["password"])
        body = self.app.services["identity"].token_body(token)
        return _TokenPlugin(access.create(body=body, auth_token=token.id))

    # --- looking at the outcome ----------------------------------------------

    def volume_data(self, volume_id):
        with self.lock:
            self._existing("volume", volume_id)
            return self.files.get("volumes", volume_id) or b""

    def image_data(self, image_id):
        """The bytes of an image; None while it has none (not yet uploaded)."""
        with self.lock:
            self._existing("image", image_id)
            return self.files.get("images", image_id)

    def status_of(self, kind, resource_id):
        """Current status of a resource without polling it; None once gone."""
        with self.lock:
            record = self.state.records_of(kind).get(resource_id)
            return None if record is None else record.status

    def attachments(self):
        """``(server_id, volume_id, device)`` of every attachment."""
        with self.lock:
            return [
                (v.attachment.server_id, v.id, v.attachment.device)
                for v in self.state.volumes.values() if v.attachment is not None
            ]

    def created(self):
        """``(kind, id, name)`` of every resource the clients created."""
        with self.lock:
            return list(self.state.created)

    def leftovers(self, keep=()):
        """The created resources that still exist, in any status, minus ``keep``."""
        keep = set(keep)
        with self.lock:
            return [
                (kind, resource_id, name)
                for kind, resource_id, name in self.state.created
                if resource_id not in keep
                and resource_id in self.state.records_of(kind)
            ]

    @property
    def calls(self):
        """Names of the steps the clients were called for, in order."""
        return self.faults.calls

    def settle(self):
        """Let every resource reach the end of its transitions, as if time passed."""
        self.pacer.settle()

    @property
    def honours_range(self):
        """Whether image downloads answer Range requests (False: always 200)."""
        return self.app.services["image"].honours_range

    @honours_range.setter
    def honours_range(self, value):
        self.app.services["image"].honours_range = value

    # --- faults --------------------------------------------------------------

    def inject(self, step, fault, times=1, **options):
        """Make the next ``times`` calls of ``step`` suffer ``fault``."""
        self.faults.inject(step, fault, times, **options)

    def clear_faults(self):
        self.faults.clear()

    def _existing(self, kind, resource_id):
        record = self.state.records_of(kind).get(resource_id)
        if record is None:
            raise KeyError(f"no {kind} {resource_id!r} in the fake cloud")
        return record


class _TokenPlugin(access_plugin.AccessInfoPlugin):
    """keystoneauth1's plugin for a token issued in process, endpoints memoized.

    The catalog of a FakeCloud never changes, so an endpoint once found is
    kept instead of searched for in the catalog again on every request.
    """

    def __init__(self, auth_ref):
        super().__init__(auth_ref)
        self._endpoints = {}

    def get_endpoint(self, session, **kwargs):
        try:
            key = tuple(sorted(kwargs.items()))
            hash(key)
        except TypeError:
            return super().get_endpoint(session, **kwargs)
        if key not in self._endpoints:
            self._endpoints[key] = super().get_endpoint(session, **kwargs)
        return self._endpoints[key]


class _ClientFactory:
    """``create_client(service, context)`` as Karbor's ClientFactory offers it."""

    def __init__(self, cloud):
        self.cloud = cloud

    def create_client(self, service, context=None, **kwargs):
        """A new real client of ``service`` (cinder, glance or nova)."""
        from karbor_volume_glance.cloud import factory

        if service not in SERVICES:
            raise ValueError(
                f"the fake cloud has no service {service!r}; "
                f"it has: {', '.join(SERVICES)}"
            )
        session = self.cloud.session()
        if service != "cinder":
            return factory.make_client(service, session)
        from cinderclient import client as cinder_client

        with self.cloud.lock:  # the version is the cloud's: negotiate it once
            if self.cloud._cinder_version is None:
                self.cloud._cinder_version = factory.negotiated_cinder_version(
                    session)
        return cinder_client.Client(self.cloud._cinder_version, session=session)
