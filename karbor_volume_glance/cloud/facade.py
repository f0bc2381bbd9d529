"""The narrow facade through which operations talk to Cinder, Glance and Nova.

Operations never hold a client: they ask this facade to create, wait for,
stream and delete snapshots, volumes and images, and to attach volumes to
servers and detach them. It hides the clients' return
shapes (cinderclient objects, glanceclient models, ``(resp, body)`` tuples),
turns their exceptions into :class:`~karbor_volume_glance.exceptions.CloudError`
naming the call and the resource, and waits with :mod:`.polling`. When a
volume, a snapshot or an upload to an image fails, the error carries
Cinder's reason: its newest user message about the resource (microversion
3.3, asked for by :mod:`.factory`), as ``cinder_reason``.
"""

import contextlib
import dataclasses
import datetime
import functools
import time

from cinderclient import exceptions as cinder_exc
from glanceclient import exc as glance_exc
from novaclient import exceptions as nova_exc
from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.cloud import download, polling

LOG = logging.getLogger(__name__)

NOT_FOUND = (cinder_exc.NotFound, glance_exc.HTTPNotFound, nova_exc.NotFound)
FORBIDDEN = (cinder_exc.Forbidden, glance_exc.HTTPForbidden, nova_exc.Forbidden)

VOLUME_USABLE = frozenset({"available", "in-use"})
VOLUME_AVAILABLE = frozenset({"available"})
#: Statuses from which Cinder refuses to delete a volume until they pass.
VOLUME_BUSY = frozenset(
    {"creating", "attaching", "detaching", "uploading", "downloading",
     "backing-up", "restoring-backup", "extending", "retyping", "reserved",
     "maintenance"}
)
SNAPSHOT_AVAILABLE = frozenset({"available"})
SNAPSHOT_BUSY = frozenset({"creating", "backing-up", "restoring"})
#: The longest pause before deleting again a resource Cinder's driver refused
#: to delete as busy (RBD lets a crashed client's watch expire in 30 s).
BUSY_RETRY_MAX = 30.0
IMAGE_ACTIVE = frozenset({"active"})
IMAGE_FAILED = frozenset({"killed", "deleted", "pending_delete", "deactivated"})
IMAGE_GONE = frozenset({"deleted", "pending_delete"})
VOLUME_IN_USE = frozenset({"in-use"})
#: Statuses a volume passes through while Nova attaches or detaches it.
VOLUME_MOVING = frozenset({"attaching", "detaching", "reserved"})


def forbidden(exc):
    """Whether a CloudError is the service's 403 (a policy, a protection)."""
    return isinstance(exc.__cause__, FORBIDDEN)


class UploadRefused(exceptions.CloudError):
    """Cinder refused an upload-to-image (HTTP 400), most often because the
    volume is not ``available``. Nothing was made."""

    def __init__(self, volume_id, reason, message):
        self.reason = reason
        super().__init__(message, kind="volume", resource_id=volume_id)


class ForcedUploadRefused(UploadRefused):
    """Cinder refused a forced upload-to-image (HTTP 400): it ignores
    ``force`` unless its operator set ``enable_force_upload`` (off by
    default), so an in-use volume "must be available". Nothing was made."""

    def __init__(self, volume_id, reason):
        super().__init__(
            volume_id, reason,
            f"Cinder refused the forced upload of volume {volume_id} to an "
            f"image: {reason} (Cinder ignores force unless its "
            "enable_force_upload option is true)")


def _cinder_failure(status):
    """Cinder's failure statuses: every ``error*`` and a resource being removed."""
    return status.startswith("error") or status in ("deleting", "deleted")


def _field(resource, name, default=None):
    """Read a field of a client object or of a dict-like model."""
    try:
        return resource[name]
    except (TypeError, KeyError):
        return getattr(resource, name, default)


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    """What protect needs to know of a snapshot."""

    id: str
    volume_id: str
    status: str
    created_at: datetime.datetime | None
    size: int | None = None


@dataclasses.dataclass(frozen=True)
class Tagged:
    """A snapshot, volume or image found by its tags."""

    kind: str
    id: str
    name: str | None
    status: str | None
    tags: dict


def parse_time(value):
    """An aware UTC datetime from a Cinder/Glance time; None if there is none.

    Cinder writes ``2026-11-22T04:51:15.000000`` (UTC, no zone); anything
    with a zone is converted to UTC.
    """
    if not value:
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


class Cloud:
    """Cinder, Glance and Nova, as the operations need them, for one request
    context."""

    def __init__(self, client_factory, context, settings, sleep=time.sleep):
        self._factory = client_factory
        self._context = context
        self._settings = settings
        self._sleep = sleep
        # the image wait_image last saw active, by id: one at most (a
        # restore waits for images it never asks image_info of, and a
        # facade may live as long as a conductor); another thread's wait in
        # between costs image_info its GET, as before
        self._active_images = {}

    @functools.cached_property
    def cinder(self):
        return self._create_client("cinder")

    @functools.cached_property
    def glance(self):
        return self._create_client("glance")

    @functools.cached_property
    def nova(self):
        return self._create_client("nova")

    def _create_client(self, service):
        with self._calling(f"creating the {service} client", service, None):
            return self._factory.create_client(service, self._context)

    @contextlib.contextmanager
    def _calling(self, action, kind, resource_id):
        """Turn any client error into a CloudError that says what we were doing."""
        try:
            yield
        except exceptions.VolumeGlanceError:
            raise
        except Exception as exc:
            raise exceptions.CloudError(
                f"{action} failed: {type(exc).__name__}: {exc}",
                kind=kind,
                resource_id=resource_id,
            ) from exc

    def _status(self, manager, kind, resource_id):
        """The resource's status, or polling.GONE if it no longer exists."""
        with self._calling(f"getting {kind} {resource_id}", kind, resource_id):
            try:
                return _field(manager.get(resource_id), "status")
            except NOT_FOUND:
                return polling.GONE

    def _settle(self, fetch, kind, resource_id, busy, timeout):
        """Wait while the status is in ``busy``; return it, or GONE."""
        status = fetch()
        if status in busy:
            try:
                status = self._wait(
                    fetch, kind, resource_id, lambda s: s not in busy,
                    lambda s: False, timeout,
                    expected=["not " + "/".join(sorted(busy))],
                )
            except exceptions.ResourceGone:
                return polling.GONE
        return status

    def _wait(self, fetch, kind, resource_id, success, failure, timeout,
              expected=None):
        return polling.wait_for_status(
            fetch, kind=kind, resource_id=resource_id, success=success,
            failure=failure, timeout=timeout, expected=expected,
            max_interval=self._settings.poll_interval, sleep=self._sleep,
        )

    def _wait_gone(self, fetch, kind, resource_id, timeout, gone_statuses=(),
                   refused=()):
        polling.wait_until_gone(
            fetch, kind=kind, resource_id=resource_id, timeout=timeout,
            max_interval=self._settings.poll_interval,
            gone_statuses=gone_statuses, failure={"error_deleting"},
            refused=refused, sleep=self._sleep,
        )

    def _delete_cinder(self, kind, resource_id, fetch, busy, timeout, delete):
        """Delete a Cinder volume or snapshot and wait until it is gone.

        Cinder's manager puts a resource its driver refuses to delete as busy
        back to ``available`` (an RBD image a crashed client still watches:
        "may be resolved by retrying the delete after 30 seconds"); that is
        deleted again, after a pause doubling from ``poll_interval`` to
        :data:`BUSY_RETRY_MAX`, until ``timeout`` runs out. Then, or on
        ``error_deleting``, ResourceFailed (DeletionRefused: how many times)
        names it.
        """
        deadline = time.monotonic() + timeout
        pauses = polling.intervals(BUSY_RETRY_MAX, self._settings.poll_interval)
        status = self._settle(fetch, kind, resource_id, busy, timeout)
        attempts = 0
        while True:
            if status is polling.GONE:
                return
            if status != "deleting":
                attempts += 1
                with self._calling(f"deleting {kind} {resource_id}", kind,
                                   resource_id):
                    try:
                        delete(resource_id)
                    except NOT_FOUND:
                        return
            remaining = max(deadline - time.monotonic(), 0.001)
            try:
                self._wait_gone(fetch, kind, resource_id, remaining,
                                refused={"available"})
                return
            except exceptions.DeletionRefused as exc:
                remaining = deadline - time.monotonic()
                pause = next(pauses)
                if remaining <= pause:
                    raise exceptions.DeletionRefused(
                        kind, resource_id, exc.status, attempts) from None
                LOG.warning("Cinder's driver refused to delete %s %s as busy "
                            "(deletion %d); deleting it again in %.1f s",
                            kind, resource_id, attempts, pause)
                self._sleep(pause)
                status = fetch()

    # --- volumes --------------------------------------------------------

    def cinder_reason(self, resource_id, since=None):
        """Cinder's newest user message about a resource (written after
        ``since``, give or take :data:`MESSAGE_CLOCK_SKEW`); None if it has
        none or cannot say (a server older than microversion 3.3). Never
        raises: it only adds to an error being reported."""
        cinder = self.cinder
        if not _supports(cinder, "3.3"):
            return None
        try:
            if _supports(cinder, "3.5"):
                found = cinder.messages.list(
                    search_opts={"resource_uuid": resource_id},
                    sort="created_at:desc")
            else:
                found = cinder.messages.list()
            found = [m for m in found
                     if _field(m, "resource_uuid") == resource_id
                     and _recent(_field(m, "created_at"), since)]
        except Exception:
            LOG.debug("Could not read Cinder's messages about %s", resource_id,
                      exc_info=True)
            return None
        if not found:
            return None
        newest = max(found, key=lambda m: str(_field(m, "created_at") or ""))
        return _field(newest, "user_message")

    @contextlib.contextmanager
    def _explained(self, resource_id):
        """Add Cinder's reason about ``resource_id`` to a failed wait."""
        since = datetime.datetime.now(datetime.UTC)
        try:
            yield
        except (exceptions.ResourceFailed, exceptions.ResourceGone) as exc:
            reason = self.cinder_reason(resource_id, since)
            if reason:
                exc.cinder_reason = reason
                exc.args = (f"{exc.args[0]}; Cinder says: {reason}",
                            *exc.args[1:])
            raise

    def get_volume(self, volume_id):
        with self._calling(f"getting volume {volume_id}", "volume", volume_id):
            return self.cinder.volumes.get(volume_id)

    def _volume_status(self, volume_id):
        return self._status(self.cinder.volumes, "volume", volume_id)

    def wait_volume(self, volume_id, success=VOLUME_AVAILABLE):
        """Wait until the volume has a status in ``success``; return it."""
        with self._explained(volume_id):
            return self._wait(
                functools.partial(self._volume_status, volume_id), "volume",
                volume_id, success, _cinder_failure,
                self._settings.volume_timeout,
            )

    def check_volume_usable(self, volume_id):
        """With one GET, refuse a volume that does not exist (or this project
        cannot see: ResourceGone) or is in one of Cinder's failure statuses
        (ResourceUnusable, with Cinder's reason). A volume on its way to
        available or in-use passes: the operation waits for it. Returns the
        status."""
        with self._explained(volume_id):
            status = self._volume_status(volume_id)
            if status is polling.GONE:
                raise exceptions.ResourceGone("volume", volume_id, VOLUME_USABLE,
                                              existed=False)
            if _cinder_failure(status):
                raise exceptions.ResourceUnusable("volume", volume_id, status,
                                                  VOLUME_USABLE)
        return status

    def create_volume(self, size, name, description=None, snapshot_id=None,
                      image_id=None, volume_type=None, availability_zone=None,
                      metadata=None):
        source = snapshot_id or image_id
        with self._calling(f"creating volume {name!r}", "volume", source):
            volume = self.cinder.volumes.create(
                size, snapshot_id=snapshot_id, imageRef=image_id, name=name,
                description=description, volume_type=volume_type,
                availability_zone=availability_zone, metadata=metadata,
            )
        LOG.info("Created volume %s (%s) from %s", volume.id, name, source)
        return volume.id

    def delete_volume(self, volume_id):
        """Delete a volume and wait until it is gone (idempotent; a deletion
        refused as busy is tried again, see :meth:`_delete_cinder`)."""
        self._delete_cinder(
            "volume", volume_id, functools.partial(self._volume_status, volume_id),
            VOLUME_BUSY, self._settings.volume_timeout, self.cinder.volumes.delete)
        LOG.info("Deleted volume %s", volume_id)

    def remove_volume_metadata(self, volume_id, keys):
        """Remove ``keys`` from a volume's metadata (the others stay)."""
        with self._calling(f"removing metadata {sorted(keys)} of volume "
                           f"{volume_id}", "volume", volume_id):
            current = dict(_field(self.cinder.volumes.get(volume_id), "metadata")
                           or {})
            kept = {key: value for key, value in current.items()
                    if key not in keys}
            if kept != current:
                self.cinder.volumes.update_all_metadata(volume_id, kept)

    def volume_exists(self, volume_id):
        """Whether the volume exists (in any status)."""
        return self._volume_status(volume_id) is not polling.GONE

    def volume_attributes(self, volume):
        """What a restore needs to make the volume again (see
        :func:`volume_attributes`)."""
        return volume_attributes(volume)

    def set_bootable(self, volume_id, bootable):
        with self._calling(f"setting bootable={bootable} on volume {volume_id}",
                           "volume", volume_id):
            self.cinder.volumes.set_bootable(volume_id, bool(bootable))

    def set_volume_image_metadata(self, volume_id, metadata):
        """Set keys of a volume's ``volume_image_metadata``."""
        with self._calling(f"setting the image metadata of volume {volume_id}",
                           "volume", volume_id):
            self.cinder.volumes.set_image_metadata(volume_id, metadata)

    def unset_volume_image_metadata(self, volume_id, keys):
        """Remove keys from a volume's ``volume_image_metadata``."""
        with self._calling(f"removing image metadata {sorted(keys)} of volume "
                           f"{volume_id}", "volume", volume_id):
            self.cinder.volumes.delete_image_metadata(volume_id, list(keys))

    # --- what the target offers: types, zones, quotas ---------------------

    def volume_types(self):
        """``{name: {"id", "extra_specs"}}`` of the volume types we may use."""
        with self._calling("listing volume types", "volume_type", None):
            types = self.cinder.volume_types.list()
        return {_field(t, "name"): {"id": _field(t, "id"),
                                    "extra_specs": _field(t, "extra_specs") or {}}
                for t in types}

    def availability_zones(self):
        """The names of Cinder's available availability zones."""
        with self._calling("listing availability zones", "availability_zone",
                           None):
            zones = self.cinder.availability_zones.list(detailed=False)
        return {_field(z, "zoneName") for z in zones
                if (_field(z, "zoneState") or {}).get("available", True)}

    def volume_limits(self):
        """Cinder's absolute limits of this project (``GET /limits``)."""
        with self._calling("getting the volume limits", "limits", None):
            limits = self.cinder.limits.get()
        return {limit.name: limit.value for limit in limits.absolute}

    def volume_quota_usage(self, project_id):
        """``{quota name: {"limit", "in_use", "reserved"}}`` of the project, or
        None where policy does not let the project read its quota set."""
        with self._calling(f"getting the volume quotas of project {project_id}",
                           "quota", project_id):
            try:
                quota_set = self.cinder.quotas.get(project_id, usage=True)
            except (cinder_exc.Forbidden, cinder_exc.NotFound) as exc:
                LOG.info("Cannot read the quota set of project %s (%s): the "
                         "per-type quotas are not checked", project_id, exc)
                return None
        info = getattr(quota_set, "_info", None) or {}
        return {name: value for name, value in info.items()
                if isinstance(value, dict) and "limit" in value}

    def upload_volume_to_image(self, volume_id, image_name, force=False):
        """Start Cinder's upload-to-image (raw, bare, private); return the image id.

        A refused upload (HTTP 400) raises :class:`UploadRefused`, a refused
        ``force`` upload :class:`ForcedUploadRefused`.
        """
        action = f"uploading volume {volume_id} to image {image_name!r}"
        with self._calling(action, "volume", volume_id):
            args = dict(force=force, image_name=image_name,
                        container_format="bare", disk_format="raw")
            if _supports(self.cinder, "3.1"):
                args.update(visibility="private", protected=False)
            try:
                _resp, body = self.cinder.volumes.upload_to_image(volume_id,
                                                                  **args)
            except cinder_exc.BadRequest as exc:
                if force:
                    raise ForcedUploadRefused(volume_id, str(exc)) from exc
                raise UploadRefused(
                    volume_id, str(exc),
                    f"{action} failed: {type(exc).__name__}: {exc}") from exc
            image_id = body["os-volume_upload_image"]["image_id"]
        LOG.info("Volume %s is uploading to image %s", volume_id, image_id)
        return image_id

    # --- snapshots ------------------------------------------------------

    def _snapshot_status(self, snapshot_id):
        return self._status(self.cinder.volume_snapshots, "snapshot", snapshot_id)

    def create_snapshot(self, volume_id, name, force=False, description=None,
                        metadata=None):
        with self._calling(f"snapshotting volume {volume_id}", "volume", volume_id):
            snapshot = self.cinder.volume_snapshots.create(
                volume_id, force=force, name=name, description=description,
                metadata=metadata or None,
            )
        LOG.info("Created snapshot %s of volume %s", snapshot.id, volume_id)
        return snapshot.id

    def get_snapshot(self, snapshot_id):
        """A snapshot's volume, status and creation time; ResourceGone if none."""
        with self._calling(f"getting snapshot {snapshot_id}", "snapshot",
                           snapshot_id):
            try:
                snapshot = self.cinder.volume_snapshots.get(snapshot_id)
            except NOT_FOUND:
                raise exceptions.ResourceGone(
                    "snapshot", snapshot_id, ["available"], existed=False
                ) from None
        return SnapshotInfo(
            id=snapshot_id,
            volume_id=_field(snapshot, "volume_id"),
            status=_field(snapshot, "status"),
            created_at=parse_time(_field(snapshot, "created_at")),
            size=_field(snapshot, "size"),
        )

    def wait_snapshot(self, snapshot_id):
        with self._explained(snapshot_id):
            return self._wait(
                functools.partial(self._snapshot_status, snapshot_id),
                "snapshot", snapshot_id, SNAPSHOT_AVAILABLE, _cinder_failure,
                self._settings.snapshot_timeout,
            )

    def delete_snapshot(self, snapshot_id):
        """Delete a snapshot and wait until it is gone (idempotent; a deletion
        refused as busy is tried again, see :meth:`_delete_cinder`)."""
        self._delete_cinder(
            "snapshot", snapshot_id,
            functools.partial(self._snapshot_status, snapshot_id), SNAPSHOT_BUSY,
            self._settings.snapshot_timeout, self.cinder.volume_snapshots.delete)
        LOG.info("Deleted snapshot %s", snapshot_id)

    # --- images ---------------------------------------------------------

    def get_image(self, image_id):
        with self._calling(f"getting image {image_id}", "image", image_id):
            return self.glance.images.get(image_id)

    def _image_status(self, image_id):
        return self._status(self.glance.images, "image", image_id)

    def wait_image(self, image_id):
        """Wait until the image is active; return the image, as the poll
        that found it active read it (no GET more), and keep it for
        :meth:`image_info`: an active image's size, checksums and formats
        no longer change."""
        seen = {}

        def status():
            with self._calling(f"getting image {image_id}", "image", image_id):
                try:
                    seen["image"] = self.glance.images.get(image_id)
                except NOT_FOUND:
                    return polling.GONE
            return _field(seen["image"], "status")

        self._wait(status, "image", image_id, IMAGE_ACTIVE, IMAGE_FAILED,
                   self._settings.image_timeout)
        self._active_images = {image_id: seen["image"]}
        return seen["image"]

    def wait_upload(self, image_id, volume_id):
        """Wait until Cinder's upload of ``volume_id`` made the image active;
        a failure carries Cinder's reason about the volume."""
        with self._explained(volume_id):
            return self.wait_image(image_id)

    def image_info(self, image_id):
        """The image fields a backup records: size, checksums and formats
        (of the image :meth:`wait_image` saw active, else read now)."""
        image = self._active_images.pop(image_id, None)
        if image is None:
            image = self.get_image(image_id)
        return {
            name: _field(image, name)
            for name in ("size", "checksum", "os_hash_algo", "os_hash_value",
                         "disk_format", "container_format")
        }

    def image_data(self, image_id, block_size=None):
        """An iterable over the image's bytes, as Glance streams them.

        Not checked by glanceclient (``do_checksum=False``): the caller hashes
        the bytes itself. An image larger than one range
        (:data:`.download.RANGE_SIZE`) is read with ``download_streams``
        concurrent Range requests of one range each, handed out in order, in
        bytearrays of ``block_size`` bytes (of one range when None or
        smaller), each reused only once nothing else refers to it (see
        :func:`.download.parallel_download`). A download
        that breaks off (each range on its own) is resumed where it stopped,
        up to ``download_retries`` times (see :mod:`.download`).
        """
        with self._calling(f"downloading image {image_id}", "image", image_id):
            data = self.glance.images.data(image_id, do_checksum=False)
        return self._guarded_stream(data, image_id, block_size)

    def _guarded_stream(self, data, image_id, block_size=None):
        if not data:  # glanceclient: a proxy of None for an image without data
            return
        pieces = download.parallel_download(
            lambda: self.glance.http_client, image_id, data,
            streams=self._settings.download_streams,
            range_size=download.RANGE_SIZE,
            retries=self._settings.download_retries,
            pauses_of=lambda: polling.intervals(
                min(self._settings.poll_interval, download.MAX_PAUSE)),
            sleep=self._sleep, block_size=block_size,
        )
        with self._calling(f"downloading image {image_id}", "image", image_id):
            yield from pieces

    def create_image(self, name, disk_format, container_format,
                     properties=None, min_disk=0, min_ram=0):
        """A private, queued image; ``properties`` (strings) are its own."""
        with self._calling(f"creating image {name!r}", "image", None):
            image = self.glance.images.create(
                name=name, disk_format=disk_format,
                container_format=container_format, visibility="private",
                min_disk=min_disk, min_ram=min_ram, **(properties or {}),
            )
        image_id = _field(image, "id")
        LOG.info("Created image %s (%s)", image_id, name)
        return image_id

    def set_image_properties(self, image_id, properties):
        """Add or replace properties (strings) of an image."""
        with self._calling(f"setting properties of image {image_id}", "image",
                           image_id):
            self.glance.images.update(image_id, **properties)

    def upload_image(self, image_id, reader, size):
        """Stream ``reader`` (a file object) into the queued image."""
        with self._calling(f"uploading data to image {image_id}", "image",
                           image_id):
            self.glance.images.upload(image_id, reader, image_size=size)

    def delete_image(self, image_id):
        """Delete an image and wait until it is gone (idempotent)."""
        with self._calling(f"deleting image {image_id}", "image", image_id):
            try:
                self.glance.images.delete(image_id)
            except NOT_FOUND:
                return
        self._wait_gone(
            functools.partial(self._image_status, image_id), "image", image_id,
            self._settings.image_timeout, gone_statuses=IMAGE_GONE,
        )
        LOG.info("Deleted image %s", image_id)

    # --- what runs left: resources by their tags ---------------------------

    def tagged_resources(self, is_tagged):
        """Every snapshot, volume and image of the project whose metadata
        (properties for an image) ``is_tagged(mapping)`` accepts, as
        :class:`Tagged`, snapshots first, then volumes, then images."""
        found = []
        for kind, manager in (("snapshot", self.cinder.volume_snapshots),
                              ("volume", self.cinder.volumes)):
            with self._calling(f"listing {kind}s", kind, None):
                listed = list(manager.list(detailed=True))
            for item in listed:
                metadata = dict(_field(item, "metadata") or {})
                if is_tagged(metadata):
                    found.append(Tagged(kind, _field(item, "id"),
                                        _field(item, "name"),
                                        _field(item, "status"), metadata))
        with self._calling("listing images", "image", None):
            images = list(self.glance.images.list())
        for image in images:
            properties = {key: value for key, value in dict(image).items()
                          if isinstance(value, str)}
            if is_tagged(properties):
                found.append(Tagged("image", properties.get("id"),
                                    properties.get("name"),
                                    properties.get("status"), properties))
        return found

    def images_named(self, name):
        """``[(id, created_at, properties)]`` of the project's images named
        ``name``."""
        with self._calling(f"listing images named {name!r}", "image", None):
            images = [dict(image) for image in
                      self.glance.images.list(filters={"name": name})]
        return [(image["id"], parse_time(image.get("created_at")), image)
                for image in images if image.get("name") == name]

    def delete(self, kind, resource_id):
        """Delete a snapshot, volume or image by kind (idempotent)."""
        return {"snapshot": self.delete_snapshot, "volume": self.delete_volume,
                "image": self.delete_image}[kind](resource_id)

    # --- servers (Nova) -------------------------------------------------
    #
    # Nova marks the volume ``attaching``/``reserved`` or ``detaching`` before
    # its attach or detach call returns, so a volume found back in its old
    # status afterwards means Nova gave up and rolled it back: waits treat
    # that status as a failure instead of waiting for it to change.

    def get_server(self, server_id):
        """The server (a novaclient Server); ResourceGone if there is none."""
        with self._calling(f"getting server {server_id}", "server", server_id):
            try:
                return self.nova.servers.get(server_id)
            except NOT_FOUND:
                raise exceptions.ResourceGone(
                    "server", server_id, ["ACTIVE"], existed=False
                ) from None

    def server_attachments(self, server_id):
        """``[(volume_id, device), ...]`` of the volumes attached to a server."""
        with self._calling(f"listing the volumes of server {server_id}",
                           "server", server_id):
            try:
                attachments = self.nova.volumes.get_server_volumes(server_id)
            except NOT_FOUND:
                raise exceptions.ResourceGone(
                    "server", server_id, ["ACTIVE"], existed=False
                ) from None
        return [(_field(a, "volumeId"), _field(a, "device")) for a in attachments]

    def settle_volume(self, volume_id):
        """Wait while a volume is being attached or detached; return its status
        (polling.GONE if it no longer exists)."""
        return self._settle(functools.partial(self._volume_status, volume_id),
                            "volume", volume_id, VOLUME_MOVING,
                            self._settings.volume_timeout)

    def _wait_volume_leaving(self, volume_id, success, rolled_back):
        """Wait for ``success``; ``rolled_back`` (the status before Nova's call)
        and Cinder's failure statuses end the wait with ResourceFailed."""
        return self._wait(
            functools.partial(self._volume_status, volume_id), "volume",
            volume_id, success,
            lambda status: _cinder_failure(status) or status in rolled_back,
            self._settings.volume_timeout,
        )

    def attach_volume(self, server_id, volume_id, device=None):
        """Attach a volume to a server and wait until it is ``in-use``.

        ``device`` (e.g. ``/dev/vdb``) is a request: Nova may choose another.
        Returns the device Nova reported.
        """
        where = f" at {device}" if device else ""
        action = f"attaching volume {volume_id} to server {server_id}{where}"
        with self._calling(action, "server", server_id):
            attachment = self.nova.volumes.create_server_volume(
                server_id, volume_id, device=device)
        attached_at = _field(attachment, "device")
        self._wait_volume_leaving(volume_id, VOLUME_IN_USE, VOLUME_AVAILABLE)
        LOG.info("Attached volume %s to server %s at %s", volume_id, server_id,
                 attached_at)
        return attached_at

    def detach_volume(self, server_id, volume_id):
        """Detach a volume from a server and wait until it is ``available``."""
        action = f"detaching volume {volume_id} from server {server_id}"
        with self._calling(action, "server", server_id):
            self.nova.volumes.delete_server_volume(server_id, volume_id)
        self._wait_volume_leaving(volume_id, VOLUME_AVAILABLE, VOLUME_IN_USE)
        LOG.info("Detached volume %s from server %s", volume_id, server_id)


#: The volume fields a restore reproduces (see doc/backup-format.rst).
ATTRIBUTE_KEYS = ("size", "volume_type", "bootable", "volume_image_metadata",
                  "metadata", "description", "availability_zone",
                  "multiattach", "encrypted")


def volume_attributes(volume):
    """A volume's attributes as a manifest records them (JSON values)."""
    def text(name):
        value = _field(volume, name)
        return value if isinstance(value, str) else None

    def mapping(name):
        value = _field(volume, name) or {}
        return {str(k): str(v) for k, v in dict(value).items()}

    bootable = _field(volume, "bootable")
    return {
        "size": _field(volume, "size"),
        "volume_type": text("volume_type"),
        "bootable": str(bootable).lower() == "true",
        "volume_image_metadata": mapping("volume_image_metadata"),
        "metadata": mapping("metadata"),
        "description": text("description"),
        "availability_zone": text("availability_zone"),
        "multiattach": _field(volume, "multiattach") is True,
        "encrypted": _field(volume, "encrypted") is True,
    }


#: How much older than a wait a Cinder message may look and still be about it
#: (the clocks of Cinder and of this host may differ); an older message is
#: about an earlier failure of the same resource.
MESSAGE_CLOCK_SKEW = datetime.timedelta(minutes=5)


def _recent(created_at, since):
    if since is None:
        return True
    try:
        moment = parse_time(created_at)
    except (TypeError, ValueError):
        return True
    return moment is None or moment >= since - MESSAGE_CLOCK_SKEW


def _supports(client, version):
    """Whether a cinderclient speaks microversion ``version`` or later."""
    api_version = getattr(client, "api_version", None)
    if api_version is None:
        return False
    try:
        from cinderclient import api_versions

        return api_version >= api_versions.APIVersion(version)
    except (TypeError, ValueError, AttributeError):
        return False
