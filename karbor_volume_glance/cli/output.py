"""What the CLI shows: results as a table or JSON, lines, and progress bars.

Everything the command line prints goes through :func:`emit` or :func:`say`,
which escape untrusted text (:func:`karbor_volume_glance.safetext.escape`):
names, descriptions and reasons come from the bank and the cloud. JSON is
printed from the escaped data, so it parses to the escaped text.
"""

import json
import logging
import sys

from tqdm import tqdm

from karbor_volume_glance.safetext import escape, escape_data


def say(text, out=None):
    """Print one line of ``text``, escaped, on ``out`` (stdout)."""
    print(escape(text), file=out or sys.stdout)


class EscapingFilter(logging.Filter):
    """A log handler's filter that escapes each record's message: log lines
    quote bank and cloud text too (a backup's name, a server's reason)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- logging reports its own errors
            return True
        record.msg, record.args = escape(message), None
        return True


def emit(data, fmt, out=None):
    """Print ``data`` (a dict or a list of dicts) as JSON or as a table,
    every string in it escaped."""
    out = out or sys.stdout
    data = escape_data(data)
    if fmt == "json":
        print(json.dumps(data, indent=2, sort_keys=True), file=out)
        return
    rows = data if isinstance(data, list) else [
        {"field": key, "value": value} for key, value in data.items()
    ]
    print(table(rows), file=out)


def _cell(value):
    if isinstance(value, dict | list):
        return json.dumps(escape_data(value), sort_keys=True)
    return "" if value is None else escape(value)


def table(rows):
    """A plain text table of dicts, columns in first-seen key order.

    Written here rather than with prettytable: Karbor pins an old
    prettytable, and a table this simple is not worth that conflict.
    """
    if not rows:
        return "(none)"
    keys = list(dict.fromkeys(key for row in rows for key in row))
    columns = [escape(key) for key in keys]
    cells = [[_cell(row.get(key)) for key in keys] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells))
              for i, column in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths,
                                                             strict=True)) + " |"

    return "\n".join([rule, line(columns), rule, *map(line, cells), rule])


class ProgressBars:
    """One tqdm bar per volume, fed by the operations' ``progress`` hook.

    Bars go to stderr and only when it is a terminal (tqdm's ``disable=None``).
    """

    def __init__(self, title, out=None):
        self._title = title
        self._out = out or sys.stderr
        self._bars = {}

    def __call__(self, volume_id, done, total):
        bar = self._bars.get(volume_id)
        if bar is None:
            bar = self._bars[volume_id] = tqdm(
                total=total, desc=escape(f"{self._title} {volume_id[:8]}"), unit="B",
                unit_scale=True, unit_divisor=1024, file=self._out,
                disable=None, leave=False,
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    def close(self):
        for bar in self._bars.values():
            bar.close()
