"""Ids and device names the fake cloud hands out."""

import uuid

FIRST_DATA_DEVICE = "/dev/vdb"


def new_id():
    return str(uuid.uuid4())


def next_free_device(used):
    """The first of /dev/vdb, /dev/vdc, ... not in ``used`` (vda is the root)."""
    prefix = FIRST_DATA_DEVICE[:-1]
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if prefix + letter not in used:
            return prefix + letter
    raise ValueError("no free device name left on the server")
