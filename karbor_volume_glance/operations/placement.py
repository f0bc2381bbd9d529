"""Restore into a server: attach the restored volume, or put it in the
original volume's place.

Called by restore once the restored volume is ``available`` and the restore
parameters name a ``server_id``:

* ``server_id`` alone: the restored volume is attached to that server (Nova
  picks the device).
* with ``replace_volume``: the original volume must be attached to that
  server (else nothing is changed and the restore fails, naming both). The
  original is detached and the restored volume attached at the original's
  device, between ``volume_glance.volume_swap.start`` and ``.end`` (payload:
  the restore's payload plus ``server_id``, ``old_volume_id``,
  ``new_volume_id``, ``device``, and in ``.end`` the ``method``). On any
  failure the server is put back as it was (the restored volume detached if
  it got attached, the original attached again at its device) and
  ``volume_glance.volume_swap.error`` (priority ERROR) says why
  (``fail_reason``), whether that worked (``rolled_back``) and if not why
  (``rollback_error``).

Nova's own swap (``PUT os-volume_attachments``, novaclient's
``update_server_volume``) is not used, even where Nova accepts it: it is a
hypervisor-assisted *migration* that copies the attached volume's data onto
the new volume, so it would overwrite the restored data with the very data
the restore is meant to replace. Detach-then-attach keeps the restored bytes;
``method`` is therefore always ``detach-attach``.

The original volume is never deleted, and a failure never deletes the
restored volume: its data is restored, it is left ``available`` (detached)
and the error names it. Either failure fails the restore
(:class:`~karbor_volume_glance.exceptions.PlacementFailed`).
"""

import copy

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.notifications import payload as payloads
from karbor_volume_glance.notifications.events import EVENT_PREFIX
from karbor_volume_glance.operations import bookkeeping

LOG = logging.getLogger(__name__)

SWAP_EVENT = f"{EVENT_PREFIX}.volume_swap"
DETACH_ATTACH = "detach-attach"


def place_restored_volume(cloud, notifier, context, params, original_volume_id,
                          new_volume_id, base_payload):
    """Attach ``new_volume_id`` to ``params["server_id"]``, replacing
    ``original_volume_id`` there when ``params["replace_volume"]``.

    Does nothing without a server_id. ``base_payload`` (copied, never
    changed) is the restore's notification payload the swap events extend.
    Raises PlacementFailed.
    """
    server_id = params.get("server_id")
    if not server_id:
        return
    if params.get("replace_volume"):
        VolumeReplacement(cloud, notifier, context, server_id,
                          original_volume_id, new_volume_id,
                          base_payload).run()
    else:
        attach_restored(cloud, server_id, new_volume_id)


def attach_restored(cloud, server_id, volume_id):
    """Attach the restored volume; PlacementFailed (volume kept) if not."""
    LOG.info("Attaching restored volume %s to server %s", volume_id, server_id)
    try:
        cloud.get_server(server_id)
        device = cloud.attach_volume(server_id, volume_id)
    except Exception as exc:
        raise exceptions.PlacementFailed(
            f"attaching restored volume {volume_id} to server {server_id} "
            f"failed: {bookkeeping.describe(exc)}; the restored volume "
            f"{volume_id} is kept", server_id, volume_id) from exc
    LOG.info("Restored volume %s is attached to server %s at %s", volume_id,
             server_id, device)


class VolumeReplacement:
    """The restored volume takes the original's place on one server."""

    def __init__(self, cloud, notifier, context, server_id, old_volume_id,
                 new_volume_id, base_payload):
        self.cloud = cloud
        self.notifier = notifier
        self.context = context
        self.server_id = server_id
        self.old_volume_id = old_volume_id
        self.new_volume_id = new_volume_id
        self.base_payload = base_payload
        self.device = None

    def _what(self):
        return (f"replacing volume {self.old_volume_id} with restored volume "
                f"{self.new_volume_id} on server {self.server_id}")

    def run(self):
        self.device = self._find_device()
        LOG.info("Replacing volume %s at %s of server %s with restored volume %s",
                 self.old_volume_id, self.device, self.server_id,
                 self.new_volume_id)
        self._notify("start")
        try:
            self._detach_attach()
        except Exception as exc:
            self._failed(exc)
        self._notify("end", method=DETACH_ATTACH)
        LOG.info("Restored volume %s replaced volume %s at %s of server %s "
                 "(volume %s is detached and kept)", self.new_volume_id,
                 self.old_volume_id, self.device, self.server_id,
                 self.old_volume_id)

    def _find_device(self):
        """The original's device on the server; fails before any change."""
        try:
            self.cloud.get_server(self.server_id)
            attachments = self.cloud.server_attachments(self.server_id)
        except Exception as exc:
            raise self._error(f"{self._what()} failed: "
                              f"{bookkeeping.describe(exc)}; nothing was "
                              "changed") from exc
        for volume_id, device in attachments:
            if volume_id == self.old_volume_id:
                return device
        raise self._error(
            f"{self._what()} is impossible: volume {self.old_volume_id} is not "
            f"attached to server {self.server_id}; nothing was changed")

    def _detach_attach(self):
        self.cloud.detach_volume(self.server_id, self.old_volume_id)
        device = self.cloud.attach_volume(self.server_id, self.new_volume_id,
                                          self.device)
        if device and device != self.device:
            LOG.warning("Server %s: Nova attached restored volume %s at %s, "
                        "not at %s where volume %s was", self.server_id,
                        self.new_volume_id, device, self.device,
                        self.old_volume_id)

    def _failed(self, exc):
        """Roll back, tell, and raise PlacementFailed from ``exc``."""
        LOG.error("%s failed: %s; rolling back", self._what(),
                  bookkeeping.describe(exc))
        try:
            self._roll_back()
        except Exception as rollback_exc:
            rolled_back, rollback_error = False, bookkeeping.describe(rollback_exc)
            LOG.error("Server %s: rolling back failed: %s; volume %s may not be "
                      "attached at %s", self.server_id, rollback_error,
                      self.old_volume_id, self.device)
        else:
            rolled_back, rollback_error = True, None
        self._notify("error", priority="error", method=DETACH_ATTACH,
                     fail_reason=payloads.fail_reason(exc),
                     rolled_back=rolled_back, rollback_error=rollback_error)
        if rolled_back:
            outcome = (f"volume {self.old_volume_id} is attached again at "
                       f"{self.device}")
        else:
            outcome = (f"rolling back failed too ({rollback_error}): volume "
                       f"{self.old_volume_id} may not be attached at "
                       f"{self.device}")
        raise self._error(
            f"{self._what()} at {self.device} failed: "
            f"{bookkeeping.describe(exc)}; {outcome}; the restored volume "
            f"{self.new_volume_id} is kept", rolled_back=rolled_back,
            rollback_error=rollback_error) from exc

    def _roll_back(self):
        """Put the server's volumes back as they were: the restored volume
        detached, the original attached at its device."""
        for volume_id in (self.new_volume_id, self.old_volume_id):
            self.cloud.settle_volume(volume_id)
        attached = dict(self.cloud.server_attachments(self.server_id))
        if self.new_volume_id in attached:
            LOG.info("Rollback: detaching restored volume %s from server %s",
                     self.new_volume_id, self.server_id)
            self.cloud.detach_volume(self.server_id, self.new_volume_id)
        if self.old_volume_id not in attached:
            LOG.info("Rollback: attaching volume %s to server %s at %s again",
                     self.old_volume_id, self.server_id, self.device)
            self.cloud.attach_volume(self.server_id, self.old_volume_id,
                                     self.device)
        LOG.info("Rolled back: volume %s is attached to server %s at %s",
                 self.old_volume_id, self.server_id, self.device)

    def _error(self, message, rolled_back=None, rollback_error=None):
        return exceptions.PlacementFailed(
            message, self.server_id, self.new_volume_id,
            old_volume_id=self.old_volume_id, rolled_back=rolled_back,
            rollback_error=rollback_error)

    def _notify(self, phase, priority="info", **extra):
        message = copy.deepcopy(self.base_payload)
        message.update(server_id=self.server_id,
                       old_volume_id=self.old_volume_id,
                       new_volume_id=self.new_volume_id, device=self.device,
                       **extra)
        getattr(self.notifier, priority)(self.context, f"{SWAP_EVENT}.{phase}",
                                         message)
