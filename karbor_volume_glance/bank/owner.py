"""A bank's owner id: a small JSON object that the bank's first opener
creates and every later one reads, the same for every backend.

The object is ``{"owner_id": "<uuid>", "format": 1}``. An object store keeps
it beside the bank's objects as :data:`OWNER_OBJECT` under the bank's
prefix (``~`` is in no bank key, so it is never listed); banks written before
this name was shared keep theirs (:data:`LEGACY_OWNER_OBJECTS`), which is
read first when it exists. The file bank keeps ``bank.json`` in its root,
outside its objects.

Creation is conditional where the backend can (first creator wins, the
others read what it wrote), so racing openers agree on one id.
"""

import json
import uuid

from karbor_volume_glance.exceptions import BankError

FORMAT = 1
#: The owner object of a new bank in an object store, under its prefix.
OWNER_OBJECT = "~bank.json"
#: Names earlier versions gave it (the Swift bank's), still read.
LEGACY_OWNER_OBJECTS = ("~kvg-bank.json",)


def new_record():
    """The bytes of a new owner object, with a fresh owner id."""
    record = json.dumps({"owner_id": str(uuid.uuid4()), "format": FORMAT})
    return (record + "\n").encode("utf-8")


def parse(data, where):
    """The owner id in ``data`` (the bytes of an owner object at ``where``);
    BankError saying what is wrong if it is damaged or of another format."""
    damaged = f"{where} is damaged"
    try:
        record = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, TypeError, RecursionError) as exc:
        raise BankError(f"{damaged}: {exc}") from exc
    if not isinstance(record, dict):
        raise BankError(f"{damaged}: not a JSON object")
    if record.get("format") != FORMAT:
        raise BankError(f"{where} has format {record.get('format')!r}; this "
                        f"version reads only format {FORMAT} (damaged, or "
                        "written by another version)")
    owner_id = record.get("owner_id")
    if not isinstance(owner_id, str) or not owner_id:
        raise BankError(f"{damaged}: no owner_id")
    return owner_id


def read_or_create(read, create, where, names=None):
    """The bank's owner id, creating its object if there is none.

    ``read(name)`` returns the object's bytes or None if there is none;
    ``create(name, data)`` stores ``data`` unless the object exists (a lost
    race is no error). ``names`` are read in order (default: the legacy names,
    then :data:`OWNER_OBJECT`); a new object gets the last of them.
    ``where(name)`` describes an object for messages.
    """
    names = tuple(names or (*LEGACY_OWNER_OBJECTS, OWNER_OBJECT))
    for name in names:
        data = read(name)
        if data is not None:
            return parse(data, where(name))
    create(names[-1], new_record())
    data = read(names[-1])
    if data is None:
        raise BankError(f"could not read {where(names[-1])} right after "
                        "creating it")
    return parse(data, where(names[-1]))
