"""A run's journal and lease in the bank (format: :mod:`..format.runs`).

:class:`RunJournal` is one protect, restore or delete: :meth:`RunJournal.start`
writes its lease and then its journal in the run's own section, before the
run touches anything; :meth:`RunJournal.intend` records a cloud resource
before the call that creates it, :meth:`RunJournal.created` its id as soon as
the cloud returns it; :meth:`RunJournal.finish` removes the run's section.
A :class:`Lease` thread rewrites the lease every ``lease_seconds / 3`` while
the run works. :func:`runs_of` reads the runs of a volume (or of every
volume) back for :mod:`.sweep`.
"""

import dataclasses
import datetime
import os
import socket
import threading
import uuid

from oslo_log import log as logging

from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import runs as runs_format

LOG = logging.getLogger(__name__)


def _now():
    return datetime.datetime.now(datetime.UTC)


def bank_id(section):
    """The owner id of the bank ``section`` is in ('' if it cannot say)."""
    try:
        return str(compat.bank_of(section).get_owner_id())
    except Exception:  # a bank that does not tell: tags without it
        LOG.debug("The bank does not tell its owner id", exc_info=True)
        return ""


class RunJournal:
    """The journal of one run, kept in the bank as the run goes."""

    def __init__(self, section, journal):
        self.section = section
        self.journal = journal
        self._lock = threading.Lock()

    @property
    def run_id(self):
        return self.journal["run_id"]

    @classmethod
    def start(cls, any_section, operation, checkpoint_id, volume_id,
              project_id, lease_seconds):
        """A new run: its lease, then its journal, written now."""
        run_id = uuid.uuid4().hex
        section = compat.section_at(any_section,
                                    runs_format.run_prefix(volume_id, run_id))
        host, pid = socket.gethostname(), os.getpid()
        journal = runs_format.new_journal(
            run_id, operation, checkpoint_id, volume_id, bank_id(any_section),
            project_id, host, pid, _now())
        run = cls(section, journal)
        run.lease = Lease(section, run_id, host, pid, lease_seconds)
        run.lease.renew()
        run._save()
        LOG.info("Run %s: %s of volume %s in checkpoint %s (host %s, pid %d)",
                 run_id, operation, volume_id, checkpoint_id, host, pid)
        return run

    def _save(self):
        self.section.update_object(runs_format.JOURNAL_KEY, self.journal)

    def tags(self, role):
        return runs_format.tags(self.journal, role)

    def intend(self, kind, name, role):
        """Record a resource about to be made; a token for :meth:`created`."""
        with self._lock:
            index = runs_format.intend(self.journal, kind, name, role, _now())
            self._save()
        return index

    def created(self, token, resource_id):
        with self._lock:
            runs_format.created(self.journal, token, resource_id)
            self._save()

    def set_state(self, token, state):
        with self._lock:
            runs_format.set_state(self.journal, token, state)
            self._save()

    def finish(self):
        """The run is over and left nothing to sweep: remove its section."""
        self.lease.stop()
        try:
            for key in (runs_format.JOURNAL_KEY, runs_format.LEASE_KEY):
                compat.delete_if_present(self.section, key)
        except Exception as exc:  # never over the run's outcome
            LOG.warning("Run %s: could not remove its journal (a sweep will "
                        "once its lease is over): %s", self.run_id, exc)
            return
        LOG.debug("Run %s finished", self.run_id)

    def abandon(self):
        """Stop renewing the lease, keep the journal: a later sweep finds
        what the run could not clean up once the lease runs out."""
        self.lease.stop()


class Lease:
    """Rewrites a run's lease every ``lease_seconds / 3`` from a thread."""

    def __init__(self, section, run_id, host, pid, lease_seconds):
        self._section = section
        self._run_id, self._host, self._pid = run_id, host, pid
        self.lease_seconds = lease_seconds
        self._stopped = threading.Event()
        self._thread = None

    def renew(self):
        self._section.update_object(runs_format.LEASE_KEY, runs_format.new_lease(
            self._run_id, self._host, self._pid, self.lease_seconds, _now()))

    def start(self):
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"lease-{self._run_id}")
        self._thread.start()
        return self

    def _loop(self):
        while not self._stopped.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except Exception as exc:  # the next renewal may succeed
                LOG.warning("Could not renew the lease of run %s: %s",
                            self._run_id, exc)

    def stop(self):
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()


@dataclasses.dataclass
class FoundRun:
    """A run read back from the bank."""

    volume_id: str
    run_id: str
    section: object
    journal: dict | None
    lease: dict | None

    def dead(self, lease_seconds, now=None):
        return runs_format.is_dead(self.lease, now or _now(), lease_seconds)


def runs_of(any_section, volume_id=None):
    """Every run in the bank (of one volume with ``volume_id``)."""
    root = compat.section_at(any_section, runs_format.RUNS_ROOT)
    prefix = f"{volume_id}/" if volume_id else None
    found = {}
    for key in compat.list_all(root, prefix=prefix):
        parsed = runs_format.parse_run_key(key)
        if parsed is not None:
            found.setdefault(parsed, None)
    runs = []
    for volume, run_id in sorted(found):
        section = compat.section_at(any_section,
                                    runs_format.run_prefix(volume, run_id))
        raw = compat.read_optional(section, runs_format.JOURNAL_KEY)
        try:
            journal = None if raw is None else runs_format.parse_journal(raw)
        except ValueError as exc:
            LOG.warning("Run %s of volume %s: unreadable journal (%s)", run_id,
                        volume, exc)
            journal = None
        lease = compat.read_optional(section, runs_format.LEASE_KEY)
        runs.append(FoundRun(volume, run_id, section, journal, lease))
    return runs
