"""The data path: chunking, hashing, compression and ordered parallel work.

Free of cloud clients and bank backends: it takes and gives bytes, iterables
of bytes and chunk records; the operations join it to Glance and the bank.
"""

from karbor_volume_glance.datapath.chunks import (
    BaseRef,
    ChunkRecord,
    check,
    check_stored,
    chunk_name,
    decode,
    encode,
    encode_delta,
    is_zero,
    sha256_of,
    zero_record,
)
from karbor_volume_glance.datapath.pipeline import ordered_map
from karbor_volume_glance.datapath.stream import IterableReader, StreamDigest, rechunk

__all__ = [
    "BaseRef",
    "ChunkRecord",
    "IterableReader",
    "StreamDigest",
    "check",
    "check_stored",
    "chunk_name",
    "decode",
    "encode",
    "encode_delta",
    "is_zero",
    "ordered_map",
    "rechunk",
    "sha256_of",
    "zero_record",
]
