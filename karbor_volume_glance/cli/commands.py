"""The ``karbor-volume-glance`` command line: argument parsing and dispatch.

``karbor-volume-glance [--os-cloud NAME] [--bank URL] [--format table|json]
COMMAND``: ``demo`` (the main job, on two embedded local clouds), and
``protect``, ``restore``, ``delete``, ``verify``, ``list`` and ``show``
against the cloud named by ``--os-cloud`` (clouds.yaml, or ``OS_CLOUD``) and
the bank at ``--bank`` (``file:///path``; or ``KARBOR_VOLUME_GLANCE_BANK``).
``protect --incremental [--parent CHECKPOINT]`` stores only what changed
since the parent backup; ``protect --snapshot SNAPSHOT VOLUME`` protects that
existing snapshot. ``show`` (and ``protect``) tell per volume whether a
backup is incremental, its parent, its point in time, its snapshot and the
bytes it stored itself. ``verify`` checks every stored object's size;
``verify --deep`` reads and checks every chunk, naming each damaged one, and
``verify --read-data-subset N%`` a random N % of them (restic's ``check
--read-data`` and ``--read-data-subset``). ``check`` probes the
configuration, the bank and the cloud's endpoints; the other commands check
the same before they start and fail with ``not ready: <reason>``
(``--wait-ready SECONDS`` keeps checking), except ``delete``, ``share`` and
``unshare``, which need only the bank and Keystone. Every command sees only
the caller's own checkpoints and those shared with its project (the admin
role: all; ``list --all-projects`` needs it); ``protect --share-with
PROJECT[@DOMAIN]``, ``share`` and ``unshare CHECKPOINT PROJECT[@DOMAIN]``
share a checkpoint and revoke it; a caller Keystone does not authenticate
changes nothing, and ``delete --bank-only`` (any checkpoint, whatever its
owner record) needs the admin role
(:mod:`karbor_volume_glance.standalone.tenancy`).
``sweep [--dry-run]`` deletes what dead runs left in the cloud and the bank
(:mod:`karbor_volume_glance.operations.sweep`) and prints a row per thing
it found and what it did.
``key add|list|remove`` manage the wrapped copies of an encrypted bank's
master key (:mod:`karbor_volume_glance.operations.keys`): ``add`` wraps it for
the passphrase in ``KARBOR_VOLUME_GLANCE_NEW_PASSPHRASE``, ``--new-key-file``
or ``--new-key-manager-secret`` (or a secret the key manager makes,
``--create-key-manager-secret``), ``list`` shows them without key material,
``remove ID`` refuses the last one; ``check`` says whether the key sources
open the bank (its ``encryption`` line). Passphrases come from the
environment only, never from arguments.
``plan protect|restore|list|prune PLAN`` run a YAML plan file (its bank, its
sites by clouds.yaml name, its volumes and their options; see
:mod:`karbor_volume_glance.plans`): ``plan protect PLAN --site A [--resume
CHECKPOINT]`` makes one checkpoint of all its volumes, ``plan restore PLAN
--checkpoint ID|latest --site B`` restores them all, ``plan list PLAN`` shows
the plan's checkpoints and ``plan prune PLAN --keep N [--dry-run]`` deletes
all but the newest N available ones. ``plan protect|restore ... --jobboard
URL`` posts one job per volume on a taskflow jobboard instead of running
them here, and ``conductor --jobboard URL [--workers N]`` claims and runs
such jobs on any host (:mod:`karbor_volume_glance.plans.jobboard`);
``plan protect --jobboard --detach`` returns once the jobs are posted and
``plan status PLAN --checkpoint ID`` shows how far the checkpoint is.
The options of every command (``--os-cloud``, ``--bank``, ``--config-file``,
``--format``, ``--debug``, ``--wait-ready``) go before or after it.
Commands over several volumes print a row per volume, failed ones with their
reason (:mod:`karbor_volume_glance.cli.results`).
Exit status 0 on success; otherwise non-zero with a one-line reason on
stderr, and a traceback only with ``--debug``. Every line printed, tables,
JSON and log lines alike, has its untrusted text escaped
(:mod:`karbor_volume_glance.safetext`).
"""

import argparse
import json
import logging as std_logging
import os
import sys
import warnings

from oslo_log import log as logging

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.cli import output, results

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024
USAGE_ERROR = 2
FAILED = 1
#: Commands that need the bank and Keystone only (who asks), not the
#: cloud's other services.
BANK_ONLY = ("delete", "share", "unshare")


class CommandError(exceptions.VolumeGlanceError):
    """A command that cannot run as asked (missing bank, bad option …)."""


def _option(text):
    """``KEY=VALUE`` with VALUE read as JSON when it is JSON (true, 3, …)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _add_global_options(parser, suppress=False):
    """The options of every command, before or after it.

    The top-level parser has them with their defaults; every command's parser
    (a parent parser, ``suppress=True``) has them with ``argparse.SUPPRESS``
    as default, so that an option given only before the command is not
    overwritten by the command's default, and one given after it wins.
    """
    def default(value):
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--os-cloud", default=default(os.environ.get("OS_CLOUD")),
                        help="the cloud in clouds.yaml (default: $OS_CLOUD)")
    parser.add_argument("--bank",
                        default=default(
                            os.environ.get("KARBOR_VOLUME_GLANCE_BANK")),
                        help="the bank URL, e.g. file:///srv/backups "
                        "(default: $KARBOR_VOLUME_GLANCE_BANK)")
    parser.add_argument("--config-file", default=default(None),
                        help="a file with [volume_glance_plugin] options")
    parser.add_argument("--format", choices=("table", "json"),
                        default=default("table"))
    parser.add_argument("--debug", action="store_true", default=default(False),
                        help="log debug messages and show tracebacks")
    parser.add_argument("--wait-ready", type=float, default=default(0.0),
                        metavar="SECONDS",
                        help="when the bank or the cloud does not answer, "
                        "check again every init_check_interval seconds for "
                        "up to SECONDS before giving up (default: fail at "
                        "once)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="karbor-volume-glance",
        description="Protect Cinder volumes through Glance into a bank, and "
        "restore them in this cloud or another.",
    )
    _add_global_options(parser)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)
    commands = _Commands(parser.add_subparsers(dest="command", required=True,
                                               metavar="COMMAND"), common)

    demo = commands.add_parser(
        "demo", help="protect a volume at one local cloud and restore it at "
        "another, from one file bank, and compare the bytes")
    demo.add_argument("--size-mib", type=int, default=256,
                      help="MiB of mixed data in the demo volume (default 256)")

    protect = commands.add_parser("protect", help="protect volumes into one "
                                  "new checkpoint")
    protect.add_argument("volumes", nargs="+", metavar="VOLUME")
    protect.add_argument("--name", help="the backup name (default: the "
                         "volume id)")
    protect.add_argument("--description")
    protect.add_argument("--option", type=_option, action="append", default=[],
                         metavar="KEY=VALUE", help="a protect option "
                         "(repeatable; VALUE is read as JSON if it can be)")
    protect.add_argument("--incremental", action="store_true",
                         help="store only what changed since the parent backup "
                         "of each volume in this bank (the latest older one, "
                         "or --parent); full when there is none, and show says "
                         "why")
    protect.add_argument("--parent", metavar="CHECKPOINT",
                         help="the checkpoint whose backup is the parent of an "
                         "incremental backup (needs --incremental)")
    protect.add_argument("--share-with", action="append", default=[],
                         metavar="PROJECT[@DOMAIN]",
                         help="share the new checkpoint with this project "
                         "(a name, in DOMAIN or your own domain; or an id): "
                         "it can list, show, verify and restore it, never "
                         "delete it (repeatable; revoke with unshare)")
    protect.add_argument("--snapshot", metavar="SNAPSHOT",
                         help="protect this existing, available snapshot of the "
                         "volume instead of a temporary one (only with exactly "
                         "one VOLUME)")

    restore = commands.add_parser("restore", help="restore a checkpoint's "
                                  "volumes in this cloud")
    restore.add_argument("checkpoint")
    restore.add_argument("--name", help="the new volumes' name (default: "
                         "<checkpoint id>@<volume id>)")
    restore.add_argument("--description")
    restore.add_argument("--server", metavar="SERVER",
                         help="attach the restored volumes to this server")
    restore.add_argument("--replace-volume", action="store_true",
                         help="with --server: put each restored volume in its "
                         "original's place on that server, at the same "
                         "device (the original is detached, never deleted)")

    delete = commands.add_parser("delete", help="delete a checkpoint's data "
                                 "from the bank (yours; any with the admin "
                                 "role)")
    delete.add_argument("checkpoint")
    delete.add_argument("--bank-only", action="store_true",
                        help="an operator's delete of any checkpoint, "
                        "whatever its owner record says (an old or damaged "
                        "one): needs credentials with the admin role, "
                        "checked by Keystone; the cloud's other services "
                        "are not used")
    commands.add_parser("show", help="show a checkpoint and its "
                        "volumes").add_argument("checkpoint")
    verify = _add_verify_parser(commands)
    for name, text in (("share", "share your checkpoint with another project "
                        "(it can list, show, verify and restore it)"),
                       ("unshare", "revoke a share")):
        sharing = commands.add_parser(name, help=text)
        sharing.add_argument("checkpoint")
        sharing.add_argument("project", metavar="PROJECT[@DOMAIN]")
    commands.add_parser("check", help="check that the configuration, the bank "
                        "and the cloud's endpoints are ready")
    sweep = commands.add_parser(
        "sweep", help="delete what dead runs (killed protects, restores and "
        "deletes) left in the cloud and the bank")
    sweep.add_argument("--dry-run", action="store_true",
                       help="only list what would be done")
    listing = commands.add_parser("list", help="list your project's "
                                  "checkpoints and those shared with it")
    listing.add_argument("--all-projects", action="store_true",
                         help="every project's checkpoints (the admin role "
                         "only)")
    _add_plan_parser(commands)
    _add_key_parser(commands)
    conductor = commands.add_parser(
        "conductor", help="claim plans' volume jobs from a taskflow jobboard "
        "and run them, until interrupted")
    conductor.add_argument("--jobboard", required=True, metavar="URL",
                           help="the jobboard (redis://host:port/db)")
    conductor.add_argument("--workers", type=_count, default=2, metavar="N",
                           help="jobs at once (default 2)")
    # for parse_args' errors
    parser.command_parsers = {"protect": protect, "restore": restore,
                              "verify": verify}
    return parser


class _Commands:
    """Subparsers whose every parser takes the options of every command."""

    def __init__(self, subparsers, common):
        self.subparsers = subparsers
        self.common = common

    def add_parser(self, name, **kwargs):
        return self.subparsers.add_parser(name, parents=[self.common], **kwargs)


def _count(text):
    """A number of volumes at once: an integer from 1 to 64."""
    from karbor_volume_glance.plans.schema import MAX_PARALLELISM

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PARALLELISM:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 1 to {MAX_PARALLELISM}, got {text!r}")
    return value


def _at_least_one(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _percent(text):
    """``N%`` (or ``N``): a percentage above 0 and at most 100."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        value = 0.0
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(
            f"expected a percentage above 0 and at most 100 such as 5%, "
            f"got {text!r}")
    return value


def _seed(text):
    from karbor_volume_glance.operations.verify import SEED_LIMIT

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to {SEED_LIMIT - 1}, got {text!r}")
    return value


def _add_verify_parser(commands):
    """``verify CHECKPOINT [--deep | --read-data-subset N% [--seed S]]``."""
    verify = commands.add_parser(
        "verify", help="read a checkpoint's data back and check it: every "
        "object's stored size, or with --deep every chunk's sha256, or with "
        "--read-data-subset a random share of them")
    verify.add_argument("checkpoint")
    how = verify.add_mutually_exclusive_group()
    how.add_argument("--deep", action="store_true",
                     help="read, decompress and check every chunk and the "
                     "whole image's sha256; names every damaged chunk")
    how.add_argument("--read-data-subset", type=_percent, metavar="N%",
                     help="check as --deep a random N%% of the chunks (at "
                     "least one), other ones each run")
    verify.add_argument("--seed", type=_seed, metavar="SEED",
                        help="with --read-data-subset: the random choice's "
                        "seed, to check the chunks of an earlier run again "
                        "(default: a new one, shown)")
    return verify


def verify_options(args):
    """The VERIFY_SCHEMA options of ``verify``'s flags ({} for shallow)."""
    options = {}
    if args.deep:
        options["deep"] = True
    if args.read_data_subset is not None:
        options["read_data_subset"] = args.read_data_subset
    if args.seed is not None:
        options["seed"] = args.seed
    return options


def _add_key_parser(commands):
    """``key add|list|remove``: the wrapped copies of an encrypted bank's
    master key (:mod:`karbor_volume_glance.operations.keys`)."""
    key = commands.add_parser(
        "key", help="add, list or remove the wrapped copies of an encrypted "
        "bank's master key (the key sources that open it); never shows key "
        "material")
    actions = _Commands(key.add_subparsers(dest="key_command", required=True,
                                           metavar="ACTION"), commands.common)
    add = actions.add_parser(
        "add", help="wrap the bank's master key for one more key source: the "
        "passphrase in $KARBOR_VOLUME_GLANCE_NEW_PASSPHRASE, --new-key-file "
        "or --new-key-manager-secret (the bank's key is opened first, by "
        "$KARBOR_VOLUME_GLANCE_PASSPHRASE, key_file or key_manager_secret_id)")
    add.add_argument("--new-key-file", metavar="PATH",
                     help="a file of at least 32 random bytes that will open "
                     "the bank (head -c 32 /dev/urandom > PATH)")
    add.add_argument("--new-key-manager-secret", metavar="SECRET_ID",
                     help="the id of a key manager (Barbican) secret of at "
                     "least 32 bytes that will open the bank")
    add.add_argument("--create-key-manager-secret", action="store_true",
                     help="have the key manager make a new AES-256 secret and "
                     "wrap the bank's key for it; prints its secret_id (set "
                     "it as key_manager_secret_id where it is to open the "
                     "bank)")
    add.add_argument("--label", help="a note shown by key list (default: the "
                     "source's kind, or the key file's name)")
    actions.add_parser("list", help="the bank's wrapped keys: id, kind, "
                       "label, created, KDF and the master key's fingerprint")
    remove = actions.add_parser(
        "remove", help="remove one wrapped key (the bank's key must open; "
        "removing the last one is refused)")
    remove.add_argument("key_id", metavar="ID")


def _add_plan_parser(commands):
    """``plan ACTION PLAN``: the plan file's commands."""
    plan = commands.add_parser(
        "plan", help="protect, restore, list or prune the volumes of a YAML "
        "plan file (its bank, sites and volumes)")
    actions = _Commands(plan.add_subparsers(dest="plan_command",
                                            required=True, metavar="ACTION"),
                        commands.common)
    plan_help = "the plan file (YAML: name, bank, sites, resources)"
    site_help = "the plan's site to run at (default: the plan's only site)"
    who_help = ("the site whose Keystone says who you are (and whose config "
                "file is used; default: the plan's only site)")
    workers_help = ("volumes at once (default: the plan's parallelism, "
                    "else 2)")
    jobboard_help = ("post one job per volume on this taskflow jobboard "
                     "(redis://host:port/db) for conductors to run, and wait "
                     "for them")

    protect = actions.add_parser(
        "protect", help="one new checkpoint holding every volume of the plan")
    protect.add_argument("plan_file", metavar="PLAN", help=plan_help)
    protect.add_argument("--site", help=site_help)
    protect.add_argument("--resume", metavar="CHECKPOINT",
                         help="redo, in this checkpoint of the plan, only the "
                         "volumes that failed or never finished")
    protect.add_argument("--parallelism", type=_count, metavar="N",
                         help=workers_help)
    protect.add_argument("--jobboard", metavar="URL", help=jobboard_help)
    protect.add_argument("--detach", action="store_true",
                         help="with --jobboard: return once the jobs are "
                         "posted (plan status shows the checkpoint)")

    restore = actions.add_parser(
        "restore", help="restore every volume of a checkpoint of the plan")
    restore.add_argument("plan_file", metavar="PLAN", help=plan_help)
    restore.add_argument("--checkpoint", required=True, metavar="ID",
                         help="the checkpoint, or 'latest' (the plan's newest "
                         "available one)")
    restore.add_argument("--site", help=site_help)
    restore.add_argument("--parallelism", type=_count, metavar="N",
                         help=workers_help)
    restore.add_argument("--jobboard", metavar="URL", help=jobboard_help)

    status = actions.add_parser(
        "status", help="a checkpoint of the plan and each volume's status "
        "(how far a protect on a jobboard is)")
    status.add_argument("plan_file", metavar="PLAN", help=plan_help)
    status.add_argument("--checkpoint", required=True, metavar="ID",
                        help="the checkpoint")
    status.add_argument("--site", help=who_help)

    listing = actions.add_parser("list", help="the plan's checkpoints, oldest "
                                 "first")
    listing.add_argument("plan_file", metavar="PLAN", help=plan_help)
    listing.add_argument("--site", help=who_help)

    prune = actions.add_parser(
        "prune", help="delete all but the newest N available checkpoints of "
        "the plan (and failed ones older than the newest available)")
    prune.add_argument("plan_file", metavar="PLAN", help=plan_help)
    prune.add_argument("--keep", type=_at_least_one, required=True,
                       metavar="N", help="how many available checkpoints to "
                       "keep, newest first (at least 1)")
    prune.add_argument("--dry-run", action="store_true",
                       help="only show what would be deleted")
    prune.add_argument("--site", help=who_help)


def parse_args(argv=None):
    """Parse the command line; usage errors exit 2 with the command's usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.command == "restore" and args.replace_volume
            and args.server is None):
        parser.command_parsers["restore"].error(
            "--replace-volume needs --server (the server whose volumes are "
            "replaced)")
    if args.command == "protect":
        try:
            protect_options(args)
        except UsageError as exc:
            parser.command_parsers["protect"].error(str(exc))
    if (args.command == "plan" and getattr(args, "detach", False)
            and not args.jobboard):
        parser.error("--detach needs --jobboard (a local run cannot detach)")
    if (args.command == "verify" and args.seed is not None
            and args.read_data_subset is None):
        parser.command_parsers["verify"].error(
            "--seed needs --read-data-subset (it chooses that subset)")
    return args


class UsageError(CommandError):
    """Arguments that contradict each other (argparse cannot tell alone)."""


def _flag_option(options, key, value, flag):
    """Set ``options[key]`` from ``flag``, unless --option gave another value."""
    if key in options and options[key] != value:
        raise UsageError(f"{flag} conflicts with --option {key}="
                         f"{json.dumps(options[key])}")
    options[key] = value


def protect_options(args):
    """The options every volume of ``protect`` gets, from --option and the
    flags; UsageError when they contradict each other."""
    options = dict(args.option)
    if args.incremental:
        _flag_option(options, "incremental", True, "--incremental")
    if args.parent is not None:
        if options.get("incremental") is not True:
            raise UsageError("--parent needs --incremental (a parent is only "
                             "used by an incremental backup)")
        _flag_option(options, "parent_checkpoint_id", args.parent, "--parent")
    if args.snapshot is not None:
        _flag_option(options, "snapshot_id", args.snapshot, "--snapshot")
    if "snapshot_id" in options and len(args.volumes) != 1:
        flag = "--snapshot" if args.snapshot is not None else "snapshot_id"
        raise UsageError(f"{flag} needs exactly one VOLUME (the snapshot's "
                         f"volume), got {len(args.volumes)}")
    return options


def _setup_logging(debug):
    """oslo.log to stderr: warnings, or everything with --debug."""
    from oslo_config import cfg

    config = cfg.ConfigOpts()
    logging.register_options(config)
    config([], project="karbor-volume-glance", default_config_files=[])
    config.set_override("debug", debug)
    config.set_override("use_stderr", True)
    logging.setup(config, "karbor-volume-glance")
    for handler in std_logging.getLogger().handlers:
        handler.addFilter(output.EscapingFilter())
    if not debug:
        # a command line says what failed itself, one line per volume; the
        # logs keep to warnings, such as a temporary resource left behind
        logging.getLogger("karbor_volume_glance").logger.setLevel("WARNING")
        logging.getLogger("karbor_volume_glance.operations.bookkeeping"
                          ).logger.setLevel("CRITICAL")
        # oslo.messaging's import of oslo.service says which backend it loads
        # (a stdlib logger: oslo.log would map the name to "oslo.service")
        std_logging.getLogger("oslo_service").setLevel("WARNING")


def _open_bank(args):
    from karbor_volume_glance.bank import open_bank

    if not args.bank:
        raise CommandError("no bank: give --bank URL or set "
                           "KARBOR_VOLUME_GLANCE_BANK")
    try:
        return open_bank(args.bank)
    except exceptions.BankError as exc:
        raise exceptions.NotReady(f"bank: {exc}") from exc


def _connect(args):
    """The cloud's client factory and a context of its project and user."""
    from karbor_volume_glance.cloud import factory

    try:
        clients = factory.from_cloud_config(args.os_cloud)
        context = factory.session_context(clients.session)
    except Exception as exc:
        raise exceptions.NotReady(
            f"cloud {args.os_cloud!r}: cannot authenticate: "
            f"{type(exc).__name__}: {exc}") from exc
    if conf.load_settings(_config(args)).key_manager_secret_id:
        # the key manager is asked as the caller (operations/keys.py)
        context.key_manager_credential = _key_manager_credential(
            clients.session, args.os_cloud)
    return clients, context


def _config(args):
    """The plugin's config: ``--config-file`` (or a plan site's), then the
    options a plan sets for its bank and site (``config_overrides``)."""
    return conf.make_config(args.config_file,
                            **(getattr(args, "config_overrides", None) or {}))


def _plugin(args, clients):
    from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin

    return VolumeGlanceProtectionPlugin(_config(args), client_factory=clients)


def _runner(args):
    from karbor_volume_glance.standalone.runner import Runner

    bank = _open_bank(args)
    try:
        clients, context = _connect(args)
    except exceptions.NotReady as exc:
        if args.command not in BANK_ONLY:
            raise
        # who asks decides what may be changed: never the bank alone
        raise exceptions.NotAuthorized(
            f"{exc.reason}; {args.command} needs an authenticated caller "
            "(an operator with the admin role can use delete --bank-only)"
        ) from exc
    if getattr(args, "bank_only", False):
        from karbor_volume_glance.standalone import tenancy

        caller = tenancy.caller_of(context)
        if not caller.is_admin:
            roles = ", ".join(getattr(context, "roles", None) or ()) or "none"
            raise exceptions.NotAuthorized(
                "delete --bank-only needs credentials with the admin role; "
                f"Keystone gave {caller.describe()} the roles: {roles}")
        clients = None  # the bank alone: the cloud's services are not used
    progress = output.ProgressBars(args.command)
    return Runner(_plugin(args, clients), bank, context, progress=progress,
                  wait_ready=args.wait_ready)


def _check(args):
    """Readiness per component; True when every required one is ready."""
    from karbor_volume_glance import readiness

    components = []
    bank = clients = context = None
    try:
        bank = _open_bank(args)
    except exceptions.NotReady as exc:
        components.append(readiness.Component("bank", False, exc.reason))
    try:
        clients, context = _connect(args)
    except exceptions.NotReady as exc:
        components.append(readiness.Component("keystone", False, exc.reason))
    found = _plugin(args, clients).check_setup(bank, context)
    result = readiness.Readiness(found.components + tuple(components))
    if args.format == "json":
        output.emit(result.to_dict(), args.format)
    else:
        output.emit([c.to_dict() for c in result.components], args.format)
        output.say("ready" if result.ready else f"not ready: {result.reason()}")
    return result.ready


def _protect(runner, args):
    common = protect_options(args)
    parameters = {}
    for volume_id in args.volumes:
        options = dict(common)
        options.setdefault("backup_name", args.name or volume_id)
        if args.description is not None:
            options.setdefault("description", args.description)
        parameters[volume_id] = options
    if args.share_with:
        return runner.protect(args.volumes, parameters,
                              share_with=args.share_with)
    return runner.protect(args.volumes, parameters)


def _restore(runner, args):
    options = {}
    if args.name is not None:
        options["restore_name"] = args.name
    if args.description is not None:
        options["restore_description"] = args.description
    if args.server is not None:
        options["server_id"] = args.server
    if args.replace_volume:
        options["replace_volume"] = True
    checkpoint = runner.checkpoint(args.checkpoint)
    return runner.restore(args.checkpoint,
                          {r.id: dict(options) for r in checkpoint.resources})


#: What protect and show tell of each volume's backup, in this order.
DETAILS = ("incremental", "parent_checkpoint_id", "full_reason",
           "data_timestamp", "snapshot_id", "backup_path", "stored_bytes")


def _protect_details(runner, result):
    """Per protected volume, the DETAILS of its new backup (as ``show``)."""
    try:
        volumes = runner.show(result.checkpoint_id)["volumes"]
    except exceptions.VolumeGlanceError:
        return {}  # the protect's own outcome still stands
    return {volume_id: {key: info[key] for key in DETAILS if key in info}
            for volume_id, info in volumes.items()}


def _checked_briefly(row):
    """A verify row as its table shows it: how many chunks were checked, the
    damaged ones' names (each one's reason is a line on stderr)."""
    row = dict(row)
    if "checked" in row:
        row["checked"] = len(row["checked"])
    if "bad" in row:
        if row["bad"] and "error" in row:
            row["error"] = (f"{len(row['bad'])} damaged, each named on "
                            "stderr")
        row["bad"] = ", ".join(item["object"] for item in row["bad"]) or "none"
    return row


def _report(result, fmt, details=None, restored=False, brief=None):
    """Print an operation's result; True when every volume succeeded.

    Every volume is a row (:mod:`.results`), a failed one with its reason;
    ``details`` (volume id -> dict) is added to each successful volume's row;
    ``restored`` adds the original -> new volume id mapping; ``brief(row)``
    is how a table shows a row (JSON shows it whole).
    """
    data = results.document(result, details, restored=restored)
    if fmt == "json":
        output.emit(data, fmt)
    else:
        output.say(f"checkpoint {result.checkpoint_id}")
        output.emit([brief(row) if brief else row for row in data["volumes"]],
                    fmt)
    results.print_failures(data)
    return result.ok


def _report_refused(refused, volume_ids, fmt):
    """Print a protect refused before its checkpoint: every volume a row,
    one line on stderr per refused volume, then that nothing was created.
    Returns the exit status."""
    data = results.refused_document(refused, volume_ids)
    if fmt == "json":
        output.emit(data, fmt)
    else:
        output.say("no checkpoint: the protect was refused")
        output.emit(data["volumes"], fmt)
    results.print_failures(data)
    output.say("karbor-volume-glance: protect refused, nothing was created",
               sys.stderr)
    return FAILED


def _show(shown, fmt):
    """A checkpoint: as JSON, or its fields and then a row per volume."""
    if fmt == "json":
        output.emit(shown, fmt)
        return
    fields = {key: value for key, value in shown.items() if key != "volumes"}
    output.emit(fields, fmt)
    first = ("status", "backup_name", "image_size", *DETAILS)
    rows = []
    for volume_id, info in (shown.get("volumes") or {}).items():
        row = {"volume_id": volume_id}
        row.update((key, info[key]) for key in first if key in info)
        row.update((key, value) for key, value in info.items()
                   if key != "volume_id")
        rows.append(row)
    output.emit(rows, fmt)


#: The sweep report's columns in a table, in this order (JSON has them all).
SWEEP_COLUMNS = ("kind", "id", "name", "action", "checkpoint_id", "found_by")


def _sweep_report(report, fmt):
    """Print a sweep's report; True unless something could not be done."""
    rows = report["resources"]
    if fmt == "json":
        output.emit(report, fmt)
    else:
        print(f"sweep{' --dry-run' if report['dry_run'] else ''}: "
              f"{len(rows)} found")
        output.emit([{key: row.get(key) for key in SWEEP_COLUMNS if key in row}
                     for row in rows], fmt)
    failed = [row for row in rows if row["action"].startswith("failed")]
    for row in failed:
        print(f"karbor-volume-glance: {row['kind']} {row.get('id')}: "
              f"{row['action']}", file=sys.stderr)
    return not failed


#: ``key list``'s columns in a table, in this order.
KEY_COLUMNS = ("id", "kind", "label", "created_at", "kdf", "fingerprint",
               "damage")


def _key_manager_credential(session, cloud):
    """A castellan credential of a clouds.yaml session, for the key manager
    (the session's Keystone token; never printed). None without castellan:
    the key source then says it is not installed."""
    try:
        from castellan.common.credentials import keystone_token
    except ImportError:
        return None
    try:
        return keystone_token.KeystoneToken(
            token=session.get_token(), auth_url=session.auth.auth_url,
            project_id=session.get_project_id())
    except Exception as exc:
        raise exceptions.NotReady(
            f"cloud {cloud!r}: cannot authenticate to the key manager: "
            f"{type(exc).__name__}") from exc


def _key_manager_context(args):
    """The context ``key add|remove`` ask the key manager as."""
    _, context = _connect(args)
    return getattr(context, "key_manager_credential", None) or context


def _key(args):
    """``key add|list|remove``; True on success."""
    from karbor_volume_glance.operations import keys

    bank = _open_bank(args)
    config = conf.make_config(args.config_file)
    settings = conf.load_settings(config)
    if args.key_command == "list":
        rows = keys.list_copies(bank)
        record = keys.encryption_record(bank)
        if args.format == "json":
            output.emit({**record, "keys": rows}, args.format)
            return True
        if record.get("cipher_suite"):
            output.say(f"bank {record['bank']}: encrypted "
                       f"({record['cipher_suite']}, backup format "
                       f"{record['format_version']}) since "
                       f"{record['created_at']}, master key "
                       f"{record['fingerprint']}")
        else:
            state = "encrypted, no record" if record["encrypted"] else "plain"
            output.say(f"bank {record['bank']}: {state}")
        output.emit([{k: row[k] for k in KEY_COLUMNS if k in row}
                     for row in rows], args.format)
        return True
    context = None
    if settings.key_manager_secret_id or getattr(
            args, "new_key_manager_secret", None) or getattr(
            args, "create_key_manager_secret", False):
        context = _key_manager_context(args)
    if args.key_command == "add":
        secret_id = args.new_key_manager_secret
        if args.create_key_manager_secret:
            if secret_id:
                raise UsageError("--create-key-manager-secret and "
                                 "--new-key-manager-secret exclude each other")
            # the bank's key must open before a secret is made for it
            if keys.open_bank_key(bank, config, create=True,
                                  context=context) is None:
                raise exceptions.KeyringRefused(
                    bank.get_owner_id(), "is not encrypted: set "
                    "[volume_glance_plugin] encrypt = true to make it so "
                    "(before its first backup)")
            secret_id = keys.create_secret(
                config, context, name="karbor-volume-glance bank "
                f"{bank.get_owner_id()}")
        source = keys.new_source(key_file=args.new_key_file,
                                 secret_id=secret_id, conf=config,
                                 context=context)
        row = keys.add_copy(bank, config, source, label=args.label,
                            context=context)
        if args.create_key_manager_secret:
            row["secret_id"] = secret_id
        output.emit(row, args.format)
        return True
    output.emit(keys.remove_copy(bank, config, args.key_id, context=context),
                args.format)
    return True


#: Plan actions that need the site's cloud; the others need the bank only.
PLAN_CLOUD_ACTIONS = ("protect", "restore")


def _plan_runner(args, plan, site):
    """A standalone Runner over the plan's bank, for ``site`` (or none)."""
    from karbor_volume_glance.standalone.runner import Runner

    site_args = argparse.Namespace(**vars(args))
    site_args.bank = plan.bank
    if site is not None:
        site_args.os_cloud = site.cloud
        site_args.config_file = site.config_file or args.config_file
    site_args.config_overrides = plan.config_overrides(site)
    bank = _open_bank(site_args)
    # every action asks Keystone who the caller is: a plan's checkpoints are
    # its owner's (list and prune use no other service of the cloud)
    clients, context = _connect(site_args)
    if args.plan_command not in PLAN_CLOUD_ACTIONS:
        clients = None
    return Runner(_plugin(site_args, clients), bank, context,
                  progress=output.ProgressBars(f"plan {args.plan_command}"),
                  wait_ready=args.wait_ready)


def _plan_report(result, args, details=None):
    """Print a plan protect or restore; True when every volume succeeded."""
    data = results.document(result, details,
                            restored=args.plan_command == "restore")
    for row in data["volumes"]:
        if row["volume_id"] in result.kept:
            row["kept"] = True
    data.update(plan=result.plan, site=result.site, status=result.status)
    if args.format == "json":
        output.emit(data, args.format)
    else:
        verb = "restored " if args.plan_command == "restore" else ""
        output.say(f"plan {result.plan}: {verb}checkpoint "
                   f"{result.checkpoint_id} ({result.status}) at site "
                   f"{result.site}")
        output.emit(data["volumes"], args.format)
    results.print_failures(data)
    if args.plan_command == "protect" and not result.ok:
        output.say(f"karbor-volume-glance: checkpoint {result.checkpoint_id} "
                   f"is {result.status}; redo its failed volumes with: plan "
                   f"protect {args.plan_file} --site {result.site} --resume "
                   f"{result.checkpoint_id}", sys.stderr)
    return result.ok


def _plan_prune_report(pruned, fmt):
    if fmt == "json":
        output.emit(pruned, fmt)
    else:
        verb = "would delete" if pruned["dry_run"] else "deleted"
        output.say(f"plan {pruned['plan']}: {verb} {len(pruned['deleted'])}, "
                   f"kept {len(pruned['kept'])}")
        output.emit(pruned["deleted"] + pruned["skipped"], fmt)
    for row in pruned["deleted"]:
        if row.get("ok") is False:
            output.say(f"karbor-volume-glance: checkpoint {row['id']}: "
                       f"{results.reason(row['error'])}", sys.stderr)
    return all(row.get("ok", True) for row in pruned["deleted"])


def _plan(args):
    """Run one ``plan`` action; True on success."""
    from karbor_volume_glance import plans
    from karbor_volume_glance.plans import (
        catalog,
        jobboard,
        protection,
        restoration,
        retention,
    )

    plan = plans.load(args.plan_file)
    if args.site or args.plan_command in PLAN_CLOUD_ACTIONS:
        site = plan.site(args.site)
    else:  # who asks is the same tenant at every site: the first one says
        site = next(iter(plan.sites.values()))
    runner = _plan_runner(args, plan, site)
    plan = plan.for_caller(runner.caller)
    try:
        if getattr(args, "jobboard", None):
            return _plan_on_jobboard(args, runner, plan, site)
        if args.plan_command == "status":
            output.emit(jobboard.status(runner, plan, args.checkpoint),
                        args.format)
            return True
        if args.plan_command == "protect":
            result = protection.protect(runner, plan, site, resume=args.resume,
                                        parallelism=args.parallelism)
            return _plan_report(result, args, _protect_details(runner, result))
        if args.plan_command == "restore":
            return _plan_report(restoration.restore(
                runner, plan, site, args.checkpoint,
                parallelism=args.parallelism), args)
        if args.plan_command == "list":
            output.emit(catalog.listing(runner, plan), args.format)
            return True
        return _plan_prune_report(
            retention.prune(runner, plan, args.keep, dry_run=args.dry_run),
            args.format)
    finally:
        runner.progress.close()


def _plan_on_jobboard(args, runner, plan, site):
    """``plan protect|restore --jobboard``: post, then wait (and report)."""
    from karbor_volume_glance.plans import jobboard

    settings = conf.load_settings(conf.make_config(
        site.config_file or args.config_file))

    def report(done, total):
        if args.format != "json":
            output.say(f"plan {plan.name}: {done}/{total} volumes done",
                       sys.stderr)

    if args.plan_command == "restore":
        return _plan_report(jobboard.restore(
            runner, plan, site, args.checkpoint, args.jobboard,
            poll_interval=settings.jobboard_poll_interval, report=report), args)
    result = jobboard.protect(
        runner, plan, site, args.jobboard, resume=args.resume,
        detach=args.detach, poll_interval=settings.jobboard_poll_interval,
        report=report)
    if args.detach:
        data = {"plan": result.plan, "site": result.site,
                "checkpoint_id": result.checkpoint_id, "status": result.status,
                "posted": True}
        output.emit(data, args.format)
        if args.format != "json":
            output.say(f"plan {result.plan}: checkpoint {result.checkpoint_id} "
                       "posted; see it with: plan status "
                       f"{args.plan_file} --checkpoint {result.checkpoint_id}",
                       sys.stderr)
        return True
    return _plan_report(result, args, _protect_details(runner, result))


def conductor_runners(args):
    """``runner_for(payload)`` of a conductor: a Runner per bank, cloud and
    config file of the jobs, made with this host's clouds.yaml, kept."""
    import threading

    from karbor_volume_glance.standalone.runner import Runner

    runners, lock = {}, threading.Lock()

    def runner_for(payload):
        key = (payload.bank, payload.cloud, payload.config_file,
               tuple(sorted(payload.config_overrides.items())))
        with lock:
            if key not in runners:
                site_args = argparse.Namespace(**vars(args))
                site_args.bank, site_args.os_cloud = payload.bank, payload.cloud
                site_args.config_file = payload.config_file or args.config_file
                site_args.config_overrides = payload.config_overrides
                clients, context = _connect(site_args)
                runners[key] = Runner(_plugin(site_args, clients),
                                      _open_bank(site_args), context)
            return runners[key]

    return runner_for


#: What a conductor's jobs import on first use: imported at its start, in
#: its main thread, so that a service pays them before it is ready rather
#: than in its first job's time (openstacksdk's config alone is about half
#: a second of CPU).
CONDUCTOR_IMPORTS = (
    "openstack.config", "cinderclient.v3.client", "glanceclient.v2.client",
    "novaclient.v2.client", "karbor_volume_glance.plugin",
    "karbor_volume_glance.standalone.runner",
    "karbor_volume_glance.operations.protect",
    "karbor_volume_glance.operations.restore")


def _import_job_modules():
    import importlib

    with warnings.catch_warnings():  # the clients' own deprecations
        warnings.simplefilter("ignore")
        for name in CONDUCTOR_IMPORTS:
            importlib.import_module(name)


def _conductor(args):
    """``conductor``: claim and run jobs until SIGINT or SIGTERM."""
    import signal
    import threading

    from karbor_volume_glance.plans import jobboard

    settings = conf.load_settings(conf.make_config(args.config_file))
    # a conductor is a service: it says what it claims and finishes
    logging.getLogger("karbor_volume_glance.plans.jobboard").logger.setLevel(
        "INFO")
    runner_for = conductor_runners(args)
    _import_job_modules()
    stop = threading.Event()

    def stopping(signum, frame):
        LOG.warning("Conductor: signal %d, finishing the jobs at work", signum)
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    conductor = jobboard.Conductor(
        args.jobboard, runner_for, jobboard.ConductorSettings(
            claim_seconds=settings.jobboard_claim_seconds,
            poll_interval=settings.jobboard_poll_interval,
            workers=args.workers))
    conductor.run(stop)
    return True


#: What the ``[localcloud]`` extra installs for the local cloud (and the demo).
LOCALCLOUD_MODULES = ("waitress", "webob")


def run(args):
    """Run one parsed command; return the exit status."""
    if args.command == "plan":
        return 0 if _plan(args) else FAILED
    if args.command == "demo":
        try:
            from karbor_volume_glance.cli.demo import run_demo
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if missing not in LOCALCLOUD_MODULES:
                raise
            raise CommandError(
                f"the demo runs on the local cloud, which needs {missing}: "
                "pip install 'karbor-volume-glance[localcloud]'") from exc
        return 0 if run_demo(args.size_mib * MiB, sys.stdout) else FAILED
    if args.command == "check":
        return 0 if _check(args) else FAILED
    if args.command == "key":
        return 0 if _key(args) else FAILED
    if args.command == "conductor":
        return 0 if _conductor(args) else FAILED
    runner = _runner(args)
    try:
        if args.command == "protect":
            try:
                result = _protect(runner, args)
            except exceptions.ProtectRefused as refused:
                return _report_refused(refused, args.volumes, args.format)
            ok = _report(result, args.format,
                         details=_protect_details(runner, result))
        elif args.command == "restore":
            ok = _report(_restore(runner, args), args.format,
                         restored=True)
        elif args.command == "delete" and args.bank_only:
            ok = _report(runner.delete_bank_only(args.checkpoint), args.format)
        elif args.command == "delete":
            ok = _report(runner.delete(args.checkpoint), args.format)
        elif args.command == "verify":
            ok = _report(runner.verify(args.checkpoint, verify_options(args)),
                         args.format, brief=_checked_briefly)
        elif args.command in ("share", "unshare"):
            shares = getattr(runner, args.command)(args.checkpoint, args.project)
            output.emit({"checkpoint_id": args.checkpoint,
                         "shared_with": shares}, args.format)
            ok = True
        elif args.command == "list":
            output.emit(runner.list(all_projects=args.all_projects), args.format)
            ok = True
        elif args.command == "sweep":
            ok = _sweep_report(runner.sweep(dry_run=args.dry_run), args.format)
        else:
            _show(runner.show(args.checkpoint), args.format)
            ok = True
    finally:
        runner.progress.close()
    return 0 if ok else FAILED


def main(argv=None):
    args = parse_args(argv)
    _setup_logging(args.debug)
    try:
        return run(args)
    except exceptions.VolumeGlanceError as exc:
        if args.debug:
            raise
        output.say(f"karbor-volume-glance: {results.reason(exc)}", sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        print("karbor-volume-glance: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        output.say(f"karbor-volume-glance: unexpected {type(exc).__name__}: "
                   f"{results.reason(exc)} (--debug shows where)", sys.stderr)
        return FAILED
