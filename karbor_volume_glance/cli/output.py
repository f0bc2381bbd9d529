"""What the CLI shows: results as a table or JSON, and transfer progress bars."""

import json
import sys

from tqdm import tqdm


def emit(data, fmt, out=None):
    """Print ``data`` (a dict or a list of dicts) as JSON or as a table."""
    out = out or sys.stdout
    if fmt == "json":
        print(json.dumps(data, indent=2, sort_keys=True), file=out)
        return
    rows = data if isinstance(data, list) else [
        {"field": key, "value": value} for key, value in data.items()
    ]
    print(table(rows), file=out)


def _cell(value):
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def table(rows):
    """A plain text table of dicts, columns in first-seen key order.

    Written here rather than with prettytable: Karbor pins an old
    prettytable, and a table this simple is not worth that conflict.
    """
    if not rows:
        return "(none)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
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
                total=total, desc=f"{self._title} {volume_id[:8]}", unit="B",
                unit_scale=True, unit_divisor=1024, file=self._out,
                disable=None, leave=False,
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    def close(self):
        for bar in self._bars.values():
            bar.close()
