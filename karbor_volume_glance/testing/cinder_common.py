"""Lookups, errors and argument checks shared by the fake Cinder managers.

Errors are the real :mod:`cinderclient.exceptions` classes with the status
code and the wording Cinder's API uses.
"""

from cinderclient import base as cinder_base
from cinderclient import exceptions as cinder_exceptions
from oslo_utils import strutils

# statuses Cinder deletes a volume from without force (cinder.volume.api)
VOLUME_DELETABLE_STATUSES = frozenset(
    {"available", "error", "error_restoring", "error_extending", "error_managing"}
)
SNAPSHOT_DELETABLE_STATUSES = frozenset({"available", "error"})


def not_found(kind, resource_id):
    return cinder_exceptions.NotFound(404, f"{kind} {resource_id} could not be found.")


def bad_request(message):
    return cinder_exceptions.BadRequest(400, message)


def find_volume(state, volume):
    volume_id = cinder_base.getid(volume)
    record = state.volumes.get(volume_id)
    if record is None:
        raise not_found("Volume", volume_id)
    return record


def find_snapshot(state, snapshot):
    snapshot_id = cinder_base.getid(snapshot)
    record = state.snapshots.get(snapshot_id)
    if record is None:
        raise not_found("Snapshot", snapshot_id)
    return record


def strict_bool(value, field):
    """Cinder's reading of a boolean argument: 400 for anything not boolean."""
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise bad_request(f"Invalid value for {field}: {value!r}") from None


def remove_when_entered(records, record_id):
    """An ``on_enter`` that takes a resource out of the cloud (deletion done)."""

    def remove():
        records.pop(record_id, None)

    return remove


def failure_status_of(status):
    """What a resource in ``status`` ends in when its work fails."""
    return "error_deleting" if status == "deleting" else "error"


def page(records, marker, limit):
    """The records after ``marker`` (an id), at most ``limit`` of them."""
    ids = [r.id for r in records]
    if marker is not None and marker not in ids:
        raise bad_request(f"marker [{marker}] not found")
    start = ids.index(marker) + 1 if marker is not None else 0
    chosen = records[start:]
    return chosen if limit is None else chosen[: int(limit)]
