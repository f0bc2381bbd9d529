"""Is a bank ready? Write, read back and delete a probe object.

Works through the bank API alone (ours or Karbor's ``Bank``), so every
backend has it. The probe object lives under ``/volume_glance/probes/`` with
a fresh name, so probes never meet each other or real data.
"""

import datetime
import uuid

from karbor_volume_glance import exceptions

PROBE_PREFIX = "/volume_glance/probes/"


def probe(bank):
    """Raise BankNotReady, saying which step failed, unless the bank works."""
    key = f"{PROBE_PREFIX}{uuid.uuid4()}"
    value = {"probe": key,
             "at": datetime.datetime.now(datetime.UTC).isoformat()}
    steps = (
        ("writing", lambda: bank.update_object(key, value)),
        ("reading back", lambda: bank.get_object(key)),
    )
    for step, call in steps:
        try:
            result = call()
        except Exception as exc:
            _clean(bank, key)
            raise exceptions.BankNotReady(f"{step} {key} failed: "
                                          f"{type(exc).__name__}: {exc}") from exc
    if result != value:
        _clean(bank, key)
        raise exceptions.BankNotReady(f"{key} read back as {result!r}, "
                                      f"written as {value!r}")
    try:
        bank.delete_object(key)
    except Exception as exc:
        raise exceptions.BankNotReady(f"deleting {key} failed: "
                                      f"{type(exc).__name__}: {exc}") from exc


def _clean(bank, key):
    try:
        bank.delete_object(key)
    except Exception:  # noqa: S110 - the probe's failure is what matters
        pass
