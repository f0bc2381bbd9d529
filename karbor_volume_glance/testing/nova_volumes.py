"""The fake ``nova.volumes`` manager: attach, detach and swap server volumes.

Attachments are novaclient's own :class:`novaclient.v2.volumes.Volume`
objects (``id``, ``serverId``, ``volumeId``, ``device``). Attaching makes the
Cinder volume ``attaching`` then ``in-use``; detaching ``detaching`` then
``available``, each for the cloud's ``transition_polls`` gets of the volume.
Swapping is refused with 409 unless the cloud was made with
``nova_accepts_swap=True``; then, as Nova does, the old volume's bytes are
copied to the new one, which takes the old one's device.
"""

from novaclient import base as nova_base
from novaclient.v2 import volumes as nova_volumes

from karbor_volume_glance.testing import faults
from karbor_volume_glance.testing.lifecycle import Stage
from karbor_volume_glance.testing.nova_common import (
    bad_request,
    conflict,
    find_attachment,
    find_server,
    find_volume,
)
from karbor_volume_glance.testing.responses import make_response


class FakeServerVolumeManager:
    resource_class = nova_volumes.Volume

    def __init__(self, cloud, api_version):
        self._cloud = cloud
        self.api_version = api_version

    def create_server_volume(
        self, server_id, volume_id, device=None, tag=None, delete_on_termination=False
    ):
        fault = self._cloud.enter_step("server.attach")
        with self._cloud.lock:
            state = self._cloud.state
            server = find_server(state, server_id)
            volume = find_volume(state, volume_id)
            if volume.status != "available":
                raise bad_request(
                    f"Invalid volume: volume {volume.id} status must be "
                    f"'available'. Currently in '{volume.status}'"
                )
            used = {a.device for a in state.attachments_of_server(server.id)}
            if device is not None and device in used:
                raise bad_request(f"The supplied device path ({device}) is in use.")
            attachment = state.attach(server.id, volume.id, device)
            if faults.is_error(fault):
                final = Stage("available", on_enter=self._forget(attachment))
            else:
                final = Stage("in-use")
            volume.life.begin(Stage("attaching", self._polls(fault)), final)
            return self._resource(attachment)

    def delete_server_volume(self, server_id, volume_id=None, attachment_id=None):
        fault = self._cloud.enter_step("server.detach")
        if volume_id is not None and attachment_id is not None:
            raise TypeError(
                "You cannot specify both volume_id and attachment_id arguments."
            )
        volume_id = volume_id if volume_id is not None else attachment_id
        if volume_id is None:
            raise TypeError("volume_id is required argument.")
        with self._cloud.lock:
            state = self._cloud.state
            server = find_server(state, server_id)
            attachment = find_attachment(state, server.id, volume_id)
            volume = find_volume(state, volume_id)
            if volume.status != "in-use":
                raise bad_request(
                    "Invalid volume: Unable to detach volume. Volume status must "
                    "be 'in-use' and attach_status must be 'attached' to detach."
                )
            if faults.is_error(fault):
                final = Stage("in-use")
            else:
                final = Stage("available", on_enter=self._forget(attachment))
            volume.life.begin(Stage("detaching", self._polls(fault)), final)
            response = make_response(202)
            return nova_base.TupleWithMeta((response, None), response)

    def get_server_volumes(self, server_id):
        self._cloud.enter_step("server.get_volumes")
        with self._cloud.lock:
            state = self._cloud.state
            server = find_server(state, server_id)
            return nova_base.ListWithMeta(
                [self._resource(a) for a in state.attachments_of_server(server.id)],
                make_response(200),
            )

    def get_server_volume(self, server_id, volume_id=None, attachment_id=None):
        self._cloud.enter_step("server.get_volume")
        volume_id = volume_id if volume_id is not None else attachment_id
        if volume_id is None:
            raise TypeError("volume_id is required argument.")
        with self._cloud.lock:
            state = self._cloud.state
            server = find_server(state, server_id)
            return self._resource(find_attachment(state, server.id, volume_id))

    def update_server_volume(
        self, server_id, src_volid, dest_volid, delete_on_termination=None
    ):
        """Swap volumes; 409 as today's Nova unless the cloud accepts swaps."""
        fault = self._cloud.enter_step("server.swap")
        with self._cloud.lock:
            state = self._cloud.state
            server = find_server(state, server_id)
            if not self._cloud.nova_accepts_swap:
                raise conflict(
                    "Swapping the volume of an instance is not supported by this cloud."
                )
            old_attachment = find_attachment(state, server.id, src_volid)
            old = find_volume(state, src_volid)
            new = find_volume(state, dest_volid)
            self._check_swap(old, new)
            new_attachment = state.attach(server.id, new.id, old_attachment.device)
            polls = self._polls(fault)
            if faults.is_error(fault):
                old.life.begin(Stage("detaching", polls), Stage("in-use"))
                new.life.begin(
                    Stage("attaching", polls),
                    Stage("available", on_enter=self._forget(new_attachment)),
                )
            else:
                new.data = old.data
                old.life.begin(
                    Stage("detaching", polls),
                    Stage("available", on_enter=self._forget(old_attachment)),
                )
                new.life.begin(Stage("attaching", polls), Stage("in-use"))
            return self._resource(new_attachment)

    @staticmethod
    def _check_swap(old, new):
        if old.status != "in-use":
            raise bad_request(
                f"Invalid volume: volume {old.id} status must be 'in-use'."
            )
        if new.status != "available":
            raise bad_request(
                f"Invalid volume: volume {new.id} status must be 'available'. "
                f"Currently in '{new.status}'"
            )
        if new.size < old.size:
            raise bad_request(
                f"Invalid volume: new volume {new.id} ({new.size} GB) is "
                f"smaller than the old volume {old.id} ({old.size} GB)."
            )

    def _forget(self, attachment):
        attachments = self._cloud.state.attachments

        def forget():
            attachments.pop(attachment.id, None)

        return forget

    def _polls(self, fault):
        return self._cloud.transition_polls + faults.extra_polls(fault)

    def _resource(self, attachment):
        info = {
            "id": attachment.volume_id,
            "serverId": attachment.server_id,
            "volumeId": attachment.volume_id,
            "device": attachment.device,
        }
        return self.resource_class(self, info, loaded=True, resp=make_response(200))
