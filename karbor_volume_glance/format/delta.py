"""Delta objects: the blocks of a chunk that differ from its base chunk.

An incremental backup need not store a 32 MiB chunk again when only a few of
its 4 KiB blocks changed since the base backup: :func:`changed_blocks` finds
them, :func:`size_of` says how big their delta object would be (to decide
whether it is worth storing), :func:`encode` builds it, and :func:`apply`
patches the base chunk's plain bytes with it, after checking the whole delta
against the manifest. Pure data: no cloud, no bank, no I/O. Every error from
a delta names the chunk.

A delta object, every number big-endian::

    MAGIC         8 bytes      b"KVGDELTA"
    block size    uint32
    count         uint32       how many blocks it holds
    chunk length  uint64       length of the whole chunk
    indices       count uint32 strictly ascending block indices
    data          the blocks' bytes in the order of the indices (the last
                  block of the chunk may be short)
"""

import operator
import struct

from karbor_volume_glance import exceptions

BLOCK_SIZE = 4096
MAGIC = b"KVGDELTA"

_HEADER = struct.Struct(">8sIIQ")  # magic, block size, count, chunk length
_INDEX_SIZE = struct.calcsize(">I")
_MAX_BLOCK_SIZE = 2**32 - 1
# changed_blocks compares this many blocks at once, and looks at the blocks
# one by one only in spans that differ
_SPAN_BLOCKS = 64
# memoryview compares item by item, not with memcmp: 8-byte items ("Q") make
# it ~7 times faster than bytes ("B") on 32 MiB
_WORD = 8


def changed_blocks(base, new, block_size=BLOCK_SIZE):
    """The ascending indices of the blocks in which ``new`` differs from ``base``.

    Block ``i`` is bytes ``[i * block_size, (i + 1) * block_size)``; the last
    one may be short. Both must be bytes-like of the same length (ValueError
    otherwise); neither is copied.
    """
    _check_block_size(block_size)
    base, new = _byte_view(base), _byte_view(new)
    if len(base) != len(new):
        raise ValueError(f"base is {len(base)} bytes and new {len(new)}: "
                         "changed blocks need two chunks of the same length")
    same = _comparer(base, new, block_size)
    length = len(base)
    span = _SPAN_BLOCKS * block_size
    changed = []
    for span_start in range(0, length, span):
        span_end = min(span_start + span, length)
        if same(span_start, span_end):
            continue
        for start in range(span_start, span_end, block_size):
            if not same(start, min(start + block_size, length)):
                changed.append(start // block_size)
    return changed


def _comparer(base, new, block_size):
    """``same(start, end)``: whether base and new agree on bytes [start, end).

    ``start`` is a block's start and ``end`` a block's start or the length.
    When blocks are whole words, bytes up to the last whole word are compared
    as words and the few after it as bytes.
    """
    word = _WORD if block_size % _WORD == 0 else 1
    words_end = len(base) - len(base) % word
    item = "Q" if word == _WORD else "B"
    base_words = base[:words_end].cast(item)
    new_words = new[:words_end].cast(item)

    def same(start, end):
        middle = min(end, words_end)
        first, last = start // word, middle // word
        if base_words[first:last] != new_words[first:last]:
            return False
        return base[middle:end] == new[middle:end]

    return same


def encode(new, blocks, block_size=BLOCK_SIZE):
    """The delta object holding ``blocks`` (ascending block indices) of ``new``.

    ValueError if ``blocks`` are not ascending, unique and within ``new``.
    """
    _check_block_size(block_size)
    new = _byte_view(new)
    blocks = list(blocks)
    _check_blocks(blocks, len(new), block_size)
    header = _HEADER.pack(MAGIC, block_size, len(blocks), len(new))
    indices = struct.pack(f">{len(blocks)}I", *blocks)
    data = (new[slice(*_bounds(index, len(new), block_size))] for index in blocks)
    return b"".join([header, indices, *data])


def size_of(length, blocks, block_size=BLOCK_SIZE):
    """The length of ``encode(new, blocks, block_size)`` for a ``length``-byte
    ``new``, without building it."""
    _check_block_size(block_size)
    blocks = list(blocks)
    _check_blocks(blocks, length, block_size)
    return (_HEADER.size + _INDEX_SIZE * len(blocks)
            + _data_size(blocks, length, block_size))


def max_size(length, block_size=BLOCK_SIZE):
    """The largest delta object of a ``length``-byte chunk: every block in it."""
    return _HEADER.size + _INDEX_SIZE * _block_count(length, block_size) + length


def apply(name, base, delta, length, block_size=BLOCK_SIZE):
    """The plain bytes of chunk ``name``: ``base`` patched with ``delta``.

    ``length`` is the chunk length the manifest records. The delta is checked
    whole (header, indices, data size) before anything is patched;
    ChunkIntegrityError names the chunk and says what is wrong. ``base`` is
    not modified.
    """
    _check_block_size(block_size)
    base, delta = _byte_view(base), _byte_view(delta)
    delta_block_size, count, delta_length = _read_header(name, delta)
    if delta_block_size != block_size:
        raise exceptions.ChunkIntegrityError(
            name, f"delta has {delta_block_size}-byte blocks, expected {block_size}")
    if delta_length != length:
        raise exceptions.ChunkIntegrityError(
            name, f"delta is for a {delta_length}-byte chunk, "
            f"the manifest says {length}")
    if len(base) != length:
        raise exceptions.ChunkIntegrityError(
            name, f"base chunk is {len(base)} bytes, the manifest says {length}")
    indices = _read_indices(name, delta, count, length, block_size)
    offset = _HEADER.size + _INDEX_SIZE * count
    _check_data_size(name, len(delta) - offset,
                     _data_size(indices, length, block_size), count)
    # one copy straight into the result: base spans and delta blocks joined
    # (a bytearray patched in place would need a second copy to be bytes)
    pieces = []
    kept = 0  # base is taken up to here
    for index in indices:
        start, end = _bounds(index, length, block_size)
        pieces += [base[kept:start], delta[offset:offset + end - start]]
        offset += end - start
        kept = end
    pieces.append(base[kept:])
    return b"".join(pieces)


def _read_header(name, delta):
    """``(block size, count, chunk length)`` from a delta's header."""
    if len(delta) < _HEADER.size:
        raise exceptions.ChunkIntegrityError(
            name, f"delta is {len(delta)} bytes, shorter than its "
            f"{_HEADER.size}-byte header")
    magic, block_size, count, length = _HEADER.unpack_from(delta)
    if magic != MAGIC:
        raise exceptions.ChunkIntegrityError(
            name, f"delta does not start with {MAGIC!r} but with {magic!r}")
    return block_size, count, length


def _read_indices(name, delta, count, length, block_size):
    table_end = _HEADER.size + _INDEX_SIZE * count
    if len(delta) < table_end:
        raise exceptions.ChunkIntegrityError(
            name, f"delta index table is cut short: {count} indices need "
            f"{table_end - _HEADER.size} bytes, "
            f"{len(delta) - _HEADER.size} are there")
    indices = struct.unpack_from(f">{count}I", delta, _HEADER.size)
    problem = _blocks_problem(indices, length, block_size)
    if problem:
        raise exceptions.ChunkIntegrityError(name, f"delta {problem}")
    return indices


def _check_data_size(name, actual, expected, count):
    if actual < expected:
        raise exceptions.ChunkIntegrityError(
            name, f"delta data is truncated: {actual} bytes, "
            f"its {count} blocks need {expected}")
    if actual > expected:
        raise exceptions.ChunkIntegrityError(
            name, f"delta data has {actual - expected} trailing bytes: "
            f"{actual} bytes, its {count} blocks need {expected}")


def _check_blocks(blocks, length, block_size):
    """Raise ValueError unless ``blocks`` are ascending, unique and in range."""
    problem = _blocks_problem(blocks, length, block_size)
    if problem:
        raise ValueError(problem)


def _blocks_problem(blocks, length, block_size):
    """What is wrong with ``blocks`` as the indices of a delta, or None."""
    count = _block_count(length, block_size)
    previous = None
    for index in blocks:
        index = operator.index(index)
        if not 0 <= index < count:
            return (f"block index {index} is out of range: a {length}-byte "
                    f"chunk has {count} blocks of {block_size} bytes")
        if previous is not None and index <= previous:
            return (f"block indices are not strictly ascending: {index} "
                    f"after {previous}")
        previous = index
    return None


def _data_size(blocks, length, block_size):
    """How many bytes the (checked, ascending) ``blocks`` hold."""
    size = len(blocks) * block_size
    if blocks and blocks[-1] == _block_count(length, block_size) - 1:
        size -= _block_count(length, block_size) * block_size - length
    return size


def _block_count(length, block_size):
    return -(-length // block_size)


def _bounds(index, length, block_size):
    """``(start, end)`` of block ``index`` in a ``length``-byte chunk."""
    start = index * block_size
    return start, min(start + block_size, length)


def _check_block_size(block_size):
    if not 0 < block_size <= _MAX_BLOCK_SIZE:
        raise ValueError(f"block size {block_size} is not between 1 and "
                         f"{_MAX_BLOCK_SIZE}")


def _byte_view(data):
    """A flat view of the bytes of ``data`` (any bytes-like), not a copy."""
    return memoryview(data).cast("B")
