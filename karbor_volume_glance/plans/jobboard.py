"""Plans on a taskflow jobboard: one job per volume, run by conductors.

``plan protect|restore PLAN --jobboard URL`` posts one job per volume of the
plan (the payload is :mod:`.jobs`) on a taskflow jobboard;
``karbor-volume-glance conductor --jobboard URL`` (:class:`Conductor`) claims
jobs, any number of conductors on any number of hosts, and runs each one's
volume with the same operations as a local plan run (:mod:`.protection`,
:mod:`.restoration`).

The bank is the record, as for a local run (:mod:`.engine` says why): a
job carries no state of its own, the conductor reads what is left to do from
the bank. So a job is idempotent:

- a claim lasts ``jobboard_claim_seconds``; the conductor extends it every
  third of that while it works, so a conductor that dies (kill -9, a host
  lost) leaves a claim that expires, and another conductor claims the job;
- before it protects, a conductor reads the volume's backup in the
  checkpoint: ``available`` means an earlier claim finished it (and died
  before it could say so on the board), so the volume is *not* protected
  again; otherwise it waits until no live run of that volume in that
  checkpoint is left (a run's lease, ``lease_seconds``, says so), sweeps what
  the dead runs left (their journals and tags, :mod:`..operations.sweep`),
  and protects the volume over what its dead attempt left in its section;
- after each volume, the conductor that ran it decides the checkpoint's
  status from every volume's status in the bank: the last volume to end, on
  whichever conductor, ends the checkpoint ``available`` (or ``error``,
  naming the failed volumes);
- a restore's outcome (the new volume's id, or the error) is kept in Redis,
  under the posting's batch, for the poster to collect; a reclaimed restore
  whose outcome is already there is not run again.

``plan protect`` waits for the checkpoint, reporting how many volumes are
done, unless ``--detach``; ``plan status`` shows it.

On a Redis board, waits are woken by Redis pub/sub (:class:`Wakeups`;
taskflow's Redis board has no notification of its own, its ``wait`` polls):
a poster publishes when it posts jobs, and a conductor when it gives a job
back, so an idle conductor claims at once; a conductor publishes when a
volume of a checkpoint ends, so ``plan protect`` sees the last one at once.
``jobboard_poll_interval`` stays the pace of a conductor's looks (a claim
that expired is announced by no message); a poster whose subscription
lives looks every :data:`POSTER_FALLBACK_POLLS` polls only (for a message
lost with a connection).

The jobboard's URL is
``redis://[:password@]host:port/db`` (taskflow's ``redis`` board; ``rediss``
for TLS), or ``zookeeper://host:port[,host:port]/path`` and
``etcd://host:port/path`` (taskflow's other boards, untested here).
"""

import contextlib
import dataclasses
import json
import os
import socket
import threading
import time
import urllib.parse
import uuid
import warnings

from oslo_log import log as logging

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import runs as runs_format
from karbor_volume_glance.format.status import (
    REASON_KEY,
    BackupStatus,
    CheckpointStatus,
)
from karbor_volume_glance.operations import bookkeeping, runs
from karbor_volume_glance.operations import sweep as sweeping
from karbor_volume_glance.plans import catalog, engine, jobs, protection
from karbor_volume_glance.plans.errors import PlanError
from karbor_volume_glance.plans.results import PlanResult
from karbor_volume_glance.standalone.hooks import run_operation
from karbor_volume_glance.standalone.records import OperationRecord
from karbor_volume_glance.standalone.resources import volume_resource
from karbor_volume_glance.standalone.runner import Outcome

LOG = logging.getLogger(__name__)

#: The taskflow board of each URL scheme.
BOARDS = {"redis": "redis", "rediss": "redis", "zookeeper": "zookeeper",
          "etcd": "etcd"}
#: The namespace of our jobs (and of the restore outcomes) in Redis.
NAMESPACE = "karbor-volume-glance"
#: Seconds a restore's outcomes stay in Redis for the poster to collect.
OUTCOME_TTL = 7 * 24 * 3600
#: A volume's statuses that end its job.
SETTLED = (BackupStatus.AVAILABLE, BackupStatus.ERROR)


class JobboardError(exceptions.VolumeGlanceError):
    """A jobboard URL that cannot be used, or a board that does not answer."""


class Busy(exceptions.VolumeGlanceError):
    """A volume still has a live run: the job is given back, not run."""


# --- the board ----------------------------------------------------------


def board_conf(url):
    """taskflow's jobboard configuration of ``url`` (JobboardError if it is
    not one of :data:`BOARDS`)."""
    try:
        parts = urllib.parse.urlsplit(url)
        # ZooKeeper's URL names several hosts, each with its port
        port = None if parts.scheme == "zookeeper" else parts.port
    except ValueError as exc:
        raise JobboardError(f"jobboard URL: {exc}") from exc
    board = BOARDS.get(parts.scheme)
    if board is None or not (parts.hostname or board == "zookeeper"
                             and parts.netloc):
        raise JobboardError("jobboard URL: expected redis://host:port/db "
                            "(or rediss://, zookeeper://, etcd://), got "
                            f"{_without_password(url)!r}")
    path = parts.path.strip("/")
    if board == "redis":
        conf = {"board": board, "host": parts.hostname, "port": port or 6379,
                "namespace": NAMESPACE}
        if path:
            if not path.isdigit():
                raise JobboardError(f"jobboard URL: the Redis database is a "
                                    f"number, got {path!r}")
            conf["db"] = int(path)
        if parts.password:
            conf["password"] = urllib.parse.unquote(parts.password)
        if parts.username:
            conf["username"] = urllib.parse.unquote(parts.username)
        if parts.scheme == "rediss":
            conf["ssl"] = True
        return conf
    if board == "zookeeper":
        return {"board": board, "hosts": parts.netloc.rpartition("@")[2],
                "path": "/" + (path or NAMESPACE)}
    return {"board": board, "host": parts.hostname, "port": port or 2379,
            "path": "/" + (path or NAMESPACE)}


def _without_password(url):
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable>"
    return url


@contextlib.contextmanager
def connected(url, name="karbor-volume-glance"):
    """The jobboard of ``url``, connected, closed on exit."""
    conf = board_conf(url)
    with warnings.catch_warnings():  # taskflow's eventlet import (engine.py)
        warnings.simplefilter("ignore")
        from taskflow.jobs import backends
    try:
        board = backends.fetch(name, conf)
        board.connect()
    except Exception as exc:
        raise JobboardError(f"jobboard {_without_password(url)}: cannot "
                            f"connect: {type(exc).__name__}: {exc}") from exc
    try:
        yield board
    finally:
        board.close()


class Outcomes:
    """Restore outcomes in Redis: a hash per batch, volume id -> outcome."""

    def __init__(self, url):
        conf = board_conf(url)
        if conf["board"] != "redis":
            raise JobboardError("plan restore on a jobboard keeps the new "
                                "volumes' ids in Redis: give a redis:// board")
        self._client = _redis_client(conf)

    def _key(self, batch):
        return f"{NAMESPACE}:restore:{batch}"

    def put(self, batch, outcome):
        key = self._key(batch)
        self._client.hset(key, outcome.volume_id, json.dumps(outcome.to_dict()))
        self._client.expire(key, OUTCOME_TTL)

    def get(self, batch, volume_id):
        raw = self._client.hget(self._key(batch), volume_id)
        return None if raw is None else _outcome(json.loads(raw))

    def all(self, batch):
        return {key.decode(): _outcome(json.loads(value)) for key, value in
                self._client.hgetall(self._key(batch)).items()}

    def forget(self, batch):
        self._client.delete(self._key(batch))

    def close(self):
        self._client.close()


def _outcome(row):
    return Outcome(row["volume_id"], bool(row.get("ok")), row.get("error"),
                   new_volume_id=row.get("new_volume_id"))


#: How many ``jobboard_poll_interval`` s a waiting poster lets pass between
#: two looks at the bank while its subscription lives: every change it
#: waits for is announced, so the looks are only the fallback of a lost
#: message (and each one reads every volume's status).
POSTER_FALLBACK_POLLS = 10
#: The pub/sub channel of new or given-back jobs.
JOBS_CHANNEL = f"{NAMESPACE}:jobs"


def checkpoint_channel(checkpoint_id):
    """The pub/sub channel of a checkpoint's volumes ending."""
    return f"{NAMESPACE}:checkpoint:{checkpoint_id}"


class Wakeups:
    """Wake-ups of waiting threads by Redis pub/sub messages on a channel.

    A waiter notes :meth:`seen` before it looks (at the board, at the bank),
    then :meth:`wait` returns as soon as a message came since, or after
    ``timeout`` (the poll it replaces). A listener thread holds the
    subscription; :meth:`close` ends it. :meth:`publish` sends one. On a
    board that is not Redis, or when Redis's pub/sub cannot be used, there
    are no messages: :meth:`wait` is the poll alone.
    """

    def __init__(self, url, channel):
        self._condition = threading.Condition()
        self._count = 0
        self._closed = threading.Event()
        self._client = self._pubsub = self._thread = None
        self.channel = channel
        conf = board_conf(url)
        if conf["board"] != "redis":
            return
        try:
            self._client = wakeup_client(conf)
            if self._client is None:
                return
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(channel)
        except Exception as exc:  # no pub/sub (a proxy): polls only
            LOG.warning("Jobboard: no Redis pub/sub on %s (%s): polling only",
                        channel, exc)
            self._close_client()
            return
        self._thread = threading.Thread(target=self._listen, daemon=True,
                                        name=f"wakeups-{channel}")
        self._thread.start()

    def _listen(self):
        while not self._closed.is_set():
            try:
                message = self._pubsub.get_message(timeout=1.0)
            except Exception as exc:
                if self._closed.is_set():
                    return
                LOG.warning("Jobboard: pub/sub of %s lost (%s): polling only",
                            self.channel, exc)
                return
            if message is not None:
                self.notify()

    @property
    def live(self):
        """Whether messages arrive (the subscription's listener runs)."""
        return (self._thread is not None and self._thread.is_alive()
                and not self._closed.is_set())

    def fallback(self, poll_interval):
        """The pace of a poster's looks: :data:`POSTER_FALLBACK_POLLS`
        polls while messages arrive, else the poll."""
        return poll_interval * (POSTER_FALLBACK_POLLS if self.live else 1)

    def seen(self):
        with self._condition:
            return self._count

    def notify(self):
        """Wake every waiter (a message came, or this process has news)."""
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    def wait(self, seen, timeout):
        """Until a wake-up since ``seen``, or ``timeout`` seconds."""
        with self._condition:
            self._condition.wait_for(lambda: self._count != seen, timeout)

    def publish(self, channel=None):
        publish(self._client, channel or self.channel)

    def _close_client(self):
        for closing in (self._pubsub, self._client):
            if closing is not None:
                with contextlib.suppress(Exception):
                    closing.close()

    def close(self):
        """End the subscription: its connection closed under the listener,
        which stops waiting for a message at once."""
        self._closed.set()
        self._close_client()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def _redis_client(conf, **options):
    import redis

    return redis.Redis(
        host=conf["host"], port=conf["port"], db=conf.get("db", 0),
        username=conf.get("username"), password=conf.get("password"),
        ssl=conf.get("ssl", False), **options)


def wakeup_client(conf):
    """The Redis client of wake-ups: no retries and a short connect timeout,
    as a lost wake-up only costs a poll (None: no wake-ups)."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return _redis_client(conf, retry=Retry(NoBackoff(), 0),
                         socket_connect_timeout=2.0)


def publish(client, channel):
    """One wake-up message on ``channel`` (nothing without a Redis client;
    a failure only costs the waiters a poll)."""
    if client is None:
        return
    try:
        client.publish(channel, b"1")
    except Exception as exc:
        LOG.warning("Jobboard: could not publish on %s: %s", channel, exc)


def post(url, payloads):
    """Post one job per payload, then wake the idle conductors; the jobs'
    uuids."""
    posted = []
    with connected(url) as board:
        for payload in payloads:
            job = board.post(payload.name, details=payload.encode())
            posted.append(job.uuid)
    LOG.info("Posted %d jobs on the jobboard", len(posted))
    conf = board_conf(url)
    client = wakeup_client(conf) if posted and conf["board"] == "redis" else None
    if client is not None:
        try:
            publish(client, JOBS_CHANNEL)
        finally:
            client.close()
    return posted


# --- the checkpoint, from every volume's status in the bank --------------


def volume_states(checkpoint):
    """volume id -> (status or None, reason or None), from the bank."""
    states = {}
    for resource in checkpoint.resources:
        section = checkpoint.get_resource_bank_section(resource.id)
        status = bookkeeping.SectionStatus(section, resource.id).get()
        reason = None
        if status == BackupStatus.ERROR:
            reason = compat.read_optional(section, REASON_KEY)
        states[resource.id] = (status, reason)
    return states


def complete_if_done(store, checkpoint_id):
    """End the checkpoint once every volume's backup is ``available`` or
    ``error``; its status (None while volumes are left, or when another
    process changed it meanwhile)."""
    checkpoint = store.get(checkpoint_id)
    if checkpoint.status != CheckpointStatus.PROTECTING:
        return checkpoint.status
    states = volume_states(checkpoint)
    if any(status not in SETTLED for status, _ in states.values()):
        return None
    extra = protection._extra_info(checkpoint)
    extra.pop(protection.FLOW_FAILURE, None)
    extra.pop(catalog.FAILED_VOLUMES, None)
    failed = {volume_id: reason or "error"
              for volume_id, (status, reason) in states.items()
              if status != BackupStatus.AVAILABLE}
    if failed:
        extra[catalog.FAILED_VOLUMES] = failed
    status = CheckpointStatus.ERROR if failed else CheckpointStatus.AVAILABLE
    checkpoint.set_status(status)
    LOG.info("Checkpoint %s is %s: its last volume is done", checkpoint_id,
             status)
    return status


def status(runner, plan, checkpoint_id):
    """``plan status``: the checkpoint's status and each volume's."""
    checkpoint = catalog.require_plan(runner.checkpoint(checkpoint_id), plan,
                                      runner.caller)
    states = volume_states(checkpoint)
    rows = [{"volume_id": volume_id, "status": state or "pending",
             **({"reason": reason} if reason else {})}
            for volume_id, (state, reason) in states.items()]
    return {"plan": plan.name, "checkpoint_id": checkpoint.id,
            "status": checkpoint.status,
            "done": sum(state in SETTLED for state, _ in states.values()),
            "total": len(states), "volumes": rows}


# --- posting a plan -------------------------------------------------------


def _payload(action, batch, plan, site, checkpoint_id, volume_id, parameters):
    return jobs.JobPayload(
        action=action, batch=batch, plan_name=plan.name, plan_id=plan.id,
        bank=plan.bank, site_name=site.name, cloud=site.cloud,
        config_file=site.config_file, checkpoint_id=checkpoint_id,
        volume_id=volume_id, parameters=parameters,
        config_overrides=plan.config_overrides(site))


def protect(runner, plan, site, url, resume=None, detach=False,
            poll_interval=1.0, report=None, now=None):
    """``plan protect --jobboard``: the checkpoint, one job per volume to do,
    then (unless ``detach``) the wait for the checkpoint to end; a
    :class:`PlanResult` (``status`` ``protecting`` when detached).
    ``report(done, total)`` is told each time a volume ends."""
    plan = catalog.bound(plan, runner.caller)
    runner.ensure_ready()
    board_conf(url)  # a wrong URL fails before anything is made
    if resume is None:
        runner.check_protect(plan.volume_ids,
                             plan.protect_parameters(plan.volume_ids))
        checkpoint = protection._create(runner, plan, site, now)
        todo, kept = plan.volume_ids, []
    else:
        checkpoint = runner.owned_checkpoint(resume)
        todo, kept = protection._unfinished(runner, plan, site, checkpoint)
        if not todo and checkpoint.status == CheckpointStatus.AVAILABLE:
            return protection._result(plan, site, checkpoint, [], kept)
    parameters = plan.protect_parameters(todo)
    protection._begin(checkpoint)
    _requeue(checkpoint, todo)
    batch = uuid.uuid4().hex
    # subscribed before the jobs exist: no volume's end is missed
    wakeups = None if detach else Wakeups(url, checkpoint_channel(checkpoint.id))
    try:
        post(url, [_payload(jobs.PROTECT, batch, plan, site, checkpoint.id,
                            volume_id, parameters[volume_id])
                   for volume_id in todo])
        LOG.info("Plan %s: checkpoint %s, %d volume jobs posted", plan.name,
                 checkpoint.id, len(todo))
        if not todo:  # a resume with nothing to redo: decide it now
            complete_if_done(runner.store, checkpoint.id)
        if detach:
            return PlanResult(checkpoint.id, [], plan=plan.name,
                              site=site.name,
                              status=CheckpointStatus.PROTECTING,
                              kept=list(kept))
        return wait_protect(runner, plan, site, checkpoint.id, kept,
                            poll_interval, report, wakeups=wakeups)
    finally:
        if wakeups is not None:
            wakeups.close()


def _requeue(checkpoint, volume_ids):
    """A resume's failed volumes back to ``protecting``: until its conductor
    redoes it, a volume still ``error`` would let another volume's end
    decide the checkpoint (:func:`complete_if_done`) too early."""
    for volume_id in volume_ids:
        backup = bookkeeping.SectionStatus(
            checkpoint.get_resource_bank_section(volume_id), volume_id)
        if backup.get() in SETTLED:
            backup.set(BackupStatus.PROTECTING)


def wait_protect(runner, plan, site, checkpoint_id, kept=(), poll_interval=1.0,
                 report=None, wakeups=None):
    """Look at the bank until the checkpoint is no longer ``protecting``:
    every ``poll_interval``, and at once when ``wakeups`` (:class:`Wakeups`
    of the checkpoint's channel) says a volume ended."""
    pause, last = threading.Event(), None
    while True:
        seen = None if wakeups is None else wakeups.seen()
        checkpoint = runner.store.get(checkpoint_id)
        states = volume_states(checkpoint)
        done = sum(state in SETTLED for state, _ in states.values())
        if report is not None and done != last:
            report(done, len(states))
            last = done
        if checkpoint.status != CheckpointStatus.PROTECTING:
            break
        if wakeups is None:
            pause.wait(poll_interval)
        else:
            wakeups.wait(seen, wakeups.fallback(poll_interval))
    outcomes = [Outcome(volume_id, state == BackupStatus.AVAILABLE,
                        None if state == BackupStatus.AVAILABLE
                        else reason or f"backup is {state}")
                for volume_id, (state, reason) in states.items()]
    return PlanResult(checkpoint.id, outcomes, plan=plan.name, site=site.name,
                      status=checkpoint.status, kept=list(kept))


def restore(runner, plan, site, checkpoint_id, url, poll_interval=1.0,
            report=None):
    """``plan restore --jobboard``: one job per volume, then the wait for
    every volume's outcome (kept in Redis)."""
    from karbor_volume_glance.plans import restoration

    plan = catalog.bound(plan, runner.caller)
    runner.ensure_ready()
    outcomes_store = Outcomes(url)
    wakeups = None
    try:
        if checkpoint_id == restoration.LATEST:
            checkpoint_id = catalog.latest_available(runner.store, plan,
                                                     runner.caller)
        checkpoint = catalog.require_plan(runner.checkpoint(checkpoint_id),
                                          plan, runner.caller)
        if checkpoint.status not in restoration.RESTORABLE:
            raise PlanError(f"checkpoint {checkpoint.id} is "
                            f"{checkpoint.status}; only an available (or "
                            "error) checkpoint can be restored", plan.source)
        volume_ids = [r.id for r in checkpoint.resources]
        parameters = plan.restore_parameters(volume_ids)
        batch = uuid.uuid4().hex
        wakeups = Wakeups(url, checkpoint_channel(checkpoint.id))
        post(url, [_payload(jobs.RESTORE, batch, plan, site, checkpoint.id,
                            volume_id, parameters[volume_id])
                   for volume_id in volume_ids])
        last = None
        while True:
            seen = wakeups.seen()
            found = outcomes_store.all(batch)
            if report is not None and len(found) != last:
                report(len(found), len(volume_ids))
                last = len(found)
            if all(volume_id in found for volume_id in volume_ids):
                break
            wakeups.wait(seen, wakeups.fallback(poll_interval))
        outcomes_store.forget(batch)
    finally:
        if wakeups is not None:
            wakeups.close()
        outcomes_store.close()
    return PlanResult(checkpoint.id, [found[v] for v in volume_ids],
                      plan=plan.name, site=site.name, status=checkpoint.status)


# --- the conductor --------------------------------------------------------


def _import_in_main_thread():
    """Import oslo.messaging (the notifier imports it when first needed)
    before any worker starts: imported first in a thread other than the one
    that joins that thread, its oslo.service import leaves the join hung
    (the thread ends, its join never returns)."""
    from karbor_volume_glance.notifications import notifier

    notifier._oslo_messaging()


@dataclasses.dataclass
class ConductorSettings:
    claim_seconds: float = 60.0
    poll_interval: float = 1.0
    workers: int = 2


class Conductor:
    """Claims jobs from the board and runs them, ``workers`` at once.

    ``runner_for(payload)`` gives the standalone Runner of a job's bank and
    site (the CLI makes it from the payload, with this host's clouds.yaml
    and credentials). :meth:`run` returns once ``stop`` is set and every
    job at work is done.
    """

    def __init__(self, url, runner_for, settings=None, name=None):
        board_conf(url)
        # here, in the thread that makes the conductor (the main thread of
        # the CLI, of a test), not in run(): run() may be a thread's own
        _import_in_main_thread()
        self.url = url
        self.settings = settings or ConductorSettings()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._runner_for = runner_for
        self._outcomes = None
        self._outcomes_lock = threading.Lock()
        self._wakeups = None
        self.done = []  # (action, volume id, ok) of each job this one ran

    def run(self, stop):
        # subscribed before the first look: no posting is missed
        self._wakeups = Wakeups(self.url, JOBS_CHANNEL)
        try:
            with connected(self.url, name=self.name) as board:
                threads = [threading.Thread(target=self._work,
                                            args=(board, stop, n),
                                            name=f"conductor-{n}", daemon=True)
                           for n in range(self.settings.workers)]
                LOG.info("Conductor %s: %d workers on the jobboard, claims of "
                         "%g s", self.name, len(threads),
                         self.settings.claim_seconds)
                for thread in threads:
                    thread.start()
                stop.wait()
                self._wakeups.notify()  # idle workers: stop now
                for thread in threads:
                    thread.join()
        finally:
            self._wakeups.close()
        if self._outcomes is not None:
            self._outcomes.close()

    def _work(self, board, stop, number):
        who = f"{self.name}:{number}"
        while not stop.is_set():
            seen = self._wakeups.seen()
            try:
                job = self._claim(board, who)
            except Exception as exc:  # the board is away: try again later
                LOG.warning("Conductor %s: cannot read the jobboard: %s", who,
                            exc)
                job = None
            if job is None:
                if not stop.is_set():
                    self._wakeups.wait(seen, self.settings.poll_interval)
                continue
            self._run(board, job, who)

    def _publish(self, channel):
        if self._wakeups is not None:
            self._wakeups.publish(channel)

    def _claim(self, board, who):
        from taskflow import exceptions as taskflow_errors

        for job in board.iterjobs(only_unclaimed=True, ensure_fresh=True):
            try:
                board.claim(job, who, expiry=self.settings.claim_seconds)
            except (taskflow_errors.UnclaimableJob, taskflow_errors.NotFound):
                continue
            return job
        return None

    def _run(self, board, job, who):
        try:
            payload = jobs.decode(job.details)
        except jobs.JobPayloadError as exc:
            LOG.error("Conductor %s: job %s is not ours (%s): trashed", who,
                      job.uuid, exc)
            board.trash(job, who)
            return
        LOG.info("Conductor %s claimed job %s: %s volume %s of checkpoint %s",
                 who, job.uuid, payload.action, payload.volume_id,
                 payload.checkpoint_id)
        stop_extending = threading.Event()
        extender = threading.Thread(target=self._extend,
                                    args=(job, stop_extending, who),
                                    daemon=True, name=f"claim-{job.uuid}")
        extender.start()
        try:
            outcome = self._do(payload)
        except Busy as exc:
            LOG.info("Conductor %s gives job %s back: %s", who, job.uuid, exc)
            self._settle(board.abandon, job, who)
            self._publish(JOBS_CHANNEL)
            return
        except Exception as exc:  # cannot run here (no credentials, bank away)
            LOG.error("Conductor %s gives job %s back: %s: %s", who, job.uuid,
                      type(exc).__name__, exc)
            self._settle(board.abandon, job, who)
            self._publish(JOBS_CHANNEL)
            return
        finally:
            stop_extending.set()
            extender.join()
        self.done.append((payload.action, payload.volume_id, outcome.ok))
        LOG.info("Conductor %s finished job %s: %s volume %s: %s", who,
                 job.uuid, payload.action, payload.volume_id,
                 "ok" if outcome.ok else f"failed: {outcome.error}")
        self._settle(board.consume, job, who)
        # the poster looks at the bank (the checkpoint) or Redis (the
        # restore's outcome) at once
        self._publish(checkpoint_channel(payload.checkpoint_id))

    def _settle(self, verb, job, who):
        try:
            verb(job, who)
        except Exception as exc:  # the claim was lost: another one has it
            LOG.warning("Conductor %s: job %s: %s", who, job.uuid, exc)

    def _extend(self, job, stop, who):
        every = self.settings.claim_seconds / 3
        while not stop.wait(every):
            try:
                job.extend_expiry(self.settings.claim_seconds)
            except Exception as exc:
                LOG.warning("Conductor %s: could not extend the claim of job "
                            "%s: %s", who, job.uuid, exc)

    def _do(self, payload):
        runner = self._runner_for(payload)
        if payload.action == jobs.PROTECT:
            return self._protect(runner, payload)
        return self._restore(runner, payload)

    # --- one volume ------------------------------------------------------

    def _await_dead_runs(self, runner, payload, operation):
        """Wait (at most two leases) until the volume has no live run of
        this checkpoint; Busy if one lives on."""
        lease = runner.plugin.settings.lease_seconds
        root = runner.bank.get_sub_section("/")
        deadline = time.monotonic() + 2 * lease
        pause = threading.Event()
        while True:
            alive = [found for found in runs.runs_of(root, payload.volume_id)
                     if (found.journal or {}).get("checkpoint_id")
                     == payload.checkpoint_id
                     and (found.journal or {}).get("operation") == operation
                     and not found.dead(lease)]
            if not alive:
                return
            if time.monotonic() > deadline:
                raise Busy(f"volume {payload.volume_id} has a live {operation} "
                           f"run ({alive[0].run_id})")
            LOG.info("Volume %s: waiting for run %s's lease to run out",
                     payload.volume_id, alive[0].run_id)
            pause.wait(min(1.0, lease / 10))

    def _sweep(self, runner, payload, operation):
        """What dead runs left for the volume, the checkpoint kept alive."""
        resource = volume_resource(payload.volume_id)
        op = getattr(runner.plugin, f"get_{operation}_operation")(resource)
        cloud = op.cloud(runner.context)
        rows = sweeping.Sweep(
            runner.bank.get_sub_section("/"), cloud, runner.plugin.settings,
            runner.context.project_id,
            live_checkpoints={payload.checkpoint_id}).volume(payload.volume_id)
        for row in rows:
            LOG.info("Volume %s: swept %s", payload.volume_id, row)

    def _protect(self, runner, payload):
        checkpoint = runner.owned_checkpoint(payload.checkpoint_id)
        if catalog.plan_id_of(checkpoint) != payload.plan_id:
            raise PlanError(f"checkpoint {checkpoint.id} is not plan "
                            f"{payload.plan_name}'s")
        if checkpoint.status != CheckpointStatus.PROTECTING:
            LOG.info("Checkpoint %s is %s: volume %s is not protected",
                     checkpoint.id, checkpoint.status, payload.volume_id)
            return Outcome(payload.volume_id, False,
                           f"checkpoint is {checkpoint.status}")
        section = checkpoint.get_resource_bank_section(payload.volume_id)
        backup = bookkeeping.SectionStatus(section, payload.volume_id)
        if backup.get() != BackupStatus.AVAILABLE:
            self._await_dead_runs(runner, payload, runs_format.PROTECT)
        if backup.get() == BackupStatus.AVAILABLE:  # maybe since the wait
            LOG.info("Volume %s is already protected in checkpoint %s: not "
                     "again", payload.volume_id, checkpoint.id)
            complete_if_done(runner.store, checkpoint.id)
            return Outcome(payload.volume_id, True)
        self._sweep(runner, payload, runs_format.PROTECT)
        resource = volume_resource(payload.volume_id)

        def job():
            operation = runner.plugin.get_protect_operation(resource)
            run_operation(operation, checkpoint, resource, runner.context,
                          payload.parameters)

        outcome = engine.attempt(payload.volume_id, job)
        if not outcome.ok and backup.get() not in SETTLED:
            backup.set(BackupStatus.ERROR, outcome.error)  # failed before it began
        complete_if_done(runner.store, checkpoint.id)
        return outcome

    def _restore(self, runner, payload):
        with self._outcomes_lock:
            if self._outcomes is None:
                self._outcomes = Outcomes(self.url)
        known = self._outcomes.get(payload.batch, payload.volume_id)
        if known is not None:
            LOG.info("Volume %s is already restored in batch %s: not again",
                     payload.volume_id, payload.batch)
            return known
        checkpoint = runner.checkpoint(payload.checkpoint_id)
        self._await_dead_runs(runner, payload, runs_format.RESTORE)
        resource = volume_resource(payload.volume_id)

        def job():
            new_resources = {}
            operation = runner.plugin.get_restore_operation(resource)
            run_operation(operation, checkpoint, resource, runner.context,
                          payload.parameters, restore=OperationRecord(),
                          new_resources=new_resources)
            return new_resources.get(payload.volume_id)

        outcome = engine.attempt(payload.volume_id, job)
        self._outcomes.put(payload.batch, outcome)
        return outcome
