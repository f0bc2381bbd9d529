"""Nova's side of the local cloud: stub servers and their volume attachments.

A server is a record (``BUILD`` -> ``ACTIVE``) with any image and flavor
reference. Attaching a volume takes it ``attaching`` -> ``in-use`` on the
first free ``/dev/vdX`` (or the device asked for); detaching takes it
``detaching`` -> ``available``. Swapping an attached volume for another
(``PUT .../os-volume_attachments/<volume>``) is refused with 409, as current
Nova refuses swaps that Cinder did not start, unless the cloud was made with
``nova_accepts_swap``: then the old volume's bytes are copied onto the new
one (zeros beyond), which takes the old one's device and goes ``in-use``
while the old one becomes ``available``. Deleting a server detaches its
volumes.
"""

import string

from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import datafiles, exceptions
from karbor_volume_glance.testing.localcloud.state import (
    Attachment,
    Server,
    new_uuid,
    utcnow,
)

LOG = logging.getLogger(__name__)

ATTACHABLE_SERVER = ("ACTIVE", "SHUTOFF")
SWAP_REFUSED = (
    "Swapping the volume of a server is only allowed as part of a Cinder "
    "volume migration or retype, which this request is not."
)


class Compute:
    def __init__(self, state, files, jobs, volumes, status_delay, gib,
                 accepts_swap=False):
        self.state = state
        self.files = files
        self.jobs = jobs
        self.volumes = volumes
        self.status_delay = status_delay
        self.gib = gib
        self.accepts_swap = accepts_swap

    # --- servers ----------------------------------------------------------

    def server(self, ctx, server_id):
        with self.state.lock:
            server = self.state.servers.get(server_id)
            if server is None or not (
                ctx.is_admin or server.project_id == ctx.project_id
            ):
                raise exceptions.NotFound(f"Instance {server_id} could not be found.")
            return server

    def servers(self, ctx, all_projects=False):
        everyone = all_projects and ctx.is_admin
        with self.state.lock:
            found = [server for server in self.state.servers.values()
                     if everyone or server.project_id == ctx.project_id]
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    def create_server(self, ctx, name, image_ref, flavor_ref, metadata=None,
                      fail=False):
        server = Server(id=new_uuid(), project_id=ctx.project_id,
                        user_id=ctx.user_id, name=name, image_ref=image_ref,
                        flavor_ref=flavor_ref, metadata=dict(metadata or {}))
        with self.state.lock:
            self.state.servers[server.id] = server
        self.jobs.spawn(f"build-server-{server.id}", self._build, server, fail)
        return server

    def _build(self, server, fail):
        self.jobs.sleep(self.status_delay)
        with self.state.lock:
            server.status = "ERROR" if fail else "ACTIVE"
            server.task_state = None
            server.updated_at = utcnow()

    def delete_server(self, ctx, server_id, fail=False):
        with self.state.lock:
            server = self.server(ctx, server_id)
            server.task_state = "deleting"
            server.updated_at = utcnow()
            attached = [a.volume_id for a in self.state.attachments_of(server_id)]
            for volume_id in attached:
                self.state.set_status(self.state.volumes[volume_id], "detaching")
        self.jobs.spawn(f"delete-server-{server_id}", self._remove, server,
                        attached, fail)

    def _remove(self, server, volume_ids, fail):
        self.jobs.sleep(self.status_delay)
        with self.state.lock:
            for volume_id in volume_ids:
                volume = self.state.volumes.get(volume_id)
                if volume is not None:
                    volume.attachment = None
                    self.state.set_status(volume, "available")
            if fail:
                server.status, server.task_state = "ERROR", None
                return
            self.state.servers.pop(server.id, None)
        LOG.info("Server %s deleted", server.id)

    # --- attachments ------------------------------------------------------

    def attachments(self, ctx, server_id):
        with self.state.lock:
            self.server(ctx, server_id)
            return self.state.attachments_of(server_id)

    def attachment(self, ctx, server_id, volume_id):
        for attachment in self.attachments(ctx, server_id):
            if attachment.volume_id == volume_id:
                return attachment
        raise exceptions.NotFound(
            f"Volume {volume_id} is not attached to the server {server_id}"
        )

    def _free_device(self, server_id):
        used = {a.device for a in self.state.attachments_of(server_id)}
        for letter in string.ascii_lowercase[1:]:
            device = f"/dev/vd{letter}"
            if device not in used:
                return device
        raise exceptions.ApiError("No free disk device names for prefix 'vd'")

    def attach(self, ctx, server_id, volume_id, device=None, fail=False):
        with self.state.lock:
            server = self.server(ctx, server_id)
            if server.status not in ATTACHABLE_SERVER or server.task_state:
                raise exceptions.Conflict(
                    f"Cannot 'attach_volume' instance {server_id} while it is in "
                    f"vm_state {server.status.lower()}"
                )
            volume = self.volumes.volume(ctx, volume_id)
            if volume.status != "available" or volume.attachment:
                raise exceptions.BadRequest(
                    f"Invalid volume: volume {volume_id} status must be "
                    f"'available'. Currently in '{volume.status}'"
                )
            if device is None:
                device = self._free_device(server_id)
            elif device in {a.device for a in self.state.attachments_of(server_id)}:
                raise exceptions.BadRequest(
                    f"The supplied device path ({device}) is in use."
                )
            attachment = Attachment(id=new_uuid(), volume_id=volume_id,
                                    server_id=server_id, device=device)
            volume.attachment = attachment
            self.state.set_status(volume, "attaching")
        LOG.info("Volume %s attaching to server %s at %s", volume_id, server_id,
                 device)
        self.jobs.spawn(f"attach-{volume_id}", self._settle_attach, volume, fail)
        return attachment

    def _settle_attach(self, volume, fail):
        self.jobs.sleep(self.status_delay)
        with self.state.lock:
            if volume.status != "attaching":
                return
            if fail:
                volume.attachment = None
                self.state.set_status(volume, "available")
                return
            volume.attachment.attached_at = utcnow()
            self.state.set_status(volume, "in-use")

    def detach(self, ctx, server_id, volume_id, fail=False):
        with self.state.lock:
            attachment = self.attachment(ctx, server_id, volume_id)
            volume = self.state.volumes[attachment.volume_id]
            if volume.status != "in-use":
                raise exceptions.BadRequest(
                    "Invalid volume: Unable to detach volume. Volume status must "
                    "be 'in-use' and attach_status must be 'attached' to detach."
                )
            self.state.set_status(volume, "detaching")
        self.jobs.spawn(f"detach-{volume_id}", self._settle_detach, volume, fail)

    def _settle_detach(self, volume, fail):
        self.jobs.sleep(self.status_delay)
        with self.state.lock:
            if volume.status != "detaching":
                return
            if fail:
                self.state.set_status(volume, "in-use")
                return
            volume.attachment = None
            self.state.set_status(volume, "available")
        LOG.info("Volume %s detached", volume.id)

    def swap(self, ctx, server_id, old_volume_id, new_volume_id, fail=False):
        with self.state.lock:
            self.server(ctx, server_id)
            if not self.accepts_swap:
                raise exceptions.Conflict(SWAP_REFUSED)
            attachment = self.attachment(ctx, server_id, old_volume_id)
            old = self.state.volumes[old_volume_id]
            new = self.volumes.volume(ctx, new_volume_id)
            if old.status != "in-use":
                raise exceptions.BadRequest(
                    f"Invalid volume: volume {old_volume_id} status must be "
                    f"'in-use'. Currently in '{old.status}'"
                )
            if new.status != "available" or new.attachment:
                raise exceptions.BadRequest(
                    f"Invalid volume: volume {new_volume_id} status must be "
                    f"'available'. Currently in '{new.status}'"
                )
            if new.size < old.size:
                raise exceptions.BadRequest(
                    "Invalid volume: New volume must be the same size or larger."
                )
            new.attachment = Attachment(id=new_uuid(), volume_id=new.id,
                                        server_id=server_id,
                                        device=attachment.device)
            self.state.set_status(old, "detaching")
            self.state.set_status(new, "attaching")
            stream = open(self.files.volume_path(old.id), "rb")
        LOG.info("Server %s: swapping volume %s for %s", server_id, old.id, new.id)
        self.jobs.spawn(f"swap-{old.id}", self._copy_swap, old, new, stream, fail,
                        on_failure=lambda _exc: self._roll_back_swap(old, new))

    def _copy_swap(self, old, new, stream, fail):
        try:
            with self.jobs.at_least(self.status_delay):
                if not fail:
                    datafiles.copy_sparse(stream, self.files.volume_path(new.id),
                                          old.size * self.gib, new.size * self.gib,
                                          self.jobs.check)
        finally:
            stream.close()
        if fail:
            self._roll_back_swap(old, new)
            return
        with self.state.lock:
            new.attachment.attached_at = utcnow()
            old.attachment = None
            self.state.set_status(old, "available")
            self.state.set_status(new, "in-use")

    def _roll_back_swap(self, old, new):
        with self.state.lock:
            new.attachment = None
            self.state.set_status(new, "available")
            self.state.set_status(old, "in-use")
