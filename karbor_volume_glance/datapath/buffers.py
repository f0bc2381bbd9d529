"""Chunk-sized buffers handed back and reused instead of allocated anew.

A fresh 32 MiB buffer costs more than filling it: the kernel maps and zeroes
every page on first touch (glibc serves allocations that large with mmap and
unmaps them when freed). A restore of an encrypted backup opens each
uncompressed chunk into a buffer of a :class:`BufferPool`; once the chunk has
been sent on, its buffer goes back to the pool for a later chunk, so a
restore touches about ``parallelism + 2`` buffers however long the volume.

A buffer given back a few bytes shorter than it was taken (an encrypted
chunk opened over its stored bytes loses its tag: :meth:`~karbor_volume_glance.
format.sealing.ChunkSealer.open_in_place`) is grown back where it is: a
bytearray keeps its allocation when it shrinks a little.

A buffer is only taken back when nothing else holds it: :meth:`BufferPool.
give_back` checks the interpreter's reference count, so a consumer that keeps
the chunks it was given (a list of them, a memoryview) keeps them intact, at
the cost of a new buffer for a later chunk.

A protect assembles its chunks the same way (:func:`.rechunk`'s
``buffers``): each chunk is gathered from the download's pieces into a
buffer of a pool (an encrypted backup's with the room of a seal around it,
sealed there), given back once the chunk is stored.
"""

import collections
import sys

#: References to a bytearray that nobody else holds, seen by
#: :func:`sys.getrefcount` called on the caller's variable from
#: :meth:`BufferPool.give_back`: the caller's, the parameter's, the call's.
_UNSHARED = 3


#: The most bytes :meth:`BufferPool.take` grows an idle buffer by.
GROWTH = 64


def _grown_in_place(buffer, size):
    """Whether ``buffer``, a little shorter than ``size``, was grown to it
    within its allocation (CPython: no new memory, no copy)."""
    missing = size - len(buffer)
    if not 0 < missing <= GROWTH or size >= buffer.__alloc__():
        return False
    buffer.extend(bytes(missing))
    return True


class BufferPool:
    """At most ``keep`` idle bytearrays, handed out by :meth:`take`."""

    def __init__(self, keep):
        self.keep = keep
        self._idle = collections.deque()
        #: buffers allocated (not taken from the idle ones): for tests
        self.allocated = 0

    def take(self, size):
        """A bytearray of ``size`` bytes (its contents are undefined)."""
        while True:
            try:
                buffer = self._idle.pop()  # atomic: the pool is thread-safe
            except IndexError:
                self.allocated += 1
                return bytearray(size)
            if len(buffer) == size or _grown_in_place(buffer, size):
                return buffer
            # another size: let it go (the last chunk of a stream is shorter)

    def give_back(self, buffer):
        """Return ``buffer`` (anything a consumer was given) to the pool, if
        it is a bytearray nobody but the caller holds; True if it was."""
        if (type(buffer) is not bytearray
                or sys.getrefcount(buffer) > _UNSHARED
                or len(self._idle) >= self.keep):
            return False
        self._idle.append(buffer)
        return True
