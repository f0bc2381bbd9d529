"""The standalone runner: checkpoints of several volumes, without Karbor.

What Karbor's protection service does around the plugin, for the CLI: make a
checkpoint, run each volume's operation hooks in Karbor's order, and keep the
checkpoint's status (``protecting`` → ``available`` or ``error``;
``deleting`` → ``deleted`` or ``error-deleting``). One volume that fails does
not stop the others; each volume's outcome is returned.
"""

import contextlib
import dataclasses

from oslo_log import log as logging

from karbor_volume_glance import exceptions, readiness
from karbor_volume_glance.bank import retrying
from karbor_volume_glance.format import manifest as manifest_format
from karbor_volume_glance.format import owner as owner_format
from karbor_volume_glance.format import runs as runs_format
from karbor_volume_glance.format import sealing
from karbor_volume_glance.format.status import CheckpointStatus
from karbor_volume_glance.operations import base as operations_base
from karbor_volume_glance.operations import runs
from karbor_volume_glance.standalone import checkpoints as cps
from karbor_volume_glance.standalone import tenancy
from karbor_volume_glance.standalone.hooks import run_operation
from karbor_volume_glance.standalone.records import OperationRecord
from karbor_volume_glance.standalone.resources import volume_resource

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """What became of one volume in one operation."""

    volume_id: str
    ok: bool
    error: str | None = None
    new_volume_id: str | None = None
    #: What a successful operation reported beside its success (a restore's
    #: attribute the target could not honour, a temporary image left behind).
    warning: str | None = None
    #: What the operation reports of its work when asked (a deep verify's
    #: chunks checked and damaged ones), failed or not.
    details: dict | None = None

    def to_dict(self):
        return {key: value for key, value in dataclasses.asdict(self).items()
                if value is not None}


@dataclasses.dataclass
class Result:
    """An operation over a checkpoint: its id and every volume's outcome."""

    checkpoint_id: str
    outcomes: list

    @property
    def ok(self):
        return all(outcome.ok for outcome in self.outcomes)

    def failures(self):
        return [outcome for outcome in self.outcomes if not outcome.ok]

    def to_dict(self):
        return {"checkpoint_id": self.checkpoint_id, "ok": self.ok,
                "volumes": [outcome.to_dict() for outcome in self.outcomes]}


class Runner:
    """Runs the plugin's operations on checkpoints of one bank for one project.

    ``context`` needs ``project_id``; it is handed to the plugin's client
    factory as Karbor hands its request context. Who it is
    (:func:`~karbor_volume_glance.standalone.tenancy.caller_of`: project id
    and names, admin role) decides which checkpoints it sees and may change
    (:mod:`~karbor_volume_glance.standalone.tenancy`). ``progress``
    (optional) is passed to the operations as ``progress(volume_id, done,
    total)``.
    """

    def __init__(self, plugin, bank, context, progress=None, wait_ready=0.0):
        self.plugin = plugin
        # the bank retries by itself (bank_retries), for the checkpoint
        # records as for the operations
        self.bank = retrying.retrying(bank, retries=plugin.settings.bank_retries)
        self.store = cps.CheckpointStore(self.bank)
        self.context = context
        self.caller = tenancy.caller_of(context)
        self.progress = progress
        self.wait_ready = wait_ready
        self._record_key_opened = False

    def open_record_key(self, create=False):
        """Open the bank's master key for its checkpoint records (the
        store's ``master``): None for a plain bank. With ``create`` (a
        protect, before its checkpoint is made) the key of a bank to be
        encrypted is made now, and a key that cannot be opened fails here,
        before anything is created. Without, a key that cannot be opened
        leaves the records read as they are (sealed names shown as such):
        listing needs no key, and the operations fail on the key themselves.
        """
        if self._record_key_opened and (self.store.master is not None
                                        or not create):
            return self.store.master
        try:
            master = operations_base.master_key(
                self.plugin.keys, self.bank, create=create,
                context=self.context)
        except exceptions.BankKeyError as exc:
            if create:
                raise
            LOG.info("Checkpoint records read without the bank's key: %s",
                     exc)
            master = None
        self.store.master = master
        self._record_key_opened = True
        return master

    def check(self, cloud=True):
        """Readiness of the configuration, the bank and (with ``cloud``) the
        cloud's endpoints."""
        # the bank as it answers now: a readiness probe is not retried
        return self.plugin.check_setup(retrying.unwrap(self.bank),
                                       self.context if cloud else None,
                                       key_context=self.context)

    def ensure_ready(self, cloud=True):
        """Raise NotReady unless the bank (and the cloud) answer.

        With ``wait_ready`` seconds, a runner that finds them not ready checks
        again every ``init_check_interval`` seconds until they answer or the
        time is up: a long-running runner resumes by itself.
        """
        interval = self.plugin.settings.init_check_interval
        found = readiness.wait_until_ready(lambda: self.check(cloud), interval,
                                           self.wait_ready)
        if not found.ready:
            raise exceptions.NotReady(found.reason())
        return found

    def _run(self, getter, checkpoint, resource, parameters, **kwargs):
        operation = getattr(self.plugin, getter)(resource)
        return run_operation(operation, checkpoint, resource, self.context,
                             parameters, progress=self.progress, **kwargs)

    def _each(self, getter, checkpoint, resources, parameters, extra=dict,
              details=False):
        """Run one operation on every resource; a failure does not stop the rest.

        ``parameters`` maps volume ids to their parameters; ``extra()`` makes
        the keywords Karbor passes that operation (fresh for each resource).
        With ``details``, each outcome keeps the operation's result (or the
        ``report`` its error carries).
        """
        outcomes = []
        for resource in resources:
            kwargs = extra()
            try:
                value = self._run(getter, checkpoint, resource,
                                  parameters.get(resource.id, {}), **kwargs)
            except exceptions.VolumeGlanceError as exc:
                report = getattr(getattr(exc, "cause", exc), "report", None)
                outcomes.append(Outcome(resource.id, False, str(exc),
                                        details=report if details else None))
                continue
            new_volume_id = kwargs.get("new_resources", {}).get(resource.id)
            record = kwargs.get("restore") or kwargs.get("verify")
            warning = None if record is None else record.reason_of(resource)
            outcomes.append(Outcome(resource.id, True, new_volume_id=new_volume_id,
                                    warning=warning,
                                    details=value if details else None))
        return Result(checkpoint.id, outcomes)

    def checkpoint(self, checkpoint_id):
        """The checkpoint by id, if the caller may read it (its own, one
        shared with its project, or any for an admin); CheckpointNotFound
        otherwise, as for a checkpoint that does not exist.

        Another site's Keystone gives the same tenant another project id, so
        the owner is also matched by its project and domain names.
        """
        self.open_record_key()
        checkpoint = self.store.get(checkpoint_id)
        if not tenancy.can_read(checkpoint.index, self.caller):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        return checkpoint

    def owned_checkpoint(self, checkpoint_id):
        """The checkpoint, if the caller may change (delete, share) it: an
        authenticated owner, or an admin. NotAuthorized for an anonymous
        caller, CheckpointNotFound for anyone else's (and for a checkpoint
        shared with the caller, which it may read but not change)."""
        if not self.caller.authenticated:
            raise exceptions.NotAuthorized(
                "changing or deleting a checkpoint needs an authenticated "
                "caller")
        checkpoint = self.checkpoint(checkpoint_id)
        if not tenancy.can_change(checkpoint.index, self.caller):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        return checkpoint

    def _require_authenticated(self):
        if not self.caller.authenticated:
            raise exceptions.NotAuthorized(
                "making a checkpoint needs an authenticated caller")

    def protect(self, volume_ids, parameters, plan_name="karbor-volume-glance",
                share_with=()):
        """One checkpoint holding every volume; ``parameters`` per volume id.

        The checkpoint records its owner (the caller) and is shared with the
        projects of ``share_with`` (``PROJECT[@DOMAIN]`` texts, or share
        entries). Nothing is created unless the bank and the cloud answer
        (NotReady) and every volume's options are valid (:meth:`check_protect`)."""
        self._require_authenticated()
        shares = [self._share_entry(share) for share in share_with]
        self.ensure_ready()
        self.check_protect(volume_ids, parameters)
        resources = [volume_resource(volume_id) for volume_id in volume_ids]
        self.open_record_key(create=True)
        checkpoint = self.store.create(resources, self.context.project_id,
                                       plan_name=plan_name,
                                       owner=self.caller.owner_record(),
                                       shared_with=shares)
        LOG.info("Checkpoint %s: protecting %d volumes", checkpoint.id,
                 len(resources))
        with self.checkpoint_run(checkpoint):
            result = self._each("get_protect_operation", checkpoint, resources,
                                parameters)
            checkpoint.index["extra_info"] = _failure_info(result)
            checkpoint.set_status(CheckpointStatus.AVAILABLE if result.ok
                                  else CheckpointStatus.ERROR)
        return result

    def check_protect(self, volume_ids, parameters):
        """Refuse, before a checkpoint is created, a protect that cannot
        succeed: wrong options, a volume missing or in a failure status, a
        snapshot that is not the volume's or not available. Every volume is
        checked; ProtectRefused names each one refused and why. A refused
        protect leaves nothing in the bank or the cloud."""
        failures = []
        for volume_id in volume_ids:
            operation = self.plugin.get_protect_operation(volume_resource(volume_id))
            try:
                operation.check(volume_id, parameters.get(volume_id, {}),
                                self.context)
            except exceptions.ProtectFailed as exc:
                failures.append(exc)
        if failures:
            raise exceptions.ProtectRefused(failures)

    @contextlib.contextmanager
    def checkpoint_run(self, checkpoint):
        """A run with a lease for the checkpoint itself while its volumes
        are protected (:mod:`..format.runs`): a runner killed between two
        volumes leaves a dead run whose sweep marks the checkpoint error."""
        run = runs.RunJournal.start(
            self.bank.get_sub_section("/"), runs_format.PROTECT, checkpoint.id,
            runs_format.checkpoint_run(checkpoint.id), self.context.project_id,
            self.plugin.settings.lease_seconds)
        run.lease.start()
        try:
            yield run
        except Exception:
            run.finish()
            raise
        except BaseException:
            run.abandon()
            raise
        run.finish()

    def restore(self, checkpoint_id, parameters):
        """Restore every volume of the checkpoint; ``parameters`` per volume id."""
        self.ensure_ready()
        checkpoint = self.checkpoint(checkpoint_id)
        return self._each(
            "get_restore_operation", checkpoint, checkpoint.resources, parameters,
            lambda: {"restore": OperationRecord(), "new_resources": {}})

    def verify(self, checkpoint_id, options=None):
        """Verify every volume of the checkpoint with ``options`` (the
        VERIFY_SCHEMA's: ``deep``, ``read_data_subset``, ``seed``); with any,
        each outcome's ``details`` says what was checked and found damaged."""
        self.ensure_ready(cloud=False)  # only the bank is read
        checkpoint = self.checkpoint(checkpoint_id)
        options = dict(options or {})
        return self._each(
            "get_verify_operation", checkpoint, checkpoint.resources,
            {resource.id: dict(options) for resource in checkpoint.resources},
            lambda: {"verify": OperationRecord(), "new_resources": {}},
            details=bool(options))

    def delete(self, checkpoint_id):
        """Delete every volume's data; the checkpoint ends ``deleted``.

        Works on a checkpoint in any status, so a failed backup can always be
        deleted; a volume whose data cannot be removed leaves the checkpoint
        ``error-deleting``, and deleting again retries it. A checkpoint whose
        record is damaged is deleted too: the volumes found under it, its
        index keys and its record.
        """
        if not self.caller.authenticated:
            raise exceptions.NotAuthorized(
                "changing or deleting a checkpoint needs an authenticated "
                "caller")
        # read without the key: a delete needs none, and one whose record
        # is not authentic is deleted all the same
        store = cps.CheckpointStore(self.bank, self.store.provider_id)
        checkpoint = store.open(checkpoint_id)  # a damaged one too
        if not tenancy.can_change(checkpoint.index, self.caller):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        checkpoint.set_status(CheckpointStatus.DELETING)
        result = self._each("get_delete_operation", checkpoint,
                            checkpoint.resources, {})
        if result.ok:
            checkpoint.set_status(CheckpointStatus.DELETED)
            store.remove_indices(checkpoint)
        else:
            checkpoint.set_status(CheckpointStatus.ERROR_DELETING)
        return result

    def sweep(self, dry_run=False):
        """Delete what dead runs left in this bank and this project's cloud
        (:meth:`VolumeGlanceProtectionPlugin.sweep`)."""
        self.ensure_ready()
        return self.plugin.sweep(self.bank, self.context, dry_run=dry_run)

    def delete_bank_only(self, checkpoint_id):
        """An admin's delete whatever the checkpoint's owner record says (an
        old or damaged one): NotAuthorized without the admin role."""
        if not self.caller.is_admin:
            raise exceptions.NotAuthorized(
                "deleting with the bank alone needs the admin role")
        return self.delete(checkpoint_id)

    def _share_entry(self, share):
        if isinstance(share, dict):
            return share
        try:
            return owner_format.parse_share(
                share, self.caller.domain_name or owner_format.DEFAULT_DOMAIN)
        except ValueError as exc:
            raise exceptions.InvalidParameters("share_with", str(exc)) from exc

    def share(self, checkpoint_id, project):
        """Share the caller's checkpoint with ``PROJECT[@DOMAIN]``: that
        project then lists, shows, verifies and restores it (never deletes
        it). Returns the checkpoint's shares."""
        entry = self._share_entry(project)
        checkpoint = self.owned_checkpoint(checkpoint_id)
        if owner_format.add_share(checkpoint.index, entry):
            self.store.save(checkpoint)
        return checkpoint.to_dict()["shared_with"]

    def unshare(self, checkpoint_id, project):
        """Revoke a share made by :meth:`share` (or ``--share-with``)."""
        entry = self._share_entry(project)
        checkpoint = self.owned_checkpoint(checkpoint_id)
        if owner_format.remove_share(checkpoint.index, entry):
            self.store.save(checkpoint)
        return checkpoint.to_dict()["shared_with"]

    def list(self, all_projects=False):
        """The caller's checkpoints and those shared with its project (with
        ``all_projects``, every project's: the admin role only)."""
        if all_projects and not self.caller.is_admin:
            raise exceptions.NotAuthorized(
                "--all-projects needs the admin role (Keystone gave "
                f"{self.caller.describe()} no admin role)")
        # every project's entries: the same tenant at another site has
        # another project id (a damaged record has no owner: admins only)
        self.open_record_key()
        checkpoints = self.store.list()
        if all_projects:
            return [c.to_dict() for c in checkpoints]
        return [c.to_dict() for c in checkpoints
                if tenancy.owns(c.index, self.caller)
                or tenancy.shared_with(c.index, self.caller)]

    def show(self, checkpoint_id):
        """The checkpoint and, per volume, what the bank says of its backup:
        the saved info, plus :func:`backup_details` when there is a manifest.
        A damaged checkpoint is shown as such, with the volumes found under
        it; a volume whose records cannot be read says why (``damage``). The
        caller must be allowed to read it, as for :meth:`checkpoint`."""
        self.open_record_key()
        checkpoint = self.store.open(checkpoint_id)  # a damaged one too
        if not tenancy.can_read(checkpoint.index, self.caller):
            raise exceptions.CheckpointNotFound(checkpoint_id)
        shown = checkpoint.to_dict()
        shown["volumes"] = {
            resource.id: self._volume_info(checkpoint, resource)
            for resource in checkpoint.resources
        }
        return shown

    def _volume_info(self, checkpoint, resource):
        try:
            info = (self.plugin.get_saved_info(checkpoint, resource)
                    or {"status": None})
            section = checkpoint.get_resource_bank_section(resource.id)
            manifest = self.plugin.readable_manifest(section, resource.id,
                                                     checkpoint.id)
            info.update(backup_details(manifest))
        except exceptions.VolumeGlanceError as exc:
            LOG.warning("Checkpoint %s, volume %s: %s", checkpoint.id,
                        resource.id, exc)
            return {"status": None, "damage": str(exc)}
        return info


def backup_details(manifest):
    """What a backup's manifest (as read from the bank) says of its lineage.

    ``incremental``, ``parent_checkpoint_id``, ``full_reason`` (why an
    incremental that was asked for is full), ``data_timestamp``,
    ``snapshot_id``, ``backup_path`` and ``backup_path_reason`` (the way the
    data took to Glance, and why), and ``stored_bytes``: the bytes this backup stored
    itself (the ``stored_size`` of its chunk records without a ``source``;
    a delta counts its own size). Older manifests lack some of these (None);
    Karbor's layout has no chunk records, so its ``stored_bytes`` is None.
    An encrypted backup adds ``encrypted: true``; sealed (read without the
    bank's key) it says nothing else. Returns {} for no manifest.
    """
    if not isinstance(manifest, dict):
        return {}
    if sealing.is_sealed(manifest):  # no key to open it: only that it is
        return {"encrypted": True}
    chunks = manifest.get("chunks")
    stored = None
    if isinstance(chunks, list):
        stored = sum(_own_size(record) for record in chunks)
    details = {
        "incremental": manifest.get("incremental") is True,
        "parent_checkpoint_id": manifest.get("parent_checkpoint_id"),
        "full_reason": manifest.get("full_reason"),
        "data_timestamp": manifest.get("data_timestamp"),
        "snapshot_id": manifest.get("snapshot_id"),
        "backup_path": manifest.get("backup_path"),
        "backup_path_reason": manifest.get("backup_path_reason"),
        "stored_bytes": stored,
    }
    if manifest.get("format_version") == manifest_format.ENCRYPTED_VERSION:
        details["encrypted"] = True  # opened with the bank's key
    return details


def _own_size(record):
    """The bytes a chunk record stored in its own backup (0 for zeros and
    chunks in another backup); format 1 records have only ``length``."""
    if not isinstance(record, dict) or record.get("zero") or record.get("source"):
        return 0
    size = record.get("stored_size", record.get("length"))
    return size if isinstance(size, int) and not isinstance(size, bool) else 0


def _failure_info(result):
    failures = {outcome.volume_id: outcome.error for outcome in result.failures()}
    return {"failed_volumes": failures} if failures else None
