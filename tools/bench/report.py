"""The benchmark's report: a table row or one JSON object per case.

A result is a dict of figures (see :data:`FIGURES`), the first of them the
``bank`` the case used (``file``, ``s3`` or ``swift``); :func:`with_rates` adds
the MiB/s of each timed figure over the whole volume (the bytes protect and
restore move, holes included) and, for the ``incremental`` case, the
incremental's ratios: ``incremental_stored_ratio`` (the bytes it stored
itself over the volume's data size, ``size_bytes``) and
``incremental_vs_full`` (its protect's seconds over the full protect's). A
figure a failed case never reached, or a case does not have, is None, shown
as ``-``.
"""

import json

MiB = 1024 * 1024

#: Timed figures, each with the key of its rate (MiB of volume per second).
TIMED = (
    ("protect_seconds", "protect_mib_per_s"),
    ("incremental_seconds", "incremental_mib_per_s"),
    ("restore_seconds", "restore_mib_per_s"),
    ("raw_read_seconds", "raw_read_mib_per_s"),
    ("raw_write_seconds", "raw_write_mib_per_s"),
)

FIGURES = (
    "bank", "pattern", "size_bytes", "volume_bytes", "compression", "encrypt",
    "parallelism", "download_streams", "stream_cap", "backup_from_snapshot",
    "backup_path",
    "protect_seconds", "restore_seconds", "protect_stream_mib_per_s",
    "restore_stream_mib_per_s", "protect_cpu_seconds", "restore_cpu_seconds",
    "raw_read_seconds",
    "raw_write_seconds", "stored_bytes", "peak_rss_bytes", "rss_before_bytes",
    "ru_maxrss_bytes", "restore_exact",
    # the incremental case only: the full protect is protect_seconds and
    # stored_bytes, the restore is the incremental's
    "changed_bytes", "incremental_seconds", "incremental_stream_mib_per_s",
    "incremental_cpu_seconds",
    "incremental_stored_bytes", "incremental_object_bytes",
    "incremental_chunks", "incremental_delta_chunks",
    "incremental_referenced_chunks", "incremental_full_reason",
)

#: Ratios: (key, numerator, denominator).
RATIOS = (
    ("incremental_stored_ratio", "incremental_stored_bytes", "size_bytes"),
    ("incremental_vs_full", "incremental_seconds", "protect_seconds"),
)
#: Decimals of a float in JSON (3 unless named here).
JSON_DIGITS = {"incremental_stored_ratio": 6}


def mib_per_second(size, seconds):
    """MiB/s of ``size`` bytes in ``seconds``; None when either is unknown or 0."""
    if not size or not seconds:
        return None
    return size / MiB / seconds


def ratio(numerator, denominator):
    """``numerator / denominator``; None when either is unknown or it is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def with_rates(result):
    """``result`` plus the MiB/s of each timed figure over its volume's bytes,
    and the :data:`RATIOS`."""
    rated = dict(result)
    for seconds_key, rate_key in TIMED:
        rated[rate_key] = mib_per_second(result.get("volume_bytes"),
                                         result.get(seconds_key))
    for key, numerator, denominator in RATIOS:
        rated[key] = ratio(result.get(numerator), result.get(denominator))
    rated["compression_shown"] = (
        f"{result.get('compression')}+enc" if result.get("encrypt")
        else result.get("compression"))
    return rated


def format_size(size):
    """``size`` bytes in the largest binary unit that divides it: 256M, 1G, 5K."""
    if size is None:
        return "-"
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", MiB), ("K", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _fixed(digits):
    return lambda value: "-" if value is None else f"{value:.{digits}f}"


def _mib(value):
    return "-" if value is None else f"{value / MiB:.1f}"


def _percent(value):
    return "-" if value is None else f"{value * 100:.2f}"


def _exact(value):
    return {True: "yes", False: "NO"}.get(value, "-")


def _text(value):
    return "-" if value is None else str(value)


def _cap(value):
    return "none" if value is None else f"{value:g}"


#: How the table shows the manifest's ``backup_path``.
_PATHS = {"volume": "volume", "temporary_snapshot": "snapshot",
          "user_snapshot": "user"}


def _path(value):
    return "-" if value is None else _PATHS.get(value, value)


#: (title, key, formatter, left-aligned) of each column of the table.
COLUMNS = (
    ("bank", "bank", _text, True),
    ("pattern", "pattern", _text, True),
    ("size", "size_bytes", format_size, False),
    ("volume", "volume_bytes", format_size, False),
    ("compr", "compression_shown", _text, True),  # "+enc": encrypted
    ("par", "parallelism", _text, False),
    ("dl", "download_streams", _text, False),
    ("cap", "stream_cap", _cap, False),
    ("bfs", "backup_from_snapshot", _text, True),
    ("path", "backup_path", _path, True),
    ("protect s", "protect_seconds", _fixed(2), False),
    ("MiB/s", "protect_mib_per_s", _fixed(1), False),
    ("stream", "protect_stream_mib_per_s", _fixed(1), False),
    ("cpu s", "protect_cpu_seconds", _fixed(2), False),
    ("restore s", "restore_seconds", _fixed(2), False),
    ("MiB/s", "restore_mib_per_s", _fixed(1), False),
    ("stream", "restore_stream_mib_per_s", _fixed(1), False),
    ("cpu s", "restore_cpu_seconds", _fixed(2), False),
    ("raw read s", "raw_read_seconds", _fixed(2), False),
    ("MiB/s", "raw_read_mib_per_s", _fixed(1), False),
    ("raw write s", "raw_write_seconds", _fixed(2), False),
    ("MiB/s", "raw_write_mib_per_s", _fixed(1), False),
    ("stored MiB", "stored_bytes", _mib, False),
    ("incr s", "incremental_seconds", _fixed(2), False),
    ("x full", "incremental_vs_full", _fixed(2), False),
    ("incr MiB", "incremental_stored_bytes", _mib, False),
    ("incr %", "incremental_stored_ratio", _percent, False),
    ("peak RSS MiB", "peak_rss_bytes", _mib, False),
    ("exact", "restore_exact", _exact, True),
)
#: Width of each column: its title, or a value's usual width if wider (the
#: longest bank is ``swift``, the longest pattern ``incremental``).
_VALUE_WIDTHS = {"bank": 5, "pattern": 11, "compression_shown": 8, "stream_cap": 4,
                 "backup_from_snapshot": 5, "backup_path": 8}
_WIDTHS = tuple(max(len(title), _VALUE_WIDTHS.get(key, 0))
                for title, key, _format, _left in COLUMNS)


def _cells(values):
    cells = []
    for (_title, _key, _format, left), width, value in zip(
            COLUMNS, _WIDTHS, values, strict=True):
        cells.append(value.ljust(width) if left else value.rjust(width))
    return "  ".join(cells).rstrip()


def table_header():
    """The table's title line."""
    return _cells([title for title, *_rest in COLUMNS])


def note_lines(notes):
    """The notes printed before the table, each a line starting with ``# ``."""
    return [f"# {note}" for note in notes]


def table_row(result):
    """One case as a table line (``result`` with or without its rates)."""
    rated = with_rates(result)
    line = _cells([formatter(rated.get(key))
                   for _title, key, formatter, _left in COLUMNS])
    if rated.get("error"):
        line += f"  error: {rated['error']}"
    return line


def _rounded(key, value):
    if not isinstance(value, float):
        return value
    return round(value, JSON_DIGITS.get(key, 3))


def json_line(result):
    """One case as one line of JSON, with its rates and ratios; floats to 3
    decimals (:data:`JSON_DIGITS` names the exceptions)."""
    rated = with_rates(result)
    return json.dumps({key: _rounded(key, value) for key, value in rated.items()})
