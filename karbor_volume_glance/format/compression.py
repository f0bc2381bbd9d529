"""Chunk compression: none, zlib or Zstandard, and the choice per chunk.

:func:`compress` returns the algorithm actually used and the bytes to store:
a chunk that does not shrink is stored plain, and so is a chunk whose first
64 KiB does not shrink (random or already-compressed data: trying the whole
chunk would cost CPU and a second chunk-sized buffer for nothing).
:data:`ALGORITHMS` are the names the manifest's ``compression`` fields hold.

:func:`decompress` is bounded by the length the manifest records: it streams
and stops at ``bound + 1`` output bytes, whatever the stored bytes claim (a
zstd frame header's content size is not trusted: python-zstandard's one-shot
``decompress`` would allocate it whole, ignoring ``max_output_size``), so no
stored object, however crafted, makes a reader hold more than the chunk.
Every failure, ``MemoryError`` included, is a ChunkIntegrityError naming the
chunk.
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


class _TooLong(Exception):
    """The stream would give more than its bound."""


def _zstd_decompress(data, bound):
    """At most ``bound`` bytes from a zstd stream, read ``bound + 1`` at most.

    A stream reader never allocates more than asked, whatever the frame
    header declares; frames after the first count against the bound too.
    """
    reader = zstandard.ZstdDecompressor().stream_reader(
        memoryview(data), read_across_frames=True)  # read in place, no copy
    pieces, size = [], 0
    while size <= bound:
        piece = reader.read(bound + 1 - size)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    if size > bound:
        raise _TooLong()
    return b"".join(pieces)


def _zlib_decompress(data, bound):
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, bound + 1)
    if len(out) > bound:
        raise _TooLong()
    if not decompressor.eof:
        raise ValueError("the zlib stream is cut short")
    if decompressor.unused_data:
        raise ValueError(f"{len(decompressor.unused_data)} bytes follow the "
                         "zlib stream")
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

    ``length`` (the manifest's) bounds the output: a stream that would give
    more fails as soon as it passes it, so a corrupted or crafted stream
    cannot inflate into more memory than the chunk.
    """
    if algorithm == NONE:
        return stored
    decompressor = _DECOMPRESS.get(algorithm)
    if decompressor is None:
        raise exceptions.ChunkIntegrityError(
            chunk_name, f"unknown compression {algorithm!r}")
    try:
        return decompressor(stored, length)  # any bytes-like: no copy
    except _TooLong:
        raise exceptions.ChunkIntegrityError(
            chunk_name, f"decompresses ({algorithm}) past the {length} bytes "
            "the manifest records") from None
    except MemoryError:
        raise exceptions.ChunkIntegrityError(
            chunk_name, f"could not be decompressed ({algorithm}) within "
            f"memory (bound {length} bytes)") from None
    except (zlib.error, zstandard.ZstdError, ValueError, OverflowError) as exc:
        raise exceptions.ChunkIntegrityError(
            chunk_name, f"does not decompress with {algorithm}: {exc}") from exc
