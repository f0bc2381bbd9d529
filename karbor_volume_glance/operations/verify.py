"""Verify: check that a volume's backup in the bank can be restored as it was.

Checks the backup's status is ``available`` and its manifest is present and
consistent, then, as restic's ``check`` does, one of three ways (the
VERIFY_SCHEMA options):

* **shallow** (the default): every object the backup lists is in the bank
  with its recorded stored size; fails naming the first that is not;
* **deep**: every chunk is read, decompressed and checked against its sha256
  (a delta against its base's), and the whole image against the manifest's
  sha256 (Karbor's layout: its md5). Every chunk is checked, whatever the
  others hold: the failure (:class:`~karbor_volume_glance.exceptions.
  BackupDamaged`) names each damaged chunk with its reason, and the manifest
  when the data contradicts it;
* **read_data_subset** N: as deep, but only a random N % of the chunks (at
  least one; the whole image's hash needs them all, so it is not checked).
  The chunks are ``random.Random(f"{seed}:{volume id}").sample(...)`` of the
  backup's chunk records, ``seed`` the option's or, by default, a new one
  from the system's random source each run (reported, so a run can be
  repeated). Each run checks other chunks: a daily 5 % leaves a given chunk
  unchecked for a year with a chance of 0.95 ** 365, about 1e-8.

Deep and subset runs return what they checked: ``chunks`` (the backup's),
``checked`` (the names of those checked), ``bad`` (``{"kind", "object",
"reason"}`` each, kind ``chunk`` or ``manifest``), ``seed`` and
``percent``. Chunks are read ``parallelism`` at a time. Updates Karbor's
``verify`` record when given one. Nothing in the cloud is touched.
"""

import math
import random
import secrets

from oslo_log import log as logging

from karbor_volume_glance import datapath, exceptions, schemas
from karbor_volume_glance.format import manifest
from karbor_volume_glance.format.status import BackupStatus
from karbor_volume_glance.notifications import payload
from karbor_volume_glance.operations import (
    base,
    bookkeeping,
    incremental,
)

LOG = logging.getLogger(__name__)
#: Seeds are drawn below this (they fit a JSON integer anywhere).
SEED_LIMIT = 2 ** 53


class VerifyOperation(base.Operation):
    name = "verify"
    working = BackupStatus.VERIFYING
    error = exceptions.VerifyFailed
    record = "verify"

    def validate(self, parameters, run):
        params = schemas.validate(schemas.VERIFY_SCHEMA, parameters)
        if params.get("deep") and "read_data_subset" in params:
            raise exceptions.InvalidParameters(
                "read_data_subset", "deep checks every chunk: give deep or "
                "read_data_subset, not both", schemas.VERIFY_SCHEMA["title"])
        if "seed" in params and "read_data_subset" not in params:
            raise exceptions.InvalidParameters(
                "seed", "a seed chooses read_data_subset's chunks: it needs "
                "read_data_subset", schemas.VERIFY_SCHEMA["title"])
        return params

    def steps(self, run):
        volume_id, section = run.volume_id, run.section
        deep = run.params.get("deep", False)
        percent = run.params.get("read_data_subset")
        run.events.update(**payload.from_manifest(bookkeeping.read_manifest(section)))
        backup = bookkeeping.load_available(section, volume_id, run.keys,
                                            getattr(run.checkpoint, "id", None))
        if backup.opened is not None:  # sealed: what it says, once opened
            run.events.update(**payload.from_manifest(backup.opened))
        sources = incremental.resolve_sources(self.index(section, volume_id,
                                                         run.index_key),
                                              backup)
        transfer = self.transfer(section, volume_id, sources=sources,
                                 sealer=run.sealer())
        if not deep and percent is None:
            transfer.check_present(backup)
            return {"deep": False, "objects": _objects(backup),
                    "bytes": _shallow(transfer, backup)}
        report = _read_data(transfer, backup, percent, run.params.get("seed"))
        if report["bad"]:
            raise exceptions.BackupDamaged(volume_id, report["bad"], report)
        return report

    def finished(self, run, result):
        checked = ("stored sizes" if "checked" not in result
                   else f"{len(result['checked'])} of {result['chunks']} chunks")
        LOG.info("Verified the backup of volume %s (%s): %d bytes checked",
                 run.volume_id, checked, result["bytes"])


def _objects(backup):
    return len(backup.locations() or backup.stored_objects())


def _shallow(transfer, backup):
    """Read every stored object and check its size; the bytes read."""
    if backup.legacy:  # Karbor's layout records no sizes: read them all
        return sum(len(data) for data in transfer.read_legacy(backup))
    return transfer.check_stored_sizes(backup)


def choose(count, percent, seed, volume_id):
    """The indexes (sorted) of the ``percent`` % of ``count`` chunks that a
    read_data_subset run with ``seed`` checks in ``volume_id``'s backup."""
    wanted = min(count, max(1, math.ceil(count * percent / 100)))
    return sorted(random.Random(f"{seed}:{volume_id}").sample(range(count),
                                                               wanted))


def _reason(exc, label=None):
    """Why an object is damaged: the error's reason, naming the object it
    is about when that is not ``label`` (a delta's base)."""
    if isinstance(exc, exceptions.ChunkIntegrityError):
        return exc.reason if exc.chunk == label else str(exc)
    if isinstance(exc, exceptions.VolumeGlanceError):
        return str(exc)
    return bookkeeping.describe(exc)


def _read_data(transfer, backup, percent, seed):
    """Check every chunk (``percent`` None) or a random subset of them;
    the report of what was checked and what was found damaged."""
    if backup.legacy:  # Karbor's layout: no chunk records, only its md5
        return _read_legacy(transfer, backup)
    records = backup.chunks
    report = {"deep": percent is None, "objects": _objects(backup),
              "chunks": len(records)}
    if percent is not None:
        seed = secrets.randbelow(SEED_LIMIT) if seed is None else seed
        records = [records[i] for i in choose(len(records), percent, seed,
                                              backup.volume_id)]
        report.update(percent=percent, seed=seed)
    missing = set(transfer.missing(backup))
    digest = datapath.StreamDigest(md5=False) if percent is None else None
    bad, checked, size = [], [], 0
    for record, data, error in transfer.check_each(
            [r for r in records if _label(r) not in missing]):
        checked.append(_label(record))
        if error is not None:
            bad.append({"kind": "chunk", "object": _label(record),
                        "reason": _reason(error, _label(record))})
            digest = None  # the whole image's hash means nothing now
            continue
        size += len(data)
        if digest is not None:
            digest.update(data)
    for record in records:
        if _label(record) in missing:
            checked.append(_label(record))
            bad.append({"kind": "chunk", "object": _label(record),
                        "reason": "is missing from the bank"})
            digest = None
    if digest is not None and digest.sha256 != backup.sha256:
        bad.append({"kind": "manifest", "object": manifest.METADATA_KEY,
                    "reason": f"the data's sha256 {digest.sha256} differs "
                    f"from the manifest's {backup.sha256}"})
    report.update(bytes=size, checked=sorted(checked, key=_order(records)),
                  bad=sorted(bad, key=_order(records, bad=True)))
    return report


def _label(record):
    """How a verify names a chunk record: where its bytes live."""
    if record.zero:
        return record.name
    return (record.object if record.source is None
            else f"{record.object} of checkpoint {record.source}")


def _order(records, bad=False):
    """Sort key: the chunks' order in the backup, the manifest last."""
    position = {_label(record): index for index, record in enumerate(records)}
    if bad:
        return lambda item: position.get(item["object"], len(position))
    return lambda label: position.get(label, len(position))


def _read_legacy(transfer, backup):
    """Deep check of a Karbor-layout backup: every object read, the whole
    image's md5 checked (it has no per-chunk hashes)."""
    names = list(backup.stored_objects())
    missing = set(transfer.missing(backup))
    bad = [{"kind": "chunk", "object": name,
            "reason": "is missing from the bank"}
           for name in names if name in missing]
    digest, size = datapath.StreamDigest(md5=True), 0
    if not bad:
        try:
            for data in transfer.read_legacy(backup):
                digest.update(data)
                size += len(data)
        except Exception as exc:  # noqa: BLE001 -- reported as damage
            name = getattr(exc, "chunk", None)
            bad.append({"kind": "manifest" if name is None else "chunk",
                        "object": name or manifest.METADATA_KEY,
                        "reason": _reason(exc, name)})
        else:
            if digest.md5 != backup.md5:
                bad.append({"kind": "manifest", "object": manifest.METADATA_KEY,
                            "reason": f"the data's md5 hash {digest.md5} differs "
                            f"from the manifest's {backup.md5}"})
    return {"deep": True, "objects": len(names), "chunks": len(names),
            "bytes": size, "checked": names, "bad": bad}

