"""Streams of bytes: cutting them into chunks, hashing them, reading them.

:func:`rechunk` cuts Glance's download stream into fixed-size chunks holding
at most one chunk plus one incoming piece in memory; :class:`StreamDigest`
hashes a whole stream (sha256 and, in the same pass, the algorithm Glance
checks with: :func:`glance_hash_algorithm`); :class:`IterableReader` turns
an iterable of bytes into the file object glanceclient's upload reads from.
"""

import ctypes
import functools
import hashlib
import io

_EMPTY = memoryview(b"")


@functools.lru_cache(maxsize=4)
def zeros(length):
    """``length`` zero bytes, made once per length and shared (bytes cannot
    change). Never written, its pages stay the kernel's zero page: no
    resident memory."""
    return bytes(length)


def _is_zero(piece):
    # one memcmp, over at the first non-zero byte; a memoryview (a piece
    # cut by _split) is compared as the prefix of as many zeros, since ==
    # would compare it item by item
    if isinstance(piece, memoryview):
        return zeros(piece.nbytes).startswith(piece)
    return isinstance(piece, (bytes, bytearray)) and piece == zeros(len(piece))


def rechunk(pieces, size, room=None, buffers=None, whole=False):
    """Yield the bytes of ``pieces`` in chunks of exactly ``size`` bytes.

    The last chunk may be shorter; no empty chunk is ever yielded, so an empty
    stream yields nothing. ``None`` and empty pieces are skipped. The pieces
    of each chunk (or their parts, views of them) are joined once: each byte
    is copied once at most, and a piece that is exactly a chunk's bytes not
    at all. A chunk whose pieces are all zeros (most of a sparse volume) is
    not joined: it is :func:`zeros`, the same object every time, which costs
    neither a copy nor a fresh allocation of ``size`` bytes (its page faults
    cost more than the copy).

    ``room``, a pair ``(head, tail)`` of byte counts, asks for chunks that
    can be sealed where they are (:func:`room_of`): each chunk that is not
    all zeros is then ``memoryview(buffer)[head:head + n]`` of a bytearray
    ``buffer`` of ``head + n + tail`` bytes of its own, assembled in one
    copy, which the consumer may write over once done reading the chunk.
    Without it, such a chunk is bytes, unless ``buffers`` is given.

    ``buffers``, a :class:`~karbor_volume_glance.datapath.BufferPool`,
    makes a whole chunk a bytearray taken from the pool (with ``room``: the
    buffer the chunk is a view of), filled in one copy, instead of a fresh
    allocation: a consumer that gives each chunk's buffer back once done
    (:meth:`BufferPool.give_back`; :func:`buffer_of`) spares the page
    faults of a new chunk-sized allocation, which cost more than the copy
    itself, and the memory of chunk-sized allocations freed and made again.
    No chunk is held here while the consumer has it.

    ``whole`` (with ``buffers``, without ``room``) hands on a piece that is
    a whole chunk by itself, a bytearray of exactly ``size`` bytes starting
    where a chunk does, as that chunk, uncopied: for a stream whose pieces
    are buffers it writes again only once nothing else refers to them (the
    parallel download's blocks, :func:`karbor_volume_glance.cloud.download.
    parallel_download`); the consumer gives it back to ``buffers`` in vain
    (its stream holds it) and lets go of it as of any chunk.
    """
    if size <= 0:
        raise ValueError(f"chunk size must be positive, got {size}")
    if room is None:
        def assemble(parts, length):
            if buffers is not None and length == size:
                if (whole and len(parts) == 1
                        and type(parts[0]) is bytearray):
                    return parts[0]  # a chunk already: the stream's buffer
                return _pooled(parts, length, buffers)
            return b"".join(parts)
    else:
        def assemble(parts, length):
            if buffers is not None and length == size:
                return _pooled_with_room(parts, length, *room, buffers)
            return _with_room(parts, length, *room)
    gathered, have, zero = [], 0, True
    for piece in pieces:
        if not piece:
            continue
        gathered.append(piece)
        have += len(piece)
        zero = zero and _is_zero(piece)
        while have >= size:
            if zero:
                yield zeros(size)
                have -= size
                gathered = [zeros(have)] if have else []
                continue
            taken, gathered = _split(gathered, size)
            have -= size
            # in a list, popped as it is handed out: this generator holds
            # neither the chunk nor its pieces while the consumer has it
            chunk = [assemble(taken, size)]
            del taken
            yield chunk.pop()
            zero = not have or all(_is_zero(part) for part in gathered)
    if have:
        yield zeros(have) if zero else assemble(gathered, have)


def _split(gathered, size):
    """The first ``size`` bytes of the pieces ``gathered`` (which hold at
    least that many) and the rest, as lists of pieces (views, no copy)."""
    taken, need = [], size
    for position, piece in enumerate(gathered):
        if len(piece) <= need:
            taken.append(piece)
            need -= len(piece)
            if not need:
                return taken, gathered[position + 1:]
            continue
        view = memoryview(piece).cast("B")
        taken.append(view[:need])
        return taken, [view[need:], *gathered[position + 1:]]
    raise ValueError(f"{size} bytes asked of pieces holding fewer")


def _copy_into(view, at, pieces):
    """Copy ``pieces`` into ``view`` (bytes) one after another from ``at``."""
    for piece in pieces:
        with memoryview(piece) as part:
            view[at:at + part.nbytes] = part.cast("B")
            at += part.nbytes


def _pooled(pieces, size, buffers):
    """The ``size`` bytes of ``pieces`` in one object: a bytearray of
    ``buffers``, or ``bytes`` when a piece is neither bytes, bytearray nor
    a contiguous memoryview of bytes (as :func:`_split` cuts them)."""
    if not all(_plain(piece) for piece in pieces):
        return b"".join(pieces)
    buffer = buffers.take(size)
    with memoryview(buffer) as view:
        _copy_into(view, 0, pieces)
    return buffer


def _plain(piece):
    """Whether ``piece`` is bytes in one block of memory, one per item."""
    if type(piece) in (bytes, bytearray):
        return True
    return (type(piece) is memoryview and piece.itemsize == 1
            and piece.c_contiguous)


def _pooled_with_room(pieces, length, head, tail, buffers):
    """:func:`_with_room` in a buffer of ``buffers``."""
    buffer = buffers.take(head + length + tail)
    with memoryview(buffer) as view:
        _copy_into(view, head, pieces)
        return view[head:head + length]


def buffer_of(chunk, room=None):
    """The pool's buffer of ``chunk`` (as :func:`rechunk` gave it with
    ``room`` and ``buffers``), to give back: ``chunk`` itself without
    ``room``; with it, the bytearray ``chunk`` is a view of, ``chunk``
    released first (None if it cannot be: something still reads it)."""
    if room is None:
        return chunk
    buffer = room_of(chunk, *room)
    if buffer is None:
        return None
    try:
        chunk.release()
    except BufferError:  # exported still: not the pool's to take back
        return None
    return buffer


def _with_room(pieces, length, head, tail):
    buffer = bytearray().join([bytes(head), *pieces, bytes(tail)])
    return memoryview(buffer)[head:head + length]


def room_of(chunk, head, tail):
    """The bytearray ``chunk`` is ``[head:head + len(chunk)]`` of, with
    exactly ``tail`` bytes after it (a chunk :func:`rechunk` gave with
    ``room=(head, tail)``); None for anything else."""
    if not isinstance(chunk, memoryview):
        return None
    buffer = chunk.obj
    if (type(buffer) is not bytearray or chunk.readonly
            or not chunk.c_contiguous or chunk.itemsize != 1
            or len(buffer) != head + chunk.nbytes + tail):
        return None
    if not chunk.nbytes:
        return None
    whole = memoryview(buffer)
    try:  # the same memory at the same place, or no room
        start = ctypes.addressof(ctypes.c_char.from_buffer(whole))
        at = ctypes.addressof(ctypes.c_char.from_buffer(chunk))
    finally:
        whole.release()
    return buffer if at == start + head else None


class StreamDigest:
    """Counts and hashes a whole stream: sha256 (ours) and Glance's checksum.

    ``algorithm`` names the second hash, computed in the same pass: the
    ``os_hash_algo`` Glance reports (sha512 by default, any :mod:`hashlib`
    algorithm Glance may be configured with), ``"md5"`` (Glance's deprecated
    ``checksum``, for a Glance without os_hash) or None where nothing needs
    one: ``md5=False`` without an ``algorithm`` (md5 and sha512 cost more CPU
    than the sha256 on machines with SHA extensions). Without either, md5.
    """

    def __init__(self, md5=True, algorithm=None):
        self.size = 0
        self._sha256 = hashlib.sha256()
        self.algorithm = algorithm or ("md5" if md5 else None)
        self._second = None
        if self.algorithm == "md5":
            self._second = hashlib.md5(usedforsecurity=False)
        elif self.algorithm is not None:
            self._second = hashlib.new(self.algorithm)

    def update(self, data):
        for update in self.updaters():
            update(data)

    def updaters(self):
        """The parts of :meth:`update`, each to be fed every piece in order;
        they may run in threads of their own (hashlib releases the GIL), so
        that the two hashes cost the time of the slower, not of both."""
        if self._second is None:
            return [self._count_and_sha256]
        return [self._count_and_sha256, self._second.update]

    def _count_and_sha256(self, data):
        self.size += len(data)
        self._sha256.update(data)

    @property
    def sha256(self):
        return self._sha256.hexdigest()

    @property
    def value(self):
        """The hex digest of :attr:`algorithm`; None without one."""
        return self._second.hexdigest() if self._second is not None else None

    @property
    def md5(self):
        return self.value if self.algorithm == "md5" else None


def glance_hash_algorithm(image_info):
    """The algorithm to check Glance's data with: its ``os_hash_algo`` when it
    gives one we can compute, else ``"md5"`` (its ``checksum``)."""
    algorithm = image_info.get("os_hash_algo")
    if algorithm and image_info.get("os_hash_value"):
        try:
            hashlib.new(algorithm).hexdigest()
        except (ValueError, TypeError):  # unknown, or a shake (no fixed length)
            return "md5"
        return algorithm
    return "md5"


class IterableReader(io.RawIOBase):
    """A read-only file object over an iterable of bytes.

    glanceclient's upload wants something with ``read``; this streams the
    iterable one piece at a time. An exception raised by the iterable is kept
    in :attr:`error` before it propagates, so that a caller whose HTTP library
    wrapped it can still report the original (e.g. which chunk was bad).
    """

    def __init__(self, iterable):
        super().__init__()
        self._iterator = iter(iterable)
        self._pending = _EMPTY
        self.error = None
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        """Fill ``buffer`` from the iterable as far as it goes; 0 at the end."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending:
                try:
                    self._pending = memoryview(next(self._iterator)).cast("B")
                except StopIteration:
                    break
                except Exception as exc:
                    self.error = exc
                    raise
                continue
            count = min(len(view) - filled, len(self._pending))
            view[filled:filled + count] = self._pending[:count]
            # a view, no copy; none once used up, so that nothing here
            # holds a chunk already sent (a BufferPool may reuse its buffer)
            self._pending = (self._pending[count:] if count < len(self._pending)
                             else _EMPTY)
            filled += count
        self.bytes_read += filled
        return filled
