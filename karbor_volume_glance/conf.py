"""The plugin's configuration: oslo.config options and their validation.

The options live in the ``[volume_glance_plugin]`` group of the ConfigOpts that
Karbor hands a protection plugin (the provider file's), the same group name as
Karbor's own volume-glance plugin so that an existing provider file keeps
working. :func:`load_settings` registers them, reads them once and checks them,
so that a bad value fails when the plugin is built, naming the option, instead
of half-way through a backup.
"""

import dataclasses

from oslo_config import cfg

from karbor_volume_glance import exceptions

GROUP = "volume_glance_plugin"

#: Glance serves image data in 64 KiB reads; objects are whole multiples of it.
GLANCE_READ_SIZE = 65536
MiB = 1024 * 1024
COMPRESSIONS = ("none", "zlib", "zstd")

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
    cfg.BoolOpt(
        "backup_from_snapshot",
        default=True,
        help="Take a temporary snapshot of the volume and back up from it, so "
        "the volume stays usable during the backup.",
    ),
    cfg.IntOpt(
        "backup_image_object_size",
        default=32 * MiB,
        min=GLANCE_READ_SIZE,
        help="The size in bytes of each data object written to the bank. "
        "Must be a positive multiple of 65536 (Glance's read size). Memory "
        "used by a transfer grows with this value.",
    ),
    cfg.StrOpt(
        "compression",
        default="zstd",
        choices=[("none", "store chunks as they are"),
                 ("zlib", "zlib level 6: widely readable, slower"),
                 ("zstd", "Zstandard level 3: fast, compresses well")],
        help="How chunks are compressed in the bank, unless a protect asks "
        "otherwise with its 'compression' option. A chunk that does not "
        "shrink is stored plain; all-zero chunks are never stored.",
    ),
    cfg.IntOpt(
        "parallelism",
        default=3,
        min=1,
        max=64,
        help="How many chunks are hashed, compressed and written to (or read "
        "from) the bank at once. Memory used by a transfer is about "
        "(parallelism + 3) x backup_image_object_size (about 200 MiB at the "
        "defaults, over the process's own).",
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
    cfg.FloatOpt(
        "snapshot_timeout",
        default=3600.0,
        min=0.0,
        help="Seconds to wait for a snapshot to become available or to be "
        "deleted.",
    ),
    cfg.FloatOpt(
        "volume_timeout",
        default=7200.0,
        min=0.0,
        help="Seconds to wait for a volume to become available (created from "
        "a snapshot or an image, or back from uploading) or to be deleted.",
    ),
    cfg.FloatOpt(
        "image_timeout",
        default=7200.0,
        min=0.0,
        help="Seconds to wait for an image to become active (a volume upload "
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
    cfg.FloatOpt(
        "progress_notification_interval",
        default=120.0,
        min=0.0,
        help="Seconds after which the next chunk sends a progress "
        "notification even if fewer than progress_notification_chunks "
        "chunks have passed.",
    ),
    cfg.FloatOpt(
        "init_check_interval",
        default=60.0,
        min=0.0,
        help="Seconds between readiness checks of the bank and the cloud by a "
        "long-running standalone runner that found them not ready.",
    ),
]


def list_opts():
    """The options for oslo-config-generator (entry point ``oslo.config.opts``)."""
    return [(GROUP, list(volume_glance_opts))]


@dataclasses.dataclass(frozen=True)
class Settings:
    """The plugin's validated settings, read once from the ConfigOpts."""

    poll_interval: float = 5.0
    backup_from_snapshot: bool = True
    backup_image_object_size: int = 32 * MiB
    snapshot_timeout: float = 3600.0
    volume_timeout: float = 7200.0
    image_timeout: float = 7200.0
    compression: str = "zstd"
    parallelism: int = 3
    bank_retries: int = 3
    download_retries: int = 3
    progress_notification_chunks: int = 10
    progress_notification_interval: float = 120.0
    init_check_interval: float = 60.0

    def __post_init__(self):
        validate(self)


def validate(settings):
    """Raise InvalidConfiguration, naming the option, for a value we refuse."""
    if not settings.poll_interval > 0:
        raise exceptions.InvalidConfiguration(
            "poll_interval", f"must be greater than 0, got {settings.poll_interval!r}"
        )
    size = settings.backup_image_object_size
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise exceptions.InvalidConfiguration(
            "backup_image_object_size",
            f"must be a positive integer, got {size!r}",
        )
    if size % GLANCE_READ_SIZE:
        raise exceptions.InvalidConfiguration(
            "backup_image_object_size",
            f"must be a multiple of {GLANCE_READ_SIZE}, got {size}",
        )
    if settings.compression not in COMPRESSIONS:
        raise exceptions.InvalidConfiguration(
            "compression", f"must be one of {', '.join(COMPRESSIONS)}, got "
            f"{settings.compression!r}")
    for name, minimum in (("parallelism", 1), ("bank_retries", 0),
                          ("download_retries", 0),
                          ("progress_notification_chunks", 1)):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise exceptions.InvalidConfiguration(
                name, f"must be an integer >= {minimum}, got {value!r}")
    for name in ("snapshot_timeout", "volume_timeout", "image_timeout",
                 "progress_notification_interval", "init_check_interval"):
        value = getattr(settings, name)
        if not value > 0:
            raise exceptions.InvalidConfiguration(
                name, f"must be greater than 0, got {value!r}"
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
    """Register, read and validate the options; ``None`` means the defaults.

    oslo.config checks types and bounds only when a value is read, with an
    error that does not always say which option; reading every option here
    turns that into an InvalidConfiguration naming it.
    """
    if conf is None:
        conf = make_config()
    register_opts(conf)
    values = {}
    for opt in volume_glance_opts:
        try:
            values[opt.dest] = getattr(conf[GROUP], opt.dest)
        except (ValueError, cfg.Error) as exc:
            raise exceptions.InvalidConfiguration(opt.dest, str(exc)) from exc
    return Settings(**values)
