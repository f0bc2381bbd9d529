"""Chunk compression: none, zlib or Zstandard, and the choice per chunk.

:func:`compress` returns the algorithm actually used and the bytes to store:
a chunk that does not shrink is stored plain, and so is a chunk whose first
64 KiB does not shrink (random or already-compressed data: trying the whole
chunk would cost CPU and a second chunk-sized buffer for nothing).
:data:`ALGORITHMS` are the names the manifest's ``compression`` fields hold;
:func:`decompress` is bounded by the chunk's recorded length.
"""

import zlib

import zstandard

from karbor_volume_glance import exceptions

NONE, ZLIB, ZSTD = "none", "zlib", "zstd"
ALGORITHMS = (NONE, ZLIB, ZSTD)
ZLIB_LEVEL = 6
ZSTD_LEVEL = 3
PROBE_SIZE = 65536
#: A probe must shrink by this fraction for the whole chunk to be compressed.
PROBE_GAIN = 0.03


def _zstd_compress(data):
    # a compressor per call: ZstdCompressor objects are not thread-safe
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)


def _zstd_decompress(data, max_size):
    return zstandard.ZstdDecompressor().decompress(data, max_output_size=max_size)


def _zlib_decompress(data, max_size):
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, max_size)
    if decompressor.unconsumed_tail or not decompressor.eof:
        raise ValueError(f"zlib stream is longer than {max_size} bytes or cut short")
    return out


_COMPRESS = {ZLIB: lambda data: zlib.compress(data, ZLIB_LEVEL),
             ZSTD: _zstd_compress}
_DECOMPRESS = {ZLIB: _zlib_decompress, ZSTD: _zstd_decompress}


def compress(data, algorithm):
    """``(algorithm used, stored bytes)`` for ``data``: plain unless it shrinks."""
    if algorithm == NONE or not data:
        return NONE, data
    squeeze = _COMPRESS[algorithm]
    if len(data) > PROBE_SIZE:
        probe = data[:PROBE_SIZE]
        if len(squeeze(probe)) > PROBE_SIZE * (1 - PROBE_GAIN):
            return NONE, data
    packed = squeeze(data)
    if len(packed) >= len(data):
        return NONE, data
    return algorithm, packed


def decompress(chunk_name, algorithm, stored, length):
    """The plain bytes of a stored chunk; ChunkIntegrityError if it is damaged.

    ``length`` bounds the output, so a corrupted stream cannot inflate into
    unbounded memory.
    """
    if algorithm == NONE:
        return stored
    try:
        return _DECOMPRESS[algorithm](bytes(stored), length)
    except KeyError:
        raise exceptions.ChunkIntegrityError(
            chunk_name, f"unknown compression {algorithm!r}") from None
    except (zlib.error, zstandard.ZstdError, ValueError) as exc:
        raise exceptions.ChunkIntegrityError(
            chunk_name, f"does not decompress with {algorithm}: {exc}") from exc
