"""One model of what a command did to each volume: ok, or failed with a reason.

Every command that works on several volumes (``protect``, ``restore``,
``verify``, ``delete``, ``plan protect`` and ``plan restore``) prints the
same document: ``checkpoint_id``, ``ok`` (every volume succeeded) and
``volumes``, one row per volume of the operation in its order, failed ones
included::

    {"volume_id": ..., "ok": true, "status": "ok", "new_volume_id": ...}
    {"volume_id": ..., "ok": false, "status": "failed", "error": "<reason>"}

A protect refused before its checkpoint (a volume missing or in error)
prints ``checkpoint_id`` null and rows ``refused`` (with the reason) and
``not run`` (:func:`refused_document`).

A successful row whose operation reported something beside its success (a
restore's attribute the target could not honour, a temporary image Glance
kept because the restored volume is a clone of it) carries it as
``warning``, shown like a failure's reason on stderr; it does not change the
exit status. A successful row may carry the command's details (protect's backup details,
restore's ``new_volume_id``); ``restore`` also maps each restored volume to
its new one (``new_volume_ids``). A row, failed or not, also carries the
outcome's ``details`` when it has some (``verify --deep``'s chunks checked
and damaged ones). The reason is the operation's error
message with passwords, tokens, keys and a URL's credentials masked
(oslo.utils' ``mask_password``), as is each failure's line on stderr and
the command's own error line. Every line here is printed escaped
(:func:`karbor_volume_glance.cli.output.say`): a reason can quote the bank.
"""

import re
import sys

from oslo_utils import strutils

from karbor_volume_glance.cli import output

OK = "ok"
FAILED = "failed"
#: A protect refused before its checkpoint: the volumes that failed a check,
#: and the others, which were not run.
REFUSED = "refused"
NOT_RUN = "not run"
#: What a failure without a message says.
UNKNOWN = "failed for an unknown reason"
#: ``scheme://user:secret@host``: the secret of a URL's credentials.
_URL_SECRET = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@",
                         re.IGNORECASE)


def reason(text):
    """An error message fit to show: its secrets masked."""
    text = str(text) if text else UNKNOWN
    text = _URL_SECRET.sub(r"\g<head>***@", text)
    return strutils.mask_password(text)


def volume_row(outcome, details=None):
    """The row of one volume's outcome; ``details`` join a successful one."""
    row = {"volume_id": outcome.volume_id, "ok": outcome.ok,
           "status": OK if outcome.ok else FAILED}
    if outcome.ok:
        if outcome.new_volume_id is not None:
            row["new_volume_id"] = outcome.new_volume_id
        if getattr(outcome, "warning", None):
            row["warning"] = reason(outcome.warning)
        row.update(details or {})
    else:
        row["error"] = reason(outcome.error)
    row.update(getattr(outcome, "details", None) or {})
    return row


def document(result, details=None, restored=False):
    """A result (checkpoint id and outcomes) as the commands print it.

    ``details`` maps a volume id to what its successful row adds;
    ``restored`` adds ``new_volume_ids`` (original id -> restored id).
    """
    details = details or {}
    data = {"checkpoint_id": result.checkpoint_id, "ok": result.ok,
            "volumes": [volume_row(o, details.get(o.volume_id))
                        for o in result.outcomes]}
    if restored:
        data["new_volume_ids"] = {o.volume_id: o.new_volume_id
                                  for o in result.outcomes if o.ok}
    return data


def refused_document(refused, volume_ids):
    """A protect refused before its checkpoint (ProtectRefused) as the
    commands print it: no checkpoint, every volume a row, the refused ones
    ``refused`` with the reason, the others ``not run``."""
    reasons = {failure.resource_id: reason(failure.cause)
               for failure in refused.failures}
    rows = []
    for volume_id in volume_ids:
        row = {"volume_id": volume_id, "ok": False,
               "status": REFUSED if volume_id in reasons else NOT_RUN}
        if volume_id in reasons:
            row["error"] = reasons[volume_id]
        rows.append(row)
    return {"checkpoint_id": None, "ok": False, "volumes": rows}


def print_failures(data, out=None):
    """One line on stderr per failed volume of a :func:`document` (per
    damaged object of a deep verify's), and one per warning of a
    successful one."""
    out = out or sys.stderr
    for row in data["volumes"]:
        if not row["ok"] and row.get("bad"):  # a deep verify: each damage
            for item in row["bad"]:
                output.say(f"karbor-volume-glance: volume {row['volume_id']}: "
                           f"{item['kind']} {item['object']}: "
                           f"{item['reason']}", out)
        elif not row["ok"] and "error" in row:  # not a volume not run
            output.say(f"karbor-volume-glance: volume {row['volume_id']}: "
                       f"{row['error']}", out)
        elif row.get("warning"):
            output.say(f"karbor-volume-glance: volume {row['volume_id']}: "
                       f"warning: {row['warning']}", out)
