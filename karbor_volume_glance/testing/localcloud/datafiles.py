"""The bytes of volumes, snapshots and images: sparse files under a directory.

``<data_dir>/volumes/<id>``, ``<data_dir>/snapshots/<id>`` and
``<data_dir>/images/<id>``. A volume's file is ``size * gib`` bytes long from
the start, a hole until written. Copies go piece by piece, skip the source's
holes (``SEEK_DATA``/``SEEK_HOLE`` where the file system has them) and never
write a block of zeros (:data:`BLOCK`), so what was sparse stays sparse.

Glance's two checksums of a copy or an upload (md5 and ``os_hash_value``)
are computed by :class:`Hashing`: each hash in a thread of its own, one
piece behind the copy (hashlib releases the GIL on large buffers), so on
two cores they cost the time of the slower hash, not of both. The digests
are the same as one thread's.

An image's download reads its file through :func:`mapped_pieces`: each piece
is a read-only view of the file mapped in memory, so the HTTP door sends
straight from the page cache instead of copying each piece out first (as a
C-speed Glance server's ``sendfile`` would). That is safe because an image's
file never changes once the image is active (its bytes are written once,
before; deleting it unlinks the file, which a mapping outlives).
"""

import concurrent.futures
import contextlib
import errno
import hashlib
import io
import mmap
import os

PIECE = 1024 * 1024
_ZEROS = bytes(PIECE)


def new_hashers(algorithm="sha512"):
    """Glance's checksums: md5 (``checksum``) and its ``hashing_algorithm``
    (``os_hash_value``; sha512 unless configured otherwise)."""
    return hashlib.md5(usedforsecurity=False), hashlib.new(algorithm)


#: Zeros are looked for (and skipped) in blocks of this size within a piece.
BLOCK = 64 * 1024
_ZERO_BLOCK = bytes(BLOCK)


def _is_zero(block):
    """Whether ``block`` (bytes, at most :data:`BLOCK` long) is all zeros:
    one ``memcmp`` (comparing a memoryview instead goes byte by byte)."""
    return block == (_ZERO_BLOCK if len(block) == BLOCK else bytes(len(block)))


def _write_sparse(fd, piece, offset):
    """``pwrite`` the blocks of ``piece`` that are not all zeros."""
    piece = bytes(piece) if not isinstance(piece, bytes) else piece
    if len(piece) == PIECE and piece == _ZEROS:
        return  # a whole piece of zeros: one comparison
    view = memoryview(piece)
    start = None  # where the current run of data blocks began
    for position in range(0, len(view), BLOCK):
        zero = _is_zero(piece[position:position + BLOCK])
        if zero and start is not None:
            os.pwrite(fd, view[start:position], offset + start)
            start = None
        elif not zero and start is None:
            start = position
    if start is not None:
        os.pwrite(fd, view[start:], offset + start)


def _hash_zeros(hashing, count):
    zeros = memoryview(_ZEROS)
    while count > 0 and hashing:
        step = min(count, PIECE)
        hashing.update(zeros[:step])
        count -= step


class Hashing:
    """Feeds every piece to each of ``hashers``, each hasher in a thread of
    its own, one piece behind the caller; :meth:`wait` (or leaving the
    ``with`` block) waits for the last piece. The pieces must not change
    after they are given (bytes, or views of constant bytes)."""

    def __init__(self, hashers):
        self.hashers = list(hashers)
        self._pending = []
        self._executor = None
        if len(self.hashers) > 1:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                len(self.hashers), thread_name_prefix="localcloud-hash")

    def __bool__(self):
        return bool(self.hashers)

    def update(self, piece):
        if self._executor is None:
            for hasher in self.hashers:
                hasher.update(piece)
            return
        self.wait()
        self._pending = [self._executor.submit(hasher.update, piece)
                         for hasher in self.hashers]

    def wait(self):
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)


def _extents(fd, length):
    """``(start, stop, has_data)`` runs covering ``[0, length)`` of ``fd``."""
    position = 0
    while position < length:
        try:
            data = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # no SEEK_DATA here: all of it is data
                yield position, length, True
                return
            data = length  # only a hole is left
        data = min(data, length)
        if data > position:
            yield position, data, False
        if data >= length:
            return
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), length)
        yield data, hole, True
        position = hole


class DataFiles:
    """Where each resource's bytes live."""

    KINDS = ("volumes", "snapshots", "images")

    def __init__(self, root):
        self.root = os.path.abspath(os.fspath(root))
        for kind in self.KINDS:
            os.makedirs(os.path.join(self.root, kind), exist_ok=True)

    def volume_path(self, volume_id):
        return self.path("volumes", volume_id)

    def snapshot_path(self, snapshot_id):
        return self.path("snapshots", snapshot_id)

    def image_path(self, image_id):
        return self.path("images", image_id)

    def path(self, kind, record_id):
        return os.path.join(self.root, kind, record_id)

    def create(self, kind, record_id, size):
        """A fresh ``size`` bytes long hole for a resource."""
        with open(self.path(kind, record_id), "wb") as stream:
            stream.truncate(size)

    def open(self, kind, record_id):
        """The resource's bytes, to copy or read (close it)."""
        return open(self.path(kind, record_id), "rb")

    def copy(self, source, kind, record_id, length, size, check=None,
             hashers=()):
        """``copy_sparse`` of ``source`` into a resource; the bytes copied."""
        return copy_sparse(source, self.path(kind, record_id), length, size,
                           check, hashers)

    def write_stream(self, kind, record_id, read, check=None,
                     algorithm="sha512"):
        return write_stream(read, self.path(kind, record_id), check,
                            algorithm=algorithm)

    @staticmethod
    def read_pieces(source, offset, length):
        """An active image's bytes (a file that no longer changes)."""
        return mapped_pieces(source, offset, length)

    def remove(self, kind, record_id):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(kind, record_id))


class MemoryStore:
    """The same interface as :class:`DataFiles`, holding bytes in memory.

    A resource holds what was written to it (no padding to its size), as
    the in-process ``FakeCloud`` has always shown it.
    """

    def __init__(self):
        self.blobs = {}  # (kind, id) -> bytes

    def get(self, kind, record_id):
        return self.blobs.get((kind, record_id))

    def put(self, kind, record_id, data):
        self.blobs[(kind, record_id)] = bytes(data)

    def create(self, kind, record_id, size):
        self.blobs[(kind, record_id)] = b""

    def open(self, kind, record_id):
        return io.BytesIO(self.blobs.get((kind, record_id), b""))

    def copy(self, source, kind, record_id, length, size, check=None,
             hashers=()):
        data = source.getvalue()[:length]
        if check is not None:
            check()
        for hasher in hashers:
            hasher.update(data)
        self.blobs[(kind, record_id)] = data
        return len(data)

    def write_stream(self, kind, record_id, read, check=None, piece=PIECE,
                     algorithm="sha512"):
        pieces = []
        result = read_hashed(read, lambda chunk, _offset: pieces.append(chunk),
                             check, piece, algorithm)
        self.blobs[(kind, record_id)] = b"".join(pieces)
        return result

    @staticmethod
    def read_pieces(source, offset, length, piece=PIECE):
        try:
            data = memoryview(source.getvalue())[offset:offset + length]
            for start in range(0, len(data), piece):
                yield bytes(data[start:start + piece])
        finally:
            source.close()

    def remove(self, kind, record_id):
        self.blobs.pop((kind, record_id), None)


def copy_sparse(source, dest_path, length, dest_size, check=None, hashers=()):
    """Copy the first ``length`` bytes of the open file ``source``.

    ``dest_path`` becomes a fresh sparse file of ``dest_size`` bytes (at
    least ``length``) holding them, then zeros. ``check()`` runs before each
    piece (it raises to abandon the copy); ``hashers`` see every byte copied,
    holes included.
    """
    fd = source.fileno()
    length = min(length, os.fstat(fd).st_size)
    with open(dest_path, "wb") as dest, Hashing(hashers) as hashing:
        dest.truncate(max(dest_size, length))
        for start, stop, has_data in _extents(fd, length):
            if not has_data:
                _hash_zeros(hashing, stop - start)
                continue
            position = start
            while position < stop:
                if check is not None:
                    check()
                piece = os.pread(fd, min(PIECE, stop - position), position)
                if not piece:
                    raise OSError(errno.EIO, f"short read at {position}")
                hashing.update(piece)
                _write_sparse(dest.fileno(), piece, position)
                position += len(piece)
    return length


def read_hashed(read, sink, check=None, piece=PIECE, algorithm="sha512"):
    """Hand what ``read(n)`` returns to ``sink(chunk, offset)`` until it ends.

    Returns ``(size, md5 hex, <algorithm> hex)`` of the bytes read.
    """
    md5, sha512 = new_hashers(algorithm)
    size = 0
    with Hashing((md5, sha512)) as hashing:
        while True:
            if check is not None:
                check()
            chunk = read(piece)
            if not chunk:
                break
            chunk = bytes(chunk) if not isinstance(chunk, bytes) else chunk
            hashing.update(chunk)
            sink(chunk, size)
            size += len(chunk)
    return size, md5.hexdigest(), sha512.hexdigest()


def write_stream(read, dest_path, check=None, piece=PIECE, algorithm="sha512"):
    """Write what ``read(n)`` returns, until it returns nothing, to a sparse file.

    Returns ``(size, md5 hex, <algorithm> hex)`` of the bytes written.
    """
    with open(dest_path, "wb") as dest:
        result = read_hashed(
            read, lambda chunk, offset: _write_sparse(dest.fileno(), chunk, offset),
            check, piece, algorithm)
        dest.truncate(result[0])
    return result


def read_pieces(stream, offset, length, piece=PIECE):
    """Yield ``length`` bytes of the open file ``stream`` from ``offset``; close it."""
    try:
        position, end = offset, offset + length
        while position < end:
            data = os.pread(stream.fileno(), min(piece, end - position), position)
            if not data:
                return
            yield data
            position += len(data)
    finally:
        stream.close()


def mapped_pieces(stream, offset, length, piece=PIECE):
    """What :func:`read_pieces` yields, as read-only views of the file mapped
    in memory (no copy until a reader takes them); closes ``stream``.

    The file must not shrink while a piece is alive (reading a page past its
    end would raise SIGBUS): only for files that no longer change. Pieces
    stop at the file's end, as :func:`read_pieces` does.
    """
    try:
        fd = stream.fileno()
        position = offset
        end = min(offset + length, os.fstat(fd).st_size)
        while position < end:
            count = min(piece, end - position)
            start = position - position % mmap.ALLOCATIONGRANULARITY
            mapped = mmap.mmap(fd, position + count - start,
                               flags=mmap.MAP_SHARED, prot=mmap.PROT_READ,
                               offset=start)
            yield memoryview(mapped)[position - start:]
            position += count
    finally:
        stream.close()


def _close(pieces):
    """Close an iterable of pieces if it can be closed (a generator, a file)."""
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def truncated(pieces, limit):
    """The first ``limit`` bytes of an iterable of pieces, then stop (and close it)."""
    try:
        sent = 0
        for data in pieces:
            if sent + len(data) >= limit:
                if limit > sent:
                    yield data[: limit - sent]
                return
            sent += len(data)
            yield data
    finally:
        _close(pieces)


def corrupted(pieces, offset, size, at_byte):
    """The pieces of ``[offset, ...)`` of ``size`` bytes, the byte at
    ``at_byte`` (or the last one) flipped."""
    target = min(at_byte, size - 1)
    position = offset
    try:
        for data in pieces:
            if position <= target < position + len(data):
                flipped = bytearray(data)
                flipped[target - position] ^= 0xFF
                data = bytes(flipped)
            position += len(data)
            yield data
    finally:
        _close(pieces)
