"""LocalCloud: Keystone, Cinder, Glance and Nova on one local port.

The real clients talk to it over HTTP exactly as to a devstack::

    with LocalCloud(tmp_path, status_delay=0.01, gib=1024 * 1024) as cloud:
        entry = cloud.cloud_config()          # a clouds.yaml entry (admin)
        session = cloud.session()             # or a keystoneauth1 session
        cinder = cinderclient.client.Client("3.1", session=session)

Volume, snapshot and image bytes live in sparse files under ``data_dir``
(:meth:`LocalCloud.volume_path`, :meth:`LocalCloud.image_path`); a volume of
size N holds ``N * gib`` bytes. Faults are armed with :meth:`LocalCloud.inject`
(see :mod:`.faults`); each status change lasts ``status_delay`` seconds
(:class:`.pacing.TimedPacer`). :func:`build_model` puts the services
together, for this front door and for ``FakeCloud``'s in-process one.
"""

import dataclasses

from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import (
    admin,
    app,
    blockstorage,
    catalog,
    cinder,
    compute,
    datafiles,
    faults,
    glance,
    identity,
    imagestore,
    jobs,
    keystone,
    nova,
    pacing,
    server,
    state,
)

LOG = logging.getLogger(__name__)

WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


@dataclasses.dataclass
class CloudContext:
    """What a Karbor-like service holds for a user: a token and its catalog."""

    project_id: str
    user_id: str
    auth_token: str
    service_catalog: list
    project_name: str = ""
    user_name: str = ""
    is_admin: bool = False

    def to_dict(self):
        return dataclasses.asdict(self)


def build_model(cloud, files, pacer, gib, region="RegionOne", users=None,
                glance_rbd_direct_url=False):
    """Give ``cloud`` the one model of the services and the WSGI app over it.

    Sets ``state``, ``files``, ``faults``, ``jobs``, ``catalog``,
    ``identity``, ``images``, ``volumes``, ``compute`` and ``app``;
    ``pacer(state, jobs)`` makes the pacer (:mod:`.pacing`).
    ``glance_rbd_direct_url``: Glance on Cinder's Ceph with direct URLs
    (see :mod:`.imagestore`).
    """
    cloud.state = state.State()
    cloud.files = files
    cloud.faults = faults.FaultRegistry()
    cloud.jobs = jobs.Jobs()
    cloud.pacer = pacer(cloud.state, cloud.jobs)
    cloud.catalog = catalog.Catalog(region)
    cloud.identity = identity.Identity(cloud.state, users)
    cloud.images = imagestore.ImageStore(cloud.state, files, cloud.pacer,
                                         rbd_direct_url=glance_rbd_direct_url)
    cloud.volumes = blockstorage.BlockStorage(
        cloud.state, files, cloud.jobs, cloud.images, cloud.pacer, gib
    )
    cloud.compute = compute.Compute(cloud.state, cloud.volumes, cloud.pacer)
    common = (cloud.identity, cloud.catalog, cloud.faults, cloud.jobs)
    cloud.app = app.LocalCloudApp({
        "identity": keystone.KeystoneService(*common),
        "volume": cinder.CinderService(*common, cloud.volumes),
        "image": glance.GlanceService(*common, cloud.images),
        "compute": nova.NovaService(*common, cloud.compute),
        "_localcloud": admin.AdminService(cloud.faults),
    })


class LocalCloud:
    """A local OpenStack (Keystone, Cinder, Glance, Nova) for the real clients.

    ``users`` maps user names to ``(password, project name)``; by default
    ``admin``/``secret`` in project ``admin`` (with the admin role) and
    ``demo``/``secret`` in project ``demo``. ``glance_rbd_direct_url``:
    Glance on the same Ceph as Cinder with ``show_image_direct_url = True``
    (a volume made from a raw image is a clone; the image cannot be deleted
    while it exists). ``stream_cap``: the most bytes per second each image
    download (each answer, so each connection) sends, None for no cap
    (:mod:`.throttle`).
    """

    def __init__(self, data_dir, host="127.0.0.1", port=0, status_delay=0.05,
                 region="RegionOne", gib=1024**3, users=None, threads=16,
                 glance_rbd_direct_url=False, stream_cap=None):
        if host in WILDCARD_HOSTS:
            raise ValueError(
                f"the local cloud does not listen on every interface ({host!r}): "
                "its fault endpoint takes no token; use 127.0.0.1"
            )
        if status_delay < 0:
            raise ValueError(f"status_delay must be >= 0, got {status_delay!r}")
        if isinstance(gib, bool) or not isinstance(gib, int) or gib < 1:
            raise ValueError(f"gib must be a positive integer, got {gib!r}")
        if stream_cap is not None and not stream_cap > 0:
            raise ValueError(f"stream_cap must be above 0, got {stream_cap!r}")
        self.host = host
        self.requested_port = port
        self.status_delay = status_delay
        self.region = region
        self.gib = gib
        self.threads = threads
        self.users = dict(users or identity.DEFAULT_USERS)
        build_model(
            self, datafiles.DataFiles(data_dir),
            lambda state, jobs: pacing.TimedPacer(state, jobs, status_delay),
            gib, region, self.users, glance_rbd_direct_url=glance_rbd_direct_url,
        )
        self.app.services["image"].stream_cap = stream_cap
        self._server = None

    # --- lifecycle --------------------------------------------------------

    def start(self):
        """Serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the local cloud is already started")
        if self.jobs.stopping:
            raise RuntimeError("a stopped local cloud cannot start again")
        self._server = server.BackgroundServer(self.app, self.host,
                                               self.requested_port, self.threads)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.catalog.base_url = f"http://{host}:{self._server.port}"
        self._server.start()
        LOG.info("Local cloud at %s (data in %s)", self.url, self.files.root)
        return self

    def stop(self):
        """Stop serving and end the background jobs (idempotent)."""
        self.jobs.stop(timeout=0)
        if self._server is not None:
            self._server.stop()
        self.jobs.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # --- where it is --------------------------------------------------------

    @property
    def port(self):
        if self._server is None:
            raise RuntimeError("the local cloud has not been started")
        return self._server.port

    @property
    def url(self):
        return self.catalog.url()

    @property
    def auth_url(self):
        return self.catalog.url("/identity/v3")

    @property
    def data_dir(self):
        return self.files.root

    def _user_of(self, project):
        for name, (_password, project_name) in self.users.items():
            if project_name == project:
                return name
        raise ValueError(f"no user of project {project!r} in the local cloud")

    def project_id(self, project="admin"):
        return self.identity.project_by_name(project).id

    def cloud_config(self, project="admin"):
        """A clouds.yaml ``clouds: {<name>: ...}`` entry for ``project``'s user."""
        user = self._user_of(project)
        return {
            "auth": {
                "auth_url": self.auth_url,
                "username": user,
                "password": self.users[user][0],
                "project_name": project,
                "user_domain_name": identity.DOMAIN_NAME,
                "project_domain_name": identity.DOMAIN_NAME,
            },
            "region_name": self.region,
            "interface": "public",
            "identity_api_version": 3,
        }

    def session(self, project="admin"):
        """A keystoneauth1 session with the password of ``project``'s user."""
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3

        auth = self.cloud_config(project)["auth"]
        return ks_session.Session(auth=v3.Password(**auth))

    def context(self, project="admin"):
        """A token of ``project``'s user and its catalog, issued in process."""
        user = self.identity.user_by_name(self._user_of(project))
        project_record = self.identity.project_by_name(project)
        token = self.identity.issue(user, project_record, ["password"])
        return CloudContext(
            project_id=project_record.id, user_id=user.id, auth_token=token.id,
            service_catalog=self.catalog.for_project(project_record.id),
            project_name=project, user_name=user.name, is_admin=token.is_admin,
        )

    # --- for tests ------------------------------------------------------------

    def volume_path(self, volume_id):
        return self.files.volume_path(volume_id)

    def snapshot_path(self, snapshot_id):
        return self.files.snapshot_path(snapshot_id)

    def image_path(self, image_id):
        return self.files.image_path(image_id)

    def inject(self, step, fault, times=1, **options):
        """Arm a fault (see :mod:`.faults`); ValueError if it makes no sense."""
        return self.faults.inject(step, fault, times, **options)

    @property
    def calls(self):
        """The steps requested so far, in order (see :mod:`.faults`)."""
        return self.faults.calls

    def clear_faults(self):
        self.faults.clear()
