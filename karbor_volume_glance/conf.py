"""The plugin's configuration: its oslo.config options, the one source.

The options live in the ``[volume_glance_plugin]`` group of the ConfigOpts that
Karbor hands a protection plugin (the provider file's), the same group name as
Karbor's own volume-glance plugin so that an existing provider file keeps
working. Each option's default, bounds and shape are written once, here, as
oslo.config opts (with two small types oslo lacks: a multiple of a number and
a float strictly above zero). :class:`Settings` is made from these opts, and
:func:`load_settings` reads every option once, so that a bad value fails when
the plugin is built, naming the option, instead of half-way through a backup.
``doc/options.rst`` is generated from them (``tools/options_doc.py``).
"""

import dataclasses

from oslo_config import cfg, types

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import compression as _compression
from karbor_volume_glance.format import keyring as _keyring
from karbor_volume_glance.format import manifest as _manifest

GROUP = "volume_glance_plugin"

#: Glance serves image data in 64 KiB reads; objects are whole multiples of it.
GLANCE_READ_SIZE = 65536
MiB = 1024 * 1024
#: The choices of the ``compression`` option (and of protect's parameter).
COMPRESSIONS = _compression.ALGORITHMS


class MultipleOf(types.Integer):
    """An integer that is a positive multiple of ``factor`` (at most ``maximum``)."""

    def __init__(self, factor, maximum=None):
        super().__init__(min=factor, max=maximum,
                         type_name=f"integer value, a multiple of {factor}")
        self.factor = factor

    def __call__(self, value):
        value = super().__call__(value)
        if value is not None and value % self.factor:
            raise ValueError(f"must be a multiple of {self.factor}, got {value}")
        return value


class Positive(types.Float):
    """A float strictly greater than 0 (oslo's ``min`` would allow 0 itself)."""

    def __init__(self):
        super().__init__(type_name="floating point value greater than 0")

    def __call__(self, value):
        value = super().__call__(value)
        if value is not None and not value > 0:
            raise ValueError(f"must be greater than 0, got {value:g}")
        return value


class AutoOrBoolean(types.Boolean):
    """``auto``, or a boolean value as oslo.config reads one."""

    AUTO = "auto"

    def __init__(self):
        super().__init__(type_name="'auto' or a boolean value")

    def __call__(self, value):
        if isinstance(value, str) and value.strip().lower() == self.AUTO:
            return self.AUTO
        return super().__call__(value)

    def _formatter(self, value):
        return self.AUTO if value == self.AUTO else super()._formatter(value)


def _seconds(name, default, help):
    return cfg.Opt(name, type=Positive(), default=default, help=help)


volume_glance_opts = [
    cfg.FloatOpt(
        "poll_interval",
        default=5.0,
        min=0.001,
        help="The longest wait, in seconds, between two status polls of a "
        "snapshot, volume or image. Polling starts at a tenth of a second "
        "and doubles up to this value, so short operations finish quickly "
        "and long ones do not flood the APIs.",
    ),
    cfg.Opt(
        "backup_from_snapshot",
        type=AutoOrBoolean(),
        default=AutoOrBoolean.AUTO,
        help="How protect gets the volume's data into an image. ``auto``: an "
        "``available`` volume is uploaded itself (Cinder holds it in "
        "``uploading`` meanwhile, so it cannot change), with no temporary "
        "snapshot and no temporary volume to copy; an ``in-use`` volume goes "
        "through a temporary snapshot. True: always take a temporary "
        "snapshot and back up from a temporary volume made from it, so the "
        "volume stays usable during the backup. False: always upload the "
        "volume itself (with ``force`` when it is in use). Cinder honours "
        "that ``force`` only where its operator set ``enable_force_upload = "
        "True`` (off by default); otherwise it refuses the upload (\"status "
        "must be available\") and protect backs the in-use volume up from a "
        "temporary snapshot after all, with a warning in the log and "
        "``backup_path = temporary_snapshot`` and the reason in the "
        "manifest.",
    ),
    cfg.Opt(
        "backup_image_object_size",
        type=MultipleOf(GLANCE_READ_SIZE, _manifest.MAX_CHUNK_SIZE),
        default=32 * MiB,
        help="The size in bytes of each chunk, one data object in the bank. "
        f"A positive multiple of {GLANCE_READ_SIZE} (Glance's read size). "
        "The memory a transfer takes grows with it (see parallelism). At "
        f"most {_manifest.MAX_CHUNK_SIZE} (1 GiB): readers refuse a manifest "
        "with larger chunks, so a bank cannot make them hold more.",
    ),
    cfg.StrOpt(
        "compression",
        default=_compression.ZSTD,
        choices=[(_compression.NONE, "store chunks as they are"),
                 (_compression.ZLIB, f"zlib level {_compression.ZLIB_LEVEL}: "
                  "widely readable, slower"),
                 (_compression.ZSTD, f"Zstandard level {_compression.ZSTD_LEVEL}:"
                  " fast, compresses well")],
        help="How chunks are compressed in the bank, unless a protect asks "
        "otherwise with its 'compression' parameter. A chunk that does not "
        "shrink is stored plain; all-zero chunks are never stored.",
    ),
    cfg.IntOpt(
        "parallelism",
        default=3,
        min=1,
        max=64,
        help="How many chunks are hashed, compressed and written to (or read "
        "from) the bank at once. The memory a transfer takes, over the "
        "process's own, is about (1.5 x parallelism + 2) x "
        "backup_image_object_size, as a chunk at work may hold its "
        "compressed copy too, plus (download_streams + 1) x 16 MiB for a "
        "protect's download, in chunk buffers (up to one chunk more): about "
        "300 MiB at the defaults. An encrypted "
        "bank adds at most parallelism x backup_image_object_size (each "
        "worker's sealing buffer; a chunk's stored bytes while a restore "
        "opens it): about 96 MiB more at the defaults.",
    ),
    cfg.IntOpt(
        "bank_retries",
        default=3,
        min=0,
        help="How many times a failed bank read or write is retried, with "
        "exponential backoff, before the operation fails.",
    ),
    cfg.IntOpt(
        "download_retries",
        default=3,
        min=0,
        help="How many times a Glance download that breaks off is resumed "
        "from the last byte received (an HTTP Range request) before the "
        "operation fails.",
    ),
    cfg.IntOpt(
        "download_streams",
        default=4,
        min=1,
        max=32,
        help="How many concurrent HTTP Range requests read a Glance image "
        "during a protect, each 16 MiB of it at a time; the bytes are handed "
        "on in order. 1 reads the image in one stream, as does a Glance that "
        "ignores Range (it answers 200; said at INFO). Each range is resumed "
        "on its own (download_retries). The download holds up to "
        "(download_streams + 1) x 16 MiB in memory on top of what parallelism "
        "takes, in buffers of one chunk (backup_image_object_size, when at "
        "least 16 MiB) that become the chunks stored, uncopied: up to one "
        "chunk more, 96 MiB at the defaults.",
    ),
    _seconds(
        "snapshot_timeout", 3600.0,
        "Seconds to wait for a snapshot to become available or to be "
        "deleted.",
    ),
    _seconds(
        "volume_timeout", 7200.0,
        "Seconds to wait for a volume to become available (created from "
        "a snapshot or an image, or back from uploading) or to be deleted.",
    ),
    _seconds(
        "image_timeout", 7200.0,
        "Seconds to wait for an image to become active (a volume upload "
        "or a data upload) or to be deleted.",
    ),
    cfg.IntOpt(
        "progress_notification_chunks",
        default=10,
        min=1,
        help="A volume_glance.protect.progress or restore.progress "
        "notification is sent every this many chunks (and at least every "
        "progress_notification_interval seconds, at most once per chunk).",
    ),
    _seconds(
        "progress_notification_interval", 120.0,
        "Seconds after which the next chunk sends a progress "
        "notification even if fewer than progress_notification_chunks "
        "chunks have passed.",
    ),
    cfg.IntOpt(
        "lease_seconds",
        default=300,
        min=3,
        help="The lease of a running protect, restore or delete: the run "
        "renews it in the bank every lease_seconds / 3 seconds, and a run "
        "whose lease was not renewed for lease_seconds is dead, so that "
        "sweep (and the next run on the same volume) deletes what it left. "
        "Judged with the clocks of the hosts that write and read the lease, "
        "which may differ by up to 2/3 of it (200 seconds at the default).",
    ),
    _seconds(
        "jobboard_claim_seconds", 60.0,
        "How long a conductor's claim of a plan's job on a jobboard lasts "
        "(karbor-volume-glance conductor): the conductor extends it every "
        "third of that while it works, and a conductor that dies leaves a "
        "claim that expires after at most this long, when another conductor "
        "claims the job. The reclaiming conductor then waits for the dead "
        "run's lease (lease_seconds) before it sweeps and protects again, "
        "so keep lease_seconds close to this.",
    ),
    _seconds(
        "jobboard_poll_interval", 1.0,
        "Seconds an idle conductor waits before it looks for jobs again, "
        "and between two looks of plan protect --jobboard at its "
        "checkpoint's progress in the bank. On a Redis board both are also "
        "woken at once by Redis pub/sub (jobs posted or given back, a volume "
        "ended): a conductor still looks at this pace (no message announces "
        "a claim that expired), the waiting plan command every ten of "
        "them only (the fallback if a message is lost).",
    ),
    _seconds(
        "init_check_interval", 60.0,
        "Seconds between readiness checks of the bank and the cloud by a "
        "long-running standalone runner that found them not ready "
        "(--wait-ready).",
    ),
    cfg.BoolOpt(
        "encrypt",
        default=False,
        help="Encrypt the bank: its master key is made and stored, wrapped by "
        "each key source given (key_file, key_manager_secret_id, or the "
        "passphrase in the environment's KARBOR_VOLUME_GLANCE_PASSPHRASE), at "
        "its first protect. Refused for a bank that holds plain backups, so "
        "plain and encrypted backups never mix. A bank that is encrypted "
        "stays so: with encrypt false, its backups are still read and written "
        "encrypted (a warning says so), and a key source is needed.",
    ),
    cfg.StrOpt(
        "key_file",
        help="A file holding at least 32 random bytes (e.g. head -c 32 "
        "/dev/urandom), read whole: its bytes open the bank's wrapped keys of "
        "kind key_file. Keep it readable by the service only.",
    ),
    cfg.StrOpt(
        "key_manager_secret_id",
        help="The id of a secret in OpenStack's key manager (Barbican, through "
        "castellan and its [key_manager] options; pip install "
        "'karbor-volume-glance[barbican]') whose bytes (at least 32) open the "
        "bank's wrapped keys of kind key_manager.",
    ),
    cfg.StrOpt(
        "passphrase_kdf",
        default=_keyring.SCRYPT,
        choices=[(_keyring.SCRYPT, "scrypt, n=2^17, r=8, p=1 (128 MiB)"),
                 (_keyring.ARGON2ID, "Argon2id, t=3, 64 MiB, 4 lanes (needs "
                  "cryptography 44 or later)")],
        help="The KDF that turns a passphrase into the key that wraps a new "
        "passphrase copy of the master key. Existing copies keep the KDF and "
        "parameters recorded with them.",
    ),
]


def list_opts():
    """Every option group the product reads, for oslo-config-generator.

    The entry point ``oslo.config.opts`` names this function; the
    ``[oslo_messaging_notifications]`` and transport options are
    oslo.messaging's own (``--namespace oslo.messaging``).
    """
    # imported here: the bank's option modules import this one
    from karbor_volume_glance.bank import options as bank_options

    return [(GROUP, list(volume_glance_opts))] + bank_options.list_opts()


def _python_type(opt):
    if isinstance(opt.type, types.Boolean):
        return bool
    return getattr(opt.type, "num_type", str)


def _check(self):
    """Pass every field through its option's type: bounds, shape, choices."""
    for opt in volume_glance_opts:
        value = getattr(self, opt.dest)
        if value is None and opt.default is None:
            continue  # an option that is not set (a key_file, a secret id)
        if isinstance(value, bool) and not isinstance(opt.type, types.Boolean):
            raise exceptions.InvalidConfiguration(
                opt.dest, f"must be a number, not {value!r}")
        try:
            value = opt.type(value)
        except (TypeError, ValueError) as exc:
            raise exceptions.InvalidConfiguration(opt.dest, str(exc)) from exc
        object.__setattr__(self, opt.dest, value)


Settings = dataclasses.make_dataclass(
    "Settings",
    [(opt.dest, _python_type(opt), dataclasses.field(default=opt.default))
     for opt in volume_glance_opts],
    frozen=True,
    namespace={"__post_init__": _check, "__module__": __name__, "__doc__": (
        "The plugin's settings: one field per option of "
        "``volume_glance_opts``, its default the option's. Every value is "
        "checked by its option's type; a bad one raises InvalidConfiguration "
        "naming the option."
    )},
)


def register_opts(conf):
    """Register the plugin's options on ``conf`` (idempotent, as oslo allows)."""
    conf.register_opts(volume_glance_opts, group=GROUP)


def make_config(config_file=None, **overrides):
    """A ConfigOpts with our options: from ``config_file``, then ``overrides``."""
    conf = cfg.ConfigOpts()
    args = ["--config-file", config_file] if config_file else []
    conf(args, project="karbor-volume-glance", default_config_files=[])
    register_opts(conf)
    for name, value in overrides.items():
        conf.set_override(name, value, group=GROUP)
    return conf


def load_settings(conf=None):
    """Register and read every option; ``None`` means the defaults.

    oslo.config checks types and bounds only when a value is read, with an
    error that does not always say which option; reading every option here
    turns that into an InvalidConfiguration naming it.
    """
    if conf is None:
        return Settings()
    register_opts(conf)
    values = {}
    for opt in volume_glance_opts:
        try:
            values[opt.dest] = getattr(conf[GROUP], opt.dest)
        except (ValueError, cfg.Error) as exc:
            raise exceptions.InvalidConfiguration(opt.dest, str(exc)) from exc
    return Settings(**values)
