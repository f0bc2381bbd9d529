"""The benchmark's command line, and the cases it asks for.

Sizes take binary units (``256M`` is 256 MiB, ``1G`` is 1 GiB); banks, sizes,
patterns, compressions and parallelisms each take a comma-separated list, and
every combination is one case, bank by bank (``--bank file,s3,swift``: every
case of the file bank, then of S3, then of Swift), and within a bank cap by
cap (``--stream-cap none,100``: a local cloud without a cap per answer, then
one with 100 MiB/s). ``--download-streams`` and ``--backup-from-snapshot``
set the plugin's options of the same names. Besides the data patterns,
``--pattern`` takes ``incremental`` (:mod:`.incremental`: a full and an
incremental protect of random data, 1 % changed in between), last in the
default set. ``--encrypt`` runs the cases on an encrypted bank (format 4,
with a master key the run makes); ``--encrypt off,on`` runs each case
plain then encrypted, side by side. ``default`` compression and parallelism
are the plugin's own defaults, resolved before anything runs so that the
report names the actual value.
"""

import argparse
import dataclasses
import itertools
import re

from karbor_volume_glance import conf
from tools.bench import banks, incremental
from tools.bench.patterns import PATTERNS

KiB = 1024
UNITS = {"": 1, "K": KiB, "M": KiB**2, "G": KiB**3, "T": KiB**4}
_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", re.IGNORECASE)
DEFAULT = "default"
#: What ``--pattern`` takes: the data patterns and the incremental case.
CASE_PATTERNS = (*PATTERNS, incremental.NAME)
#: The plugin's defaults of the options the benchmark varies besides
#: compression and parallelism.
DEFAULT_STREAMS = conf.Settings().download_streams
DEFAULT_PATH = str(conf.Settings().backup_from_snapshot).lower()
#: What ``--backup-from-snapshot`` takes.
BACKUP_PATHS = ("auto", "true", "false")
#: The patterns of a run that names none: all of them (at 1 GiB the
#: incremental case takes about as long as one more pattern).
DEFAULT_PATTERNS = CASE_PATTERNS


@dataclasses.dataclass(frozen=True)
class Case:
    """One measurement: a volume of ``size`` bytes of ``pattern`` protected
    into and restored from a bank of kind ``bank``."""

    pattern: str
    size: int
    compression: str
    parallelism: int
    bank: str = banks.DEFAULT_BANK
    #: on an encrypted bank (format 4)
    encrypt: bool = False
    #: concurrent Range requests of the protect's download
    download_streams: int = DEFAULT_STREAMS
    #: the local Glance's cap per answer, MiB/s (None: no cap)
    stream_cap: float | None = None
    #: ``auto``, ``true`` or ``false``
    backup_from_snapshot: str = DEFAULT_PATH


def parse_size(text):
    """Bytes in ``text``: a whole number with an optional K, M, G or T (binary)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: use a whole number with K, M, G or T, e.g. 256M"
        )
    size = int(match.group(1)) * UNITS[match.group(2).upper()]
    if size <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: must be positive")
    return size


def _items(text):
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"empty item in {text!r}")
    return items


def parse_sizes(text):
    return [parse_size(item) for item in _items(text)]


def _choices(text, allowed, what):
    items = _items(text)
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return items


def parse_patterns(text):
    return _choices(text, CASE_PATTERNS, "pattern")


def parse_banks(text):
    """The banks of a ``--bank`` list, each once, in the order given."""
    return _unique(_choices(text, banks.BANKS, "bank"))


def parse_compressions(text):
    return _choices(text, (*conf.COMPRESSIONS, DEFAULT), "compression")


#: What ``--encrypt`` takes, and what each means.
ENCRYPTS = {"off": False, "on": True}


def parse_encrypts(text):
    """``off``, ``on`` or both (``off,on``): plain and/or encrypted cases."""
    return _unique(ENCRYPTS[item]
                   for item in _choices(text, tuple(ENCRYPTS), "encrypt"))


def parse_parallelisms(text):
    values = []
    for item in _items(text):
        if item == DEFAULT:
            values.append(DEFAULT)
        elif item.isdigit() and int(item) >= 1:
            values.append(int(item))
        else:
            raise argparse.ArgumentTypeError(
                f"invalid parallelism {item!r}: a whole number >= 1 or 'default'"
            )
    return values


#: What ``--compare`` takes (:mod:`.karbor_compare`).
COMPARISONS = ("karbor",)


def parse_rounds(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid rounds {text!r}: a whole number >= 1")
    return int(text)


def parse_streams(text):
    values = []
    for item in _items(text):
        if item == DEFAULT:
            values.append(DEFAULT_STREAMS)
        elif item.isdigit() and 1 <= int(item) <= 32:
            values.append(int(item))
        else:
            raise argparse.ArgumentTypeError(
                f"invalid download streams {item!r}: 1 to 32 or 'default'")
    return values


def parse_caps(text):
    """MiB/s per answer of the local Glance; ``none`` is no cap (None)."""
    values = []
    for item in _items(text):
        if item.lower() == "none":
            values.append(None)
            continue
        try:
            value = float(item)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(
                f"invalid stream cap {item!r}: MiB/s above 0, or 'none'")
        values.append(value)
    return values


def parse_paths(text):
    return [DEFAULT_PATH if item == DEFAULT else item
            for item in _choices(text.lower(), (*BACKUP_PATHS, DEFAULT),
                                 "backup_from_snapshot")]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Measure protect and restore with the real clients through "
        "a local cloud (its own process) and a bank (a file bank, or S3 or "
        "Swift servers the benchmark starts on 127.0.0.1), next to the raw "
        "speed of reading the image from Glance and of writing the bytes into "
        "the bank's store. Each case runs in a fresh child process, so its "
        "peak RSS is its own.",
    )
    parser.add_argument("--bank", type=parse_banks,
                        default=[banks.DEFAULT_BANK],
                        help="banks: file (a directory), s3 (a SeaweedFS) or "
                        "swift (a one-node Swift), a comma-separated list "
                        "runs each; the servers come from "
                        "tools/install-test-services (default: file)")
    parser.add_argument("--size", type=parse_sizes, default=[KiB**3],
                        help="data sizes, e.g. 256M,1G (default: 1G); the "
                        "volume is that many GiB, rounded up")
    parser.add_argument("--pattern", type=parse_patterns,
                        default=list(DEFAULT_PATTERNS),
                        help=f"data patterns, or {incremental.NAME} (a full "
                        "then an incremental protect of random data, 1%% "
                        "changed in 4 KiB writes in between) (default: "
                        f"{','.join(DEFAULT_PATTERNS)})")
    parser.add_argument("--compression", type=parse_compressions,
                        default=[DEFAULT],
                        help="bank compression: none, zlib, zstd or default "
                        "(the plugin's); a comma-separated list runs each")
    parser.add_argument("--parallelism", type=parse_parallelisms,
                        default=[DEFAULT],
                        help="chunks in flight: concurrent chunk writes of a "
                        "protect, reads of a restore; a comma-separated list "
                        "runs each (default: the plugin's)")
    parser.add_argument("--encrypt", type=parse_encrypts, nargs="?",
                        const=[True], default=[False],
                        help="encrypt the backups (format 4, AES-256-GCM, a "
                        "master key made for the run); 'off,on' runs each "
                        "case plain then encrypted (default: off)")
    parser.add_argument("--download-streams", type=parse_streams,
                        default=[DEFAULT_STREAMS],
                        help="concurrent Range requests of a protect's "
                        "download, a comma-separated list runs each, e.g. "
                        f"1,2,4,8 (default: the plugin's, {DEFAULT_STREAMS})")
    parser.add_argument("--stream-cap", type=parse_caps, default=[None],
                        help="the local Glance's cap on each answer, in "
                        "MiB/s, or none; a comma-separated list runs each "
                        "(a local cloud per cap), e.g. none,100 (default: "
                        "none)")
    parser.add_argument("--backup-from-snapshot", type=parse_paths,
                        default=[DEFAULT_PATH],
                        help="auto, true or false, a comma-separated list "
                        "runs each (default: the plugin's, "
                        f"{DEFAULT_PATH})")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per case instead of a table")
    parser.add_argument("--keep", metavar="DIR",
                        help="work in DIR and keep everything made there (the "
                        "cloud's data, the bank, the volumes and checkpoints)")
    parser.add_argument("--status-delay", type=float, default=0.05,
                        help="the local cloud's seconds per status change "
                        "(default: 0.05)")
    parser.add_argument("--poll-interval", type=float, default=0.5,
                        help="the plugin's longest pause between status polls "
                        "(default: 0.5, as the demo uses)")
    parser.add_argument("--timeout", type=float,
                        help="seconds a case may take (default: 600 plus 600 "
                        "per GiB of volume)")
    parser.add_argument("--compare", choices=COMPARISONS,
                        help="karbor: protect and restore one volume (the "
                        "first --size and --pattern; half-zeros unless named) "
                        "with Karbor 1.6's own volume-glance plugin at its "
                        "default poll_interval and at 1 s, and with ours, "
                        "alternating, in Karbor's flows and bank, and report "
                        "the times and ratios (needs karbor: tox -e "
                        "bench-karbor)")
    parser.add_argument("--rounds", type=parse_rounds, default=1,
                        help="with --compare: rounds, each running every "
                        "contestant once (default: 1)")
    parser.add_argument("--one-case", metavar="JSON", help=argparse.SUPPRESS)
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def plugin_defaults():
    """The plugin's default ``(compression, parallelism)``."""
    settings = conf.load_settings(conf.make_config())
    return settings.compression, settings.parallelism


def build_cases(args, defaults=None):
    """Every combination of the arguments' lists, defaults resolved, in order."""
    compression, parallelism = defaults or plugin_defaults()
    compressions = _unique(compression if value == DEFAULT else value
                           for value in args.compression)
    parallelisms = _unique(parallelism if value == DEFAULT else value
                           for value in args.parallelism)
    return [Case(pattern, size, comp, par, bank, encrypt, streams, cap,
                 path)
            for bank, cap, size, pattern, comp, par, path, streams, encrypt
            in itertools.product(args.bank, args.stream_cap, args.size,
                                 args.pattern, compressions, parallelisms,
                                 args.backup_from_snapshot,
                                 args.download_streams, args.encrypt)]


def _unique(values):
    return list(dict.fromkeys(values))


def case_timeout(args, volume_bytes):
    """Seconds one child of a case may take."""
    if args.timeout:
        return args.timeout
    return 600 + 600 * volume_bytes / KiB**3
