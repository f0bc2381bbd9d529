"""What every operation shares: Karbor's four hooks, the operation's wiring,
and the skeleton of its work.

Karbor runs an Operation's hooks in a taskflow graph: ``on_prepare_begin``,
``on_prepare_finish``, ``on_main``, ``on_complete``, each called with
``(checkpoint, resource, context, parameters, **kwargs)``. Our operations do
their work in ``on_main``; the other hooks are there for Karbor's contract
(duck-typed: Karbor's ``protection_plugin.Operation`` is never imported).

``on_main`` is the same for every operation, in this order:

1. **validate** the parameters (:meth:`Operation.validate`), and get the
   volume's keys when the bank is encrypted (:meth:`Operation.volume_keys`:
   a missing or wrong key fails here, before anything is made);
2. send ``<operation>.start`` with :attr:`~Operation.working` and
   :meth:`~Operation.start_fields`;
3. for a journaled operation (:attr:`~Operation.journaled`: protect,
   restore, delete), first sweep what dead runs left for this volume
   (:mod:`.sweep`), then start the run: its lease and journal in the bank
   (:mod:`.runs`), the lease renewed by a thread while the run works (not
   where the bank section is read-only: a restore there runs as before,
   without them);
   mark the work started: the section's ``status`` (when
   :attr:`~Operation.tracks_section`) or Karbor's record (when
   :attr:`~Operation.marks_record`) gets :attr:`~Operation.working`;
4. do the operation's **steps** (:meth:`Operation.steps`); any error there
   goes where it belongs (the section's ``status`` and ``status_reason``,
   Karbor's record: ``error``), is logged and raised as
   :attr:`~Operation.error`;
5. the section's ``status`` gets :attr:`~Operation.done`, then Karbor's
   record;
6. send ``<operation>.end`` with :attr:`~Operation.done` and
   :meth:`~Operation.end_fields`.

A run that ends, by success or by a failure it reported, removes its
journal (its temporary resources are gone by then, or tagged for a sweep);
one interrupted otherwise (``KeyboardInterrupt``, ``SystemExit``) keeps it
for the sweep once its lease runs out.

Any error from step 1 on sends ``<operation>.error`` and is raised.
"""

import dataclasses

from oslo_log import log as logging

from karbor_volume_glance import exceptions, notifications
from karbor_volume_glance.bank import retrying
from karbor_volume_glance.cloud import facade
from karbor_volume_glance.format import index as index_format
from karbor_volume_glance.format import sealing
from karbor_volume_glance.format.status import BackupStatus
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import (
    bookkeeping,
    runs,
    sweep,
    transfer,
    volume_index,
)

LOG = logging.getLogger(__name__)


def volume_keys(keys, section, volume_id, create=False, context=None):
    """The keys of ``volume_id``'s encrypted backups
    (:class:`~karbor_volume_glance.format.sealing.VolumeKeys`) from a key
    source, or None.

    ``keys`` is what the plugin and the operations are given: None (a plain
    bank), a :class:`~karbor_volume_glance.format.keys.MasterKey`, or a
    callable ``keys(section, create=..., context=...)`` returning one or None
    for the bank ``section`` is in, asked as the request ``context`` (the
    seam to the bank's wrapped key copies: the plugin's default is
    :func:`karbor_volume_glance.operations.keys.open_master_key`).
    """
    master = master_key(keys, section, create, context)
    return None if master is None else sealing.VolumeKeys(master, volume_id)


def master_key(keys, section, create=False, context=None):
    """The bank's MasterKey from ``keys`` (as :func:`volume_keys` takes
    them), or None."""
    if keys is None:
        return None
    return (keys(section, create=create, context=context) if callable(keys)
            else keys)


@dataclasses.dataclass
class Run:
    """One call of ``on_main``: what the operation's steps work with."""

    checkpoint: object
    resource: object
    context: object
    section: object
    events: notifications.OperationEvents
    kwargs: dict
    params: dict | None = None
    #: The run's journal in the bank (:class:`.runs.RunJournal`), when the
    #: operation is :attr:`Operation.journaled`.
    journal: object = None
    #: The volume's keys (:class:`~karbor_volume_glance.format.sealing.VolumeKeys`)
    #: when the bank is encrypted, else None: see :meth:`Operation.volume_keys`.
    keys: object = None
    #: The key of the volume's index entries' MACs
    #: (:func:`~karbor_volume_glance.format.index.mac_key`) when the bank is
    #: encrypted, else None.
    index_key: bytes | None = None

    @property
    def volume_id(self):
        return self.resource.id

    def sealer(self):
        """The chunk sealer of this run's backup, when it is encrypted."""
        if self.keys is None:
            return None
        return self.keys.chunks(getattr(self.checkpoint, "id", None))

    def progress(self):
        """The transfer's progress callback: notifications, and Karbor's
        ``progress`` keyword argument if given."""
        return self.events.progress(self.kwargs.get("progress"))


class Operation:
    """Karbor's Operation interface; ``on_main`` runs the operation's steps."""

    #: The operation's name in its notifications' event types.
    name = None
    #: The status while it works: in ``.start``, and in the section or record.
    working = None
    #: The status once it is done: in ``.end``, and in the section or record.
    done = BackupStatus.AVAILABLE
    #: The error its failures are raised as: ``error(resource id, cause)``.
    error = None
    #: Whether the section's ``status`` follows the operation.
    tracks_section = False
    #: The keyword argument holding Karbor's record of the operation, if any.
    record = None
    #: Whether that record gets :attr:`working` when the work starts.
    marks_record = False
    #: Whether the work is a run with a journal and a lease (:mod:`.runs`),
    #: preceded by a sweep of the volume's dead runs.
    journaled = False
    #: Whether the operation reads or writes backup data, so needs the bank's
    #: master key when the bank is encrypted (delete does not).
    uses_key = True
    #: Whether the operation may make the bank's master key (protect: the
    #: bank's first encrypted backup makes it).
    creates_key = False

    def __init__(self, settings, client_factory, notifier=None, keys=None):
        self._settings = settings
        self._client_factory = client_factory
        self.notifier = notifier or notifications.Notifier()
        self._keys = keys

    def volume_keys(self, run):
        """The volume's keys for this run, or None (a plain bank).

        ``keys`` (the constructor's) is the seam to the bank's key records:
        None (no encryption: today's format), a
        :class:`~karbor_volume_glance.format.keys.MasterKey`, or a callable
        ``keys(section, create=..., context=...)`` returning the bank's
        MasterKey or None, called once per run with the run's bank section,
        :attr:`creates_key` and the run's request context. Called before
        anything is made, so a missing or wrong key fails the run first.
        """
        if not self.uses_key:
            return None
        master = master_key(self._keys, run.section, create=self.creates_key,
                            context=run.context)
        if master is None:
            return None
        run.index_key = index_format.mac_key(master, run.volume_id)
        return sealing.VolumeKeys(master, run.volume_id)

    def events(self, context, checkpoint, volume_id, section):
        """The notifications of this operation on one volume's backup."""
        return notifications.OperationEvents(
            self.notifier, self.name, context,
            payload.base(context, self.notifier.host,
                         getattr(checkpoint, "id", None), volume_id, section,
                         self._settings),
            self._settings)

    def cloud(self, context):
        """The cloud facade for one request context."""
        return facade.Cloud(self._client_factory, context, self._settings)

    def transfer(self, section, volume_id, progress=None, sources=None,
                 sealer=None):
        """Chunk transfers for one volume's section, with our parallelism;
        ``sources`` maps the other backups it reads from to their sections;
        ``sealer`` seals and opens an encrypted backup's chunks."""
        return transfer.Transfer(section, volume_id, self._settings.parallelism,
                                 progress, sources, sealer)

    def index(self, section, volume_id, mac_key=None):
        """The bank's index of the volume's backups; with ``mac_key`` (the
        run's :attr:`Run.index_key`) its entries are checked and
        authenticated."""
        return volume_index.VolumeIndex(section, volume_id, mac_key)

    def on_prepare_begin(self, checkpoint, resource, context, parameters, **kwargs):
        """Runs before any child resource's hooks; nothing to do here."""

    def on_prepare_finish(self, checkpoint, resource, context, parameters, **kwargs):
        """Runs after all child resources' prepare hooks; nothing to do here."""

    def on_main(self, checkpoint, resource, context, parameters, **kwargs):
        volume_id = resource.id
        # the bank retries by itself from here on (the bank_retries option)
        section = retrying.retrying(checkpoint.get_resource_bank_section(volume_id),
                                    retries=self._settings.bank_retries)
        events = self.events(context, checkpoint, volume_id, section)
        with events.reported():
            run = Run(checkpoint, resource, context, section, events, kwargs)
            run.params = self.validate(parameters, run)
            try:
                run.keys = self.volume_keys(run)
            except exceptions.VolumeGlanceError as exc:
                raise self.error(volume_id, exc) from exc
            events.start(self.working, **self.start_fields(run))
            result = self._work(run)
            events.end(self.done, **self.end_fields(run, result))
        return result

    def _work(self, run):
        """Steps 3 to 5 of the module's docstring, in a run when journaled."""
        if not self.journaled:
            return self._work_in_run(run)
        if not getattr(run.section, "is_writable", True):
            LOG.warning("Volume %s: the bank is read-only here, so this %s "
                        "keeps no journal: a crash would leave its temporary "
                        "resources untracked", run.volume_id, self.name)
            return self._work_in_run(run)
        self.sweep_volume(run)
        try:
            run.journal = runs.RunJournal.start(
                run.section, self.name, getattr(run.checkpoint, "id", None),
                run.volume_id, getattr(run.context, "project_id", None),
                self._settings.lease_seconds)
        except Exception as exc:  # nothing is made without a journal
            LOG.error("%s of volume %s cannot start its journal: %s",
                      self.name.capitalize(), run.volume_id,
                      bookkeeping.describe(exc))
            raise self.error(run.volume_id, exc) from exc
        run.journal.lease.start()
        try:
            result = self._work_in_run(run)
        except Exception:
            run.journal.finish()
            raise
        except BaseException:
            run.journal.abandon()
            raise
        run.journal.finish()
        return result

    def sweep_volume(self, run):
        """Clean up what dead runs left for this volume; a sweep that fails
        is logged and does not stop the run."""
        try:
            cloud = (self.cloud(run.context) if self._client_factory is not None
                     else None)
            found = sweep.Sweep(run.section, cloud, self._settings,
                                getattr(run.context, "project_id", None)
                                ).volume(run.volume_id)
        except Exception as exc:
            LOG.warning("Volume %s: could not sweep what dead runs left: %s",
                        run.volume_id, bookkeeping.describe(exc))
            return
        for row in found:
            LOG.info("Volume %s: swept %s", run.volume_id, row)

    def _work_in_run(self, run):
        status = (bookkeeping.SectionStatus(run.section, run.volume_id)
                  if self.tracks_section else None)
        record = run.kwargs.get(self.record) if self.record else None
        if self.marks_record:
            bookkeeping.update_record(record, run.resource, self.working)
        self.started(run)
        with bookkeeping.failure_reported(self.error, run.resource, status=status,
                                          record=record):
            if status is not None:
                status.set(self.working)
            result = self.steps(run)
            if status is not None:
                status.set(self.done)
        bookkeeping.update_record(record, run.resource, self.done)
        self.finished(run, result)
        return result

    # --- what each operation implements -----------------------------------

    def validate(self, parameters, run):
        """The checked parameters (``run.params`` from then on)."""
        return parameters

    def start_fields(self, run):
        """The fields ``.start`` adds to the payload."""
        return {}

    def started(self, run):
        """Called when the work starts (it logs)."""

    def steps(self, run):
        """The operation's work; its result is ``on_main``'s."""
        raise NotImplementedError

    def finished(self, run, result):
        """Called when the work is done and recorded (it logs)."""

    def end_fields(self, run, result):
        """The fields ``.end`` adds to the payload."""
        return {}

    def on_complete(self, checkpoint, resource, context, parameters, **kwargs):
        """Runs after all dependent resources' hooks; nothing to do here."""
