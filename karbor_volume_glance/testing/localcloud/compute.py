"""Nova's side of the local cloud: stub servers and their volume attachments.

A server is a record (``BUILD`` -> ``ACTIVE``) with any image and flavor
reference. Attaching a volume takes it ``attaching`` -> ``in-use`` on the
first free ``/dev/vdX`` (or the device asked for); detaching takes it
``detaching`` -> ``available``. Deleting a server detaches its volumes.
Swapping an attached volume for another (``PUT
.../os-volume_attachments/<volume>``) is refused with 409, as current Nova
refuses swaps that Cinder did not start. How long each status lasts is the
cloud's pacer's business (:mod:`.pacing`).
"""

import string

from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import exceptions
from karbor_volume_glance.testing.localcloud.pacing import Stage
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
    def __init__(self, state, volumes, pacer):
        self.state = state
        self.volumes = volumes
        self.pacer = pacer

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
            self.state.add("server", server)

        def built():
            with self.state.lock:
                server.task_state = None

        self.pacer.begin(f"build-server-{server.id}", self.state.servers,
                         server.id, [Stage("BUILD"),
                                     Stage("ERROR" if fail else "ACTIVE", built)])
        return server

    def observe(self, server):
        self.pacer.observe(server.id)

    def delete_server(self, ctx, server_id, fail=False):
        with self.state.lock:
            server = self.server(ctx, server_id)
            server.task_state = "deleting"
            server.updated_at = utcnow()
            attached = [a.volume_id for a in self.state.attachments_of(server_id)]
        for volume_id in attached:
            self.pacer.begin(f"detach-{volume_id}", self.state.volumes, volume_id,
                             [Stage("detaching"),
                              Stage("available", self._forget(volume_id))])

        def remove():
            with self.state.lock:
                if fail:
                    server.status, server.task_state = "ERROR", None
                    return
                self.state.servers.pop(server.id, None)
            LOG.info("Server %s deleted", server.id)

        self.pacer.begin(f"delete-server-{server_id}", self.state.servers,
                         server_id, [Stage(None), Stage(None, remove)])

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

    def free_device(self, server_id):
        used = {a.device for a in self.state.attachments_of(server_id)}
        for letter in string.ascii_lowercase[1:]:
            device = f"/dev/vd{letter}"
            if device not in used:
                return device
        raise exceptions.ApiError("No free disk device names for prefix 'vd'")

    def attach(self, ctx, server_id, volume_id, device=None, fail=False,
               extra=0):
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
                device = self.free_device(server_id)
            elif device in {a.device for a in self.state.attachments_of(server_id)}:
                raise exceptions.BadRequest(
                    f"The supplied device path ({device}) is in use."
                )
            attachment = Attachment(id=new_uuid(), volume_id=volume_id,
                                    server_id=server_id, device=device)
            volume.attachment = attachment
        LOG.info("Volume %s attaching to server %s at %s", volume_id, server_id,
                 device)

        def attached():
            with self.state.lock:
                if volume.attachment is attachment:
                    attachment.attached_at = utcnow()

        final = (Stage("available", self._forget(volume_id)) if fail
                 else Stage("in-use", attached))
        self.pacer.begin(f"attach-{volume_id}", self.state.volumes, volume_id,
                         [Stage("attaching", extra=extra), final])
        return attachment

    def _forget(self, volume_id):
        def forget():
            with self.state.lock:
                volume = self.state.volumes.get(volume_id)
                if volume is not None:
                    volume.attachment = None
        return forget

    def detach(self, ctx, server_id, volume_id, fail=False, extra=0):
        with self.state.lock:
            attachment = self.attachment(ctx, server_id, volume_id)
            volume = self.state.volumes[attachment.volume_id]
            if volume.status != "in-use":
                raise exceptions.BadRequest(
                    "Invalid volume: Unable to detach volume. Volume status must "
                    "be 'in-use' and attach_status must be 'attached' to detach."
                )
        final = (Stage("in-use") if fail
                 else Stage("available", self._forget(volume_id)))
        self.pacer.begin(f"detach-{volume_id}", self.state.volumes, volume_id,
                         [Stage("detaching", extra=extra), final])
        LOG.info("Volume %s detaching from server %s", volume_id, server_id)

    def swap(self, ctx, server_id, old_volume_id, new_volume_id):
        """Refused, as current Nova refuses a swap Cinder did not start."""
        self.server(ctx, server_id)
        raise exceptions.Conflict(SWAP_REFUSED)
