"""The body of an image download as glanceclient's ``images.data`` hands it out.

An :class:`glanceclient.common.utils.IterableWithLength` over pieces of the
image's bytes, checked at the end against the image's hash when the caller
asks for it (the same integrity iterators glanceclient uses), with the
``drop`` and ``corrupt`` faults applied to the bytes "on the wire".
"""

import hashlib

import requests
from glanceclient.common import utils as glance_utils

from karbor_volume_glance.testing import faults

DOWNLOAD_CHUNK_SIZE = 65536


class DroppedConnection(requests.exceptions.ChunkedEncodingError, ConnectionResetError):
    """The connection went away in the middle of an image download.

    It is what the real client raises then (requests' ChunkedEncodingError,
    an OSError) and also a builtin :class:`ConnectionError`.
    """


def download_body(image, fault, do_checksum, allow_md5_fallback):
    """The iterable ``images.data`` returns for an image that has data."""
    data = image.data
    pieces = pieces_on_the_wire(data, fault)
    if do_checksum:
        pieces = _verified(pieces, image, allow_md5_fallback)
    return glance_utils.IterableWithLength(pieces, len(data))


def pieces_on_the_wire(data, fault):
    """``data`` in download-sized pieces, with a ``drop``/``corrupt`` fault applied."""
    kind = fault.kind if fault is not None else None
    if kind == faults.CORRUPT and data:
        flipped = bytearray(data)
        flipped[min(fault.at_byte, len(data) - 1)] ^= 0xFF
        data = bytes(flipped)
    end = min(fault.after_bytes, len(data)) if kind == faults.DROP else len(data)
    for start in range(0, end, DOWNLOAD_CHUNK_SIZE):
        yield data[start : min(start + DOWNLOAD_CHUNK_SIZE, end)]
    if kind == faults.DROP:
        raise DroppedConnection(
            f"Connection broken: the image download stopped after {end} bytes"
        )


def _verified(pieces, image, allow_md5_fallback):
    """Check the stream as glanceclient does: multihash first, else md5."""
    if image.os_hash_value is not None:
        try:
            hasher = hashlib.new(str(image.os_hash_algo))
        except ValueError as error:
            if not (
                str(error).startswith("unsupported hash type") and allow_md5_fallback
            ):
                raise
        else:
            return glance_utils.serious_integrity_iter(
                pieces, hasher, image.os_hash_value
            )
    if image.checksum is not None:
        return glance_utils.integrity_iter(pieces, image.checksum)
    return pieces
