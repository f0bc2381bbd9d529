"""The data path: cutting streams into chunks, hashing them, and ordered
parallel work.

Free of cloud clients and bank backends: it takes and gives bytes and
iterables of bytes; how a chunk is encoded, compressed and checked is the
format's (:mod:`karbor_volume_glance.format.chunks`), and the operations join
both to Glance and the bank.
"""

from karbor_volume_glance.datapath.buffers import BufferPool
from karbor_volume_glance.datapath.pipeline import ordered_map
from karbor_volume_glance.datapath.stream import (
    IterableReader,
    StreamDigest,
    buffer_of,
    glance_hash_algorithm,
    rechunk,
    room_of,
)

__all__ = [
    "BufferPool",
    "IterableReader",
    "StreamDigest",
    "buffer_of",
    "glance_hash_algorithm",
    "ordered_map",
    "rechunk",
    "room_of",
]
