"""The real cloud of ``tools/realcloud`` as the real-tier tests see it.

``tools/realcloud/up`` starts a one-node Ceph, Keystone, Glance (file store)
and Cinder on RBD on 127.0.0.1 and writes everything under one root
directory, ``KVG_REALCLOUD_ROOT``: clouds.yaml (clouds ``realcloud-admin``
and ``realcloud-demo``), ceph.conf, Glance's sqlite database. This module
reaches it with the real clients (python-cinderclient, python-glanceclient,
keystoneauth1 through openstacksdk's clouds.yaml loader) and reads volumes
back through librbd (Debian's rados/rbd bindings, which tox's realcloud
environment links into its venv with ``tools/realcloud/pybindings``).

:class:`RealCloud` fails with :class:`CloudMissing` when the cloud is not
there: the tests then fail, never skip. :class:`Unexpected` is what a
test's preconditions raise when the cloud, not the product, misbehaves, so
that such a failure is told apart from an assertion about the product.
"""

import contextlib
import hashlib
import io
import json
import os
import pathlib
import random
import sqlite3
import subprocess
import sys
import time
import uuid

MiB = 1 << 20
GiB = 1 << 30
REPO = pathlib.Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "realcloud"
ADMIN = "realcloud-admin"
DEMO = "realcloud-demo"
#: How long a volume, snapshot or image may take to settle.
TIMEOUT = 600
#: The tests' own clients retry a request whose connection failed (a busy
#: 2-core machine); the product's clients are left as the product makes them.
CONNECT_RETRIES = 3
#: The plugin's settings for the CLI: quicker polls than the default.
PLUGIN_CONF = "[volume_glance_plugin]\npoll_interval = 0.5\n"


class CloudMissing(RuntimeError):
    """The real cloud is not up (run tools/realcloud/up, or tox -e realcloud)."""


class Unexpected(RuntimeError):
    """The cloud (not the product under test) did not behave as a test needs."""


def require(condition, message):
    """Raise :class:`Unexpected` (not an AssertionError) unless ``condition``."""
    if not condition:
        raise Unexpected(message)


def kvg_command():
    """The product's CLI of this venv."""
    path = pathlib.Path(sys.executable).with_name("karbor-volume-glance")
    if not path.exists():
        raise CloudMissing(f"no karbor-volume-glance next to {sys.executable}")
    return str(path)


class Result:
    """A CLI run: exit status, stdout, stderr, and stdout as JSON if it is."""

    def __init__(self, args, completed):
        self.args = args
        self.rc = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr
        try:
            self.json = json.loads(self.out)
        except ValueError:
            self.json = None

    def __repr__(self):
        return (f"<karbor-volume-glance {' '.join(self.args)}: rc {self.rc}\n"
                f"stdout: {self.out[-2000:]}\nstderr: {self.err[-2000:]}>")


class RealCloud:
    """Clients, librbd and the CLI for the cloud under ``KVG_REALCLOUD_ROOT``."""

    def __init__(self, root=None):
        root = root or os.environ.get("KVG_REALCLOUD_ROOT")
        if not root:
            raise CloudMissing("KVG_REALCLOUD_ROOT is not set: run the real tier "
                               "with tox -e realcloud (or tools/realcloud/up and "
                               "eval \"$(tools/realcloud/env.sh)\")")
        self.root = pathlib.Path(root)
        self.clouds_yaml = self.root / "clouds.yaml"
        self.ceph_conf = str(self.root / "ceph" / "ceph.conf")
        if not self.clouds_yaml.exists():
            raise CloudMissing(f"no {self.clouds_yaml}: the real cloud is not up "
                               "(tools/realcloud/up)")
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        os.environ["CEPH_CONF"] = self.ceph_conf
        self._sessions = {}
        try:
            self.admin_project = self.session(ADMIN).get_project_id()
            self.demo_project = self.session(DEMO).get_project_id()
        except Exception as exc:
            raise CloudMissing(f"the real cloud under {root} does not answer: "
                               f"{type(exc).__name__}: {exc}") from exc

    # --- clients
    def session(self, cloud=ADMIN):
        if cloud not in self._sessions:
            import openstack.config

            region = openstack.config.OpenStackConfig(
                config_files=[str(self.clouds_yaml)]).get_one(cloud=cloud)
            self._sessions[cloud] = region.get_session()
        return self._sessions[cloud]

    def new_project(self, name, password="secret"):
        """A fresh project with a member user of the same name, as an admin
        makes one through Keystone's API: (project id, the user's session).
        :meth:`drop_project` deletes both."""
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import v3

        admin = self.session(ADMIN)
        identity = {"service_type": "identity", "interface": "public"}
        project = admin.post("/projects", endpoint_filter=identity, json={
            "project": {"name": name, "domain_id": "default"}}).json()["project"]
        user = admin.post("/users", endpoint_filter=identity, json={
            "user": {"name": name, "password": password, "domain_id": "default",
                     "default_project_id": project["id"]}}).json()["user"]
        [role] = admin.get("/roles", endpoint_filter=identity,
                           params={"name": "member"}).json()["roles"]
        admin.put(f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}",
                  endpoint_filter=identity)
        auth = v3.Password(auth_url=admin.auth.auth_url, username=name,
                           password=password, user_domain_id="default",
                           project_id=project["id"])
        return project["id"], ks_session.Session(auth=auth)

    def drop_project(self, project_id):
        """Delete what a project holds in Cinder and Glance, then the project
        and its user (named as the project)."""
        from cinderclient import exceptions
        from glanceclient import exc

        cc, gc = self.cinder(version="3.44"), self.glance()
        mine = {"all_tenants": 1, "project_id": project_id}
        volumes = cc.volumes.list(search_opts=mine)
        for volume in volumes:
            if volume.status not in ("available", "error"):
                cc.volumes.reset_state(volume, "available", attach_status="detached")
        # newest first, one at a time: a clone is newer than its source, and
        # Cinder's RBD driver keeps a source deleted while it still has
        # clones as "<name>.deleted", which a later test finds left in the
        # pool (seen with a clone of a Cinder snapshot already deleted)
        for volume in sorted(volumes, key=lambda v: v.created_at, reverse=True):
            with contextlib.suppress(exceptions.NotFound):
                cc.volumes.delete(volume, cascade=True)
            self.wait_gone(lambda v=volume.id: cc.volumes.get(v))
        for image in [i for i in gc.images.list(filters={"owner": project_id})]:
            if image.get("protected"):
                gc.images.update(image["id"], protected=False)
            deadline = time.monotonic() + 60
            while True:  # a clone's parent is freed a moment after the clone
                try:
                    gc.images.delete(image["id"])
                    break
                except exc.HTTPNotFound:
                    break
                except exc.HTTPConflict:
                    require(time.monotonic() < deadline,
                            f"image {image['id']} still in use")
                    time.sleep(0.5)
        admin = self.session(ADMIN)
        identity = {"service_type": "identity", "interface": "public"}
        name = admin.get(f"/projects/{project_id}",
                         endpoint_filter=identity).json()["project"]["name"]
        for user in admin.get("/users", endpoint_filter=identity,
                              params={"name": name}).json()["users"]:
            admin.delete(f"/users/{user['id']}", endpoint_filter=identity)
        admin.delete(f"/projects/{project_id}", endpoint_filter=identity)

    def cinder(self, cloud=ADMIN, version="3.0"):
        from cinderclient import client

        return client.Client(version, session=self.session(cloud),
                             region_name="RegionOne",
                             connect_retries=CONNECT_RETRIES)

    def glance(self, cloud=ADMIN):
        import glanceclient

        return glanceclient.Client("2", session=self.session(cloud),
                                   region_name="RegionOne",
                                   connect_retries=CONNECT_RETRIES)

    # --- waiting
    def wait(self, get, ok, timeout=TIMEOUT):
        """Poll ``get()`` until its status is in ``ok``; Unexpected on error,
        with what Cinder said about it (its user messages and log lines)."""
        deadline = time.monotonic() + timeout
        while True:
            thing = get()
            if thing.status in ok:
                return thing
            if thing.status.startswith("error"):
                raise Unexpected(f"{thing!r} went {thing.status}\n"
                                 + self.diagnosis(getattr(thing, "id", "")))
            require(time.monotonic() < deadline,
                    f"{thing!r} still {thing.status} after {timeout} s")
            time.sleep(0.5)

    def diagnosis(self, resource_id, lines=40):
        """Cinder's user messages about ``resource_id`` and the last lines of
        Cinder's logs that name it or follow it (a traceback), for a failure
        message: the cloud's own logs are purged when the tier ends."""
        said = []
        try:
            cc = self.cinder(version="3.3")
            said += [f"user message: {m.event_id} {m.user_message}"
                     for m in cc.messages.list()
                     if getattr(m, "resource_uuid", None) == resource_id]
        except Exception as exc:  # the diagnosis must not hide the failure
            said.append(f"(no user messages: {type(exc).__name__}: {exc})")
        for log in sorted((self.root / "os" / "log").glob("cinder-*.log")):
            try:
                text = log.read_text(errors="replace").splitlines()
            except OSError:
                continue
            hits = [i for i, line in enumerate(text) if resource_id in line]
            if hits:
                start = max(hits[-1] - lines // 2, 0)
                said.append(f"--- {log.name} (around its last line naming "
                            f"{resource_id})")
                said += text[start:hits[-1] + lines]
        return "\n".join(said) or (f"(nothing in Cinder's messages or logs "
                                    f"names {resource_id})")

    def wait_gone(self, get, timeout=TIMEOUT):
        from cinderclient import exceptions

        deadline = time.monotonic() + timeout
        while True:
            try:
                thing = get()
            except exceptions.NotFound:
                return
            require(thing.status != "error_deleting" and time.monotonic() < deadline,
                    f"{thing!r} not deleted: {thing.status}")
            time.sleep(0.5)

    # --- volumes
    def make_volume(self, name, data, *, image_properties=None, metadata=None,
                    cloud=ADMIN):
        """A 1 GiB volume holding ``data`` then zeros.

        With ``image_properties`` (a dict, maybe empty) the bytes go through
        a Glance image the volume is made from, as a user would: Cinder marks
        it bootable and copies the image's properties into its
        ``volume_image_metadata``. Without, a blank, non-bootable volume is
        written through librbd.
        """
        cc = self.cinder(cloud)
        if image_properties is None:
            volume = cc.volumes.create(size=1, name=name, metadata=metadata or {})
            volume = self.wait(lambda: cc.volumes.get(volume.id), ("available",))
            self.rbd_write(volume.id, 0, data)
        else:
            gc = self.glance(cloud)
            image = gc.images.create(name=f"{name}-source", disk_format="raw",
                                     container_format="bare", **image_properties)
            gc.images.upload(image.id, io.BytesIO(data), image_size=len(data))
            try:
                volume = self._volume_from_image(cc, name, image.id, metadata)
            finally:
                gc.images.delete(image.id)
        expected = volume_sha256(data)
        require(self.rbd_sha256(volume.id) == expected,
                f"volume {volume.id} does not hold the bytes written")
        return volume.id

    def _volume_from_image(self, cc, name, image_id, metadata, attempts=2):
        """A volume from an image; one more attempt if the cloud fails it
        (a test's precondition, not the product: the first failure's
        diagnosis is printed, and both are raised if the second fails too)."""
        failures = []
        while True:
            volume = cc.volumes.create(size=1, name=name, imageRef=image_id,
                                       metadata=metadata or {})
            try:
                return self.wait(lambda v=volume.id: cc.volumes.get(v), ("available",))
            except Unexpected as exc:
                failures.append(str(exc))
                print(f"the real cloud failed a volume from image {image_id} "
                      f"(attempt {len(failures)} of {attempts}): {exc}")
                with contextlib.suppress(Exception):
                    self.delete_volumes([volume.id])
                if len(failures) == attempts:
                    raise Unexpected("\n\n".join(failures)) from exc

    def delete_volumes(self, ids, cloud=ADMIN):
        from cinderclient import exceptions

        cc = self.cinder(cloud)
        for volume_id in ids:
            with contextlib.suppress(exceptions.NotFound):
                cc.volumes.delete(volume_id)
        for volume_id in ids:
            self.wait_gone(lambda v=volume_id: cc.volumes.get(v))

    def attach(self, volume_id):
        """In-use without Nova: an attachment (3.27), then completed (3.44)."""
        cc = self.cinder(version="3.44")
        connector = {"host": "realcloud-test", "ip": "127.0.0.1",
                     "initiator": "iqn.1993-08.org.debian:01:realcloud",
                     "platform": "x86_64", "os_type": "linux", "multipath": False}
        attachment = cc.attachments.create(volume_id, connector, str(uuid.uuid4()),
                                           mode="rw")
        attachment_id = (attachment["id"] if isinstance(attachment, dict)
                         else attachment.id)
        cc.attachments.complete(attachment_id)
        self.wait(lambda: cc.volumes.get(volume_id), ("in-use",))
        return attachment_id

    def detach(self, volume_id):
        """Available again: deleting the attachment would call Nova, which is
        not here, so reset the volume's status (Cinder drops the attachment)."""
        cc = self.cinder()
        cc.volumes.reset_state(cc.volumes.get(volume_id), "available",
                               attach_status="detached")
        self.wait(lambda: cc.volumes.get(volume_id), ("available",))

    # --- librbd
    @contextlib.contextmanager
    def rbd_image(self, name, pool="volumes", read_only=True):
        import rados
        import rbd

        cluster = rados.Rados(rados_id="admin", conffile=self.ceph_conf)
        cluster.connect(timeout=10)
        try:
            ioctx = cluster.open_ioctx(pool)
            try:
                image = rbd.Image(ioctx, name, read_only=read_only)
                try:
                    yield image
                finally:
                    image.close()
            finally:
                ioctx.close()
        finally:
            cluster.shutdown()

    def rbd_sha256(self, volume_id, step=4 * MiB):
        """sha256 of the whole RBD image behind a Cinder volume."""
        digest = hashlib.sha256()
        with self.rbd_image(f"volume-{volume_id}") as image:
            size = image.size()
            for offset in range(0, size, step):
                digest.update(image.read(offset, min(step, size - offset)))
        return digest.hexdigest()

    def rbd_read(self, volume_id, length, offset=0):
        """``length`` bytes of a Cinder volume's RBD image from ``offset``."""
        with self.rbd_image(f"volume-{volume_id}") as image:
            return image.read(offset, length)

    def rbd_write(self, volume_id, offset, data):
        with self.rbd_image(f"volume-{volume_id}", read_only=False) as image:
            image.write(data, offset)
            image.flush()

    def evict_watchers(self, volume_id, pool="volumes"):
        """Blocklist every client watching a volume's RBD image; their
        addresses. Cinder 29's RBD driver leaks the image handle it uploads
        from when the upload fails (``copy_volume_to_image`` opens it through
        os-brick and closes it only by garbage collection), so the volume
        stays busy, maybe until cinder-volume restarts. An operator evicts
        that one client (``ceph osd blocklist add``), as Ceph's and Cinder's
        docs say; the driver's other connections have other addresses."""
        import rados
        import rbd

        cluster = rados.Rados(rados_id="admin", conffile=self.ceph_conf)
        cluster.connect(timeout=10)
        try:
            ioctx = cluster.open_ioctx(pool)
            try:
                with rbd.Image(ioctx, f"volume-{volume_id}", read_only=True) as image:
                    addresses = [w["addr"] for w in image.watchers_list()]
            finally:
                ioctx.close()
            for address in addresses:
                ret, _, status = cluster.mon_command(json.dumps(
                    {"prefix": "osd blocklist", "blocklistop": "add",
                     "addr": address}), b"")
                require(ret == 0, f"could not blocklist {address}: {status}")
            return addresses
        finally:
            cluster.shutdown()

    def rbd_images(self, pool):
        import rados
        import rbd

        cluster = rados.Rados(rados_id="admin", conffile=self.ceph_conf)
        cluster.connect(timeout=10)
        try:
            ioctx = cluster.open_ioctx(pool)
            try:
                return set(rbd.RBD().list(ioctx))
            finally:
                ioctx.close()
        finally:
            cluster.shutdown()

    # --- what is left
    def temporaries(self):
        """The temporary_* volumes, snapshots and images of every project."""
        cc, gc = self.cinder(), self.glance()
        every = {"all_tenants": 1}
        found = [("volume", v.id, v.name) for v in cc.volumes.list(search_opts=every)]
        found += [("snapshot", s.id, s.name)
                  for s in cc.volume_snapshots.list(search_opts=every)]
        found += [("image", i.id, i.name) for i in gc.images.list()]
        return [item for item in found if (item[2] or "").startswith("temporary_")]

    def glance_db(self, sql, *params):
        """Rows of a query of Glance's sqlite database (deleted images too)."""
        path = self.root / "os" / "glance" / "glance.sqlite"
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db, db:
            return db.execute(sql, params).fetchall()

    def images_named(self, name, owner=None):
        """Every image of that name Glance ever had (deleted ones too)."""
        sql = "SELECT id FROM images WHERE name = ?"
        params = [name]
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        return sorted(row[0] for row in self.glance_db(sql, *params))

    def glance_store(self, backend, *options):
        """Restart Glance on ``file`` or ``rbd``, with KEY=VALUE options."""
        subprocess.run([str(TOOLS / "glance"), backend, *options], check=True,
                       env={**os.environ, "KVG_REALCLOUD_ROOT": str(self.root)},
                       stdout=subprocess.DEVNULL)

    @contextlib.contextmanager
    def glance_on(self, backend, *options):
        """Glance on ``backend`` with ``options`` inside; the file store after."""
        self.glance_store(backend, *options)
        try:
            yield
        finally:
            self.glance_store("file")


class Kvg:
    """The product's CLI against one cloud and one file bank."""

    def __init__(self, bank_url, config_file):
        self.bank_url = bank_url
        self.config_file = config_file

    def __call__(self, *args, cloud=ADMIN, config_file=None, fmt="json",
                 timeout=TIMEOUT):
        argv = ["--os-cloud", cloud, "--bank", self.bank_url,
                "--config-file", config_file or self.config_file]
        if fmt:
            argv += ["--format", fmt]
        argv += [str(a) for a in args]
        completed = subprocess.run([kvg_command(), *argv], capture_output=True,
                                   text=True, timeout=timeout)
        return Result(argv, completed)

    def ok(self, *args, **kwargs):
        """Run; Unexpected unless it succeeds."""
        result = self(*args, **kwargs)
        require(result.rc == 0, f"expected success: {result!r}")
        return result


def restored_ids(result):
    """A restore's original -> new volume ids, from its JSON output.

    ``new_volume_ids`` where the CLI prints a row per volume in ``volumes``
    (issue 12, D6); ``volumes`` itself where it is that mapping (before).
    """
    data = result.json or {}
    if isinstance(data.get("new_volume_ids"), dict):
        return data["new_volume_ids"]
    volumes = data.get("volumes")
    return volumes if isinstance(volumes, dict) else {}


def seeded(seed, size):
    return random.Random(seed).randbytes(size)


def volume_sha256(data, size=GiB):
    """sha256 of a volume of ``size`` holding ``data`` then zeros."""
    digest = hashlib.sha256(data)
    zeros = bytes(MiB)
    remaining = size - len(data)
    while remaining:
        n = min(remaining, MiB)
        digest.update(zeros[:n])
        remaining -= n
    return digest.hexdigest()


def manifest(bank_url, checkpoint_id, volume_id):
    """A backup's manifest, as the product reads it from the bank (the Python API)."""
    from karbor_volume_glance.bank import open_bank
    from karbor_volume_glance.operations import bookkeeping
    from karbor_volume_glance.standalone.checkpoints import CheckpointStore

    checkpoint = CheckpointStore(open_bank(bank_url)).get(checkpoint_id)
    return bookkeeping.read_manifest(checkpoint.get_resource_bank_section(volume_id))
