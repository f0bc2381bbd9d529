"""Sweep: delete what dead runs left, in the cloud and in the bank.

A run (:mod:`.runs`) is dead when its lease was not renewed for
``lease_seconds``; a live run is never touched. For each dead run of this
bank, newest resource first, :class:`Sweep`:

* deletes the cloud resources its journal names (by id; an intent whose id
  never came back is looked up by the run's tag, and for the image Cinder's
  upload-to-image makes, which cannot carry tags in its create call, by the
  intent's exact name among the project's untagged images made after the
  intent), when the run worked in the same project as the sweep;
* for a protect: its backup's ``status`` ``protecting`` becomes ``error``
  with the reason "run died"; its index entry, unless already dead, becomes
  ``error`` with no ``uses`` (the parent's chunks it pinned are free); the
  checkpoint's record (made without Karbor) ``protecting`` becomes
  ``error``; a backup already ``deleted`` stays so;
* for a protect that uploaded the user's volume itself (the direct path of
  ``backup_from_snapshot``) and left it ``uploading``: waits for Cinder's
  volume manager to end that upload and return the volume to ``available``
  or ``in-use`` (it does so whether the run lives or not, at once once the
  image is deleted; the sweep never resets a status);
* removes the file bank's temporary files under the run's checkpoint;
* and, when all that is done, the run's section.

:meth:`Sweep.all` (``karbor-volume-glance sweep``, :meth:`.plugin` 's
``sweep``) also finds, by their tags, the resources of runs that finished
(whose section is gone) but could not delete them, and the file bank's
temporary files older than ``lease_seconds``; a restore's temporary image
that Glance could not delete because the new volume is a clone of it
(tagged ``kvg_held_by_volume``) goes once that volume is gone. It deletes
only resources
tagged by a run of this very bank (:data:`~..format.runs.BANK_TAG`) as
temporary or unfinished: never a user's own snapshot or volume, nor a
restored volume the restore finished (untagged then).
:meth:`Sweep.volume`, which every protect, restore and delete runs first,
does the same for the dead runs of one volume.

Every resource, backup, file and run it looked at is a row of the report:
``{"kind", "id", ..., "action"}`` with ``action`` what was done
(``deleted``, ``gone``, ``marked error``, ``released``, ``removed``,
``waited: upload ended``), would
be done with ``dry_run`` (``would delete`` ...), or why it was left
(``kept: run alive``, ``kept: another project``, ``failed: <reason>``).
"""

import datetime

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.cloud import facade
from karbor_volume_glance.format import checkpoint as checkpoint_format
from karbor_volume_glance.format import runs as runs_format
from karbor_volume_glance.format.status import (
    LIVE,
    REASON_KEY,
    STATUS_KEY,
    BackupStatus,
    CheckpointStatus,
    EntryStatus,
)
from karbor_volume_glance.operations import runs, volume_index

LOG = logging.getLogger(__name__)

#: How much earlier than its intent an image may seem made (the cloud's
#: clock against this host's) and still be the intent's.
IMAGE_CLOCK_SKEW = datetime.timedelta(minutes=5)


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def _now():
    return datetime.datetime.now(datetime.UTC)


class Sweep:
    """One sweep of a bank (reached through ``any_section``) and a cloud.

    ``cloud`` is a :class:`~karbor_volume_glance.cloud.facade.Cloud` or None
    (only the bank is swept); ``project_id`` the cloud project it works in.
    """

    def __init__(self, any_section, cloud, settings, project_id, dry_run=False,
                 now=None, live_checkpoints=()):
        self._any = any_section
        self._cloud = cloud
        self._lease_seconds = settings.lease_seconds
        self._project_id = project_id
        self._dry_run = dry_run
        self._now = now or _now()
        self._bank_id = runs.bank_id(any_section)
        self._tagged = None
        self._handled = set()
        #: checkpoints whose runner is known to go on (a plan's conductor):
        #: a dead run of one of their volumes does not end them
        self._running_checkpoints = frozenset(live_checkpoints)
        self._live_checkpoints = set(live_checkpoints)
        self.rows = []

    def _row(self, kind, action, **fields):
        row = {"kind": kind, **fields, "action": action}
        self.rows.append(row)
        LOG.info("Sweep: %s", row)
        return row

    def _would(self, verb):
        return f"would {verb}" if self._dry_run else None

    # --- what to sweep ------------------------------------------------------

    def volume(self, volume_id):
        """The dead runs of one volume; the report's rows."""
        self._runs(runs.runs_of(self._any, volume_id))
        return self.rows

    def all(self):
        """Every dead run, then tagged leftovers of finished runs and old
        temporary bank files; the report."""
        found_runs = runs.runs_of(self._any)
        self._runs(found_runs)
        if self._cloud is not None:
            self._orphans({(r.volume_id, r.run_id): r for r in found_runs})
        self._bank_files("/", older_than=self._lease_seconds)
        return self.report()

    def report(self):
        return {"dry_run": self._dry_run, "bank": self._bank_id,
                "lease_seconds": self._lease_seconds,
                "resources": list(self.rows)}

    # --- one run ------------------------------------------------------------

    def _runs(self, found_runs):
        """Live runs first: what they made is never a dead run's."""
        for found in sorted(found_runs, key=lambda r: r.dead(
                self._lease_seconds, self._now)):
            self._run(found)

    def _run(self, found):
        journal = found.journal or {}
        fields = {"id": found.run_id, "operation": journal.get("operation"),
                  "volume_id": found.volume_id,
                  "checkpoint_id": journal.get("checkpoint_id"),
                  "host": (found.lease or journal).get("host"),
                  "pid": (found.lease or journal).get("pid")}
        if not found.dead(self._lease_seconds, self._now):
            self._row("run", "kept: run alive", **fields,
                      renewed_at=(found.lease or {}).get("renewed_at"))
            for record in journal.get("resources", []):
                if record.get("id"):
                    self._handled.add(record["id"])
            if journal.get("checkpoint_id"):
                self._live_checkpoints.add(journal["checkpoint_id"])
            return
        uploading = self._uploading_volume(journal)
        complete = self._cloud_part(found, journal)
        if uploading:
            self._wait_upload_end(journal["volume_id"])
        if journal.get("operation") == runs_format.PROTECT:
            self._dead_protect(journal)
        if journal.get("checkpoint_id") in self._running_checkpoints:
            # other volumes of it are being written: only this volume's
            # files, and only those older than a lease (the dead run's)
            self._bank_files(checkpoint_format.resource_prefix(
                journal["checkpoint_id"], found.volume_id),
                older_than=self._lease_seconds)
        elif journal.get("checkpoint_id"):
            self._bank_files(checkpoint_format.CHECKPOINTS_ROOT
                             + journal["checkpoint_id"] + "/")
        if not complete:
            self._row("run", "kept: resources left", **fields)
            return
        if not self._dry_run:
            for key in (runs_format.JOURNAL_KEY, runs_format.LEASE_KEY):
                compat.delete_if_present(found.section, key)
        self._row("run", self._would("remove") or "removed", **fields)

    def _cloud_part(self, found, journal):
        """Delete the dead run's resources; True when none is left."""
        records = [r for r in journal.get("resources", [])
                   if r.get("state") not in (runs_format.DELETED,
                                             runs_format.KEPT)]
        if not records:
            return True
        where = {"run_id": found.run_id,
                 "checkpoint_id": journal.get("checkpoint_id")}
        if self._cloud is None:
            for record in records:
                self._row(record["kind"], "kept: no cloud to sweep",
                          id=record.get("id"), name=record.get("name"), **where)
            return False
        if journal.get("project_id") != self._project_id:
            for record in records:
                self._row(record["kind"], "kept: another project",
                          id=record.get("id"), name=record.get("name"),
                          project_id=journal.get("project_id"), **where)
            return False
        complete = True
        for record in reversed(records):
            if record.get("id"):
                ids, found_by = [record["id"]], "journal"
            else:
                ids, found_by = self._lookup(found.run_id, record)
            if not ids:
                self._row(record["kind"], "gone", id=None,
                          name=record.get("name"), found_by=found_by, **where)
            for resource_id in ids:
                complete &= self._delete(record["kind"], resource_id,
                                         name=record.get("name"),
                                         found_by=found_by, **where)
        return complete

    def _uploading_volume(self, journal):
        """Whether a dead protect that uploaded the user's volume itself (the
        direct path: an image and no temporary volume in its journal) left
        it ``uploading`` (seen before its image is deleted).

        Cinder's volume manager runs the upload, not the run: it ends it
        whether the run lives or not (failing it at once when its image is
        deleted, as the sweep is about to do) and sets the volume's status
        from its attachments. The sweep waits for that, so that what it
        leaves is settled; it never resets a status itself."""
        volume_id = journal.get("volume_id") or ""
        kinds = {r.get("kind") for r in journal.get("resources", [])}
        if (journal.get("operation") != runs_format.PROTECT
                or self._cloud is None or "image" not in kinds
                or "volume" in kinds or runs_format.is_checkpoint_run(volume_id)
                or journal.get("project_id") != self._project_id):
            return False
        try:
            status = self._cloud.check_volume_usable(volume_id)
        except (exceptions.ResourceGone, exceptions.ResourceUnusable):
            return False  # deleted, or failed: no upload holds it
        except Exception as exc:
            self._row("volume", f"failed: {_describe(exc)}", id=volume_id)
            return False
        if status != "uploading":
            return False
        if self._dry_run:
            self._row("volume", "would wait: uploading", id=volume_id,
                      status=status)
            return False
        return True

    def _wait_upload_end(self, volume_id):
        LOG.info("Sweep: volume %s is uploading to the dead run's image; "
                 "waiting for Cinder to end the upload", volume_id)
        try:
            status = self._cloud.wait_volume(volume_id, facade.VOLUME_USABLE)
        except Exception as exc:
            self._row("volume", f"failed: {_describe(exc)}", id=volume_id)
            return
        self._row("volume", "waited: upload ended", id=volume_id,
                  status=status)

    def _lookup(self, run_id, record):
        """The ids of an intent whose id never reached the journal, and how
        they were found (``tag``, or ``name`` for Cinder's image)."""
        tagged = [t for t in self._tagged_resources()
                  if t.kind == record["kind"]
                  and t.tags.get(runs_format.RUN_TAG) == run_id]
        if tagged or record["kind"] != "image":
            return [t.id for t in tagged if t.id not in self._handled], "tag"
        since = runs_format.renewed_at({"renewed_at": record.get("at")})
        return [image_id for image_id, made, properties
                in self._cloud.images_named(record["name"])
                if runs_format.RUN_TAG not in properties and since and made
                and made >= since - IMAGE_CLOCK_SKEW
                and image_id not in self._handled], "name"  # not a live run's

    def _tagged_resources(self):
        if self._tagged is None:
            self._tagged = self._cloud.tagged_resources(runs_format.is_tagged)
        return self._tagged

    def _delete(self, kind, resource_id, **fields):
        """Delete one resource; True when it is gone (or would be)."""
        self._handled.add(resource_id)
        if self._dry_run:
            self._row(kind, "would delete", id=resource_id, **fields)
            return True
        try:
            self._cloud.delete(kind, resource_id)
        except Exception as exc:
            self._row(kind, f"failed: {_describe(exc)}", id=resource_id, **fields)
            return False
        self._row(kind, "deleted", id=resource_id, **fields)
        return True

    def _dead_protect(self, journal):
        """The backup, index entry and checkpoint a dead protect left."""
        checkpoint_id, volume_id = journal.get("checkpoint_id"), journal["volume_id"]
        if not checkpoint_id:
            return
        if runs_format.is_checkpoint_run(volume_id):
            self._dead_checkpoint(checkpoint_id)
            return
        section = compat.section_at(
            self._any, checkpoint_format.resource_prefix(checkpoint_id, volume_id))
        status = compat.read_optional(section, STATUS_KEY)
        if status == BackupStatus.PROTECTING:
            if not self._dry_run:
                section.update_object(REASON_KEY, runs_format.RUN_DIED)
                section.update_object(STATUS_KEY, BackupStatus.ERROR)
            self._row("backup", self._would("mark error") or "marked error",
                      id=volume_id, checkpoint_id=checkpoint_id,
                      status=status, reason=runs_format.RUN_DIED)
        index = volume_index.VolumeIndex(section, volume_id)
        entry = index.get(checkpoint_id)
        dying = status in (BackupStatus.PROTECTING, None)
        if entry is not None and (entry.status == EntryStatus.PROTECTING or (
                entry.status in LIVE and dying)):
            pinned = sorted(entry.uses)
            if not self._dry_run:
                entry.status, entry.uses = EntryStatus.ERROR, {}
                index.put(entry)
            self._row("index entry", self._would("release") or "released",
                      id=checkpoint_id, volume_id=volume_id, pinned=pinned)
        self._dead_checkpoint(checkpoint_id)

    def _dead_checkpoint(self, checkpoint_id):
        if checkpoint_id in self._live_checkpoints | self._handled:
            return  # its runner lives on (it says how it ends), or done
        self._handled.add(checkpoint_id)
        records = compat.section_at(self._any, checkpoint_format.CHECKPOINTS_ROOT)
        key = checkpoint_format.record_key(checkpoint_id)
        record = compat.read_optional(records, key)
        if not isinstance(record, dict) or \
                record.get("status") != CheckpointStatus.PROTECTING:
            return
        if not self._dry_run:
            record["status"] = CheckpointStatus.ERROR
            record["extra_info"] = {**(record.get("extra_info") or {}),
                                    "reason": runs_format.RUN_DIED}
            records.update_object(key, record)
        self._row("checkpoint", self._would("mark error") or "marked error",
                  id=checkpoint_id, reason=runs_format.RUN_DIED)

    # --- what no run's journal names ---------------------------------------

    def _orphans(self, known):
        """Tagged resources of this bank's runs that are not alive."""
        try:
            tagged = self._tagged_resources()
        except Exception as exc:
            self._row("cloud", f"failed: {_describe(exc)}", id=None)
            return
        order = {"image": 0, "volume": 1, "snapshot": 2}
        for resource in sorted(tagged, key=lambda t: order[t.kind]):
            if resource.id in self._handled:
                continue
            tags = resource.tags
            fields = {"name": resource.name, "found_by": "tag",
                      "run_id": tags.get(runs_format.RUN_TAG),
                      "checkpoint_id": tags.get(runs_format.CHECKPOINT_TAG)}
            if tags.get(runs_format.BANK_TAG) != self._bank_id:
                self._row(resource.kind, "kept: another bank's run",
                          id=resource.id, **fields)
                continue
            run = known.get((tags.get(runs_format.VOLUME_TAG),
                             tags.get(runs_format.RUN_TAG)))
            if run is not None and not run.dead(self._lease_seconds, self._now):
                self._row(resource.kind, "kept: run alive", id=resource.id,
                          **fields)
                continue
            holder = tags.get(runs_format.HOLDER_TAG)
            if holder and self._held(holder):
                self._row(resource.kind, f"kept: held by volume {holder}",
                          id=resource.id, **fields)
                continue
            self._delete(resource.kind, resource.id, **fields)

    def _held(self, volume_id):
        """Whether a restore's leftover image's holder volume still exists
        (Glance on Cinder's Ceph: the volume is a clone of the image)."""
        try:
            return self._cloud.volume_exists(volume_id)
        except Exception:  # cannot tell: keep it
            return True

    def _bank_files(self, prefix, older_than=None):
        try:
            files = compat.temporary_files(self._any, prefix)
        except Exception as exc:
            self._row("bank file", f"failed: {_describe(exc)}", id=prefix)
            return
        for path, age in files:
            if older_than is not None and age <= older_than:
                continue
            if path in self._handled:
                continue
            self._handled.add(path)
            if not self._dry_run:
                compat.remove_temporary_file(self._any, path)
            self._row("bank file", self._would("delete") or "deleted", id=path)

