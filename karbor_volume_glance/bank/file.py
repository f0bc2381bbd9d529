"""A bank in a local (or mounted) directory, one file per object.

Layout of a bank at ``<path>``::

    <path>/bank.json           {"owner_id": "<uuid>", "format": 1}
    <path>/objects/a/b~obj      the object /a/b
    <path>/objects/a/b/c~obj    the object /a/b/c

The ``~obj`` suffix uses a character no key can contain, so the objects
``/a/b`` and ``/a/b/c`` can both exist, as in S3 or Swift. An object file is a
header line ``KVGB1 <kind>\\n`` followed by the payload from
:mod:`~karbor_volume_glance.bank.codec`, so ``cat`` shows a JSON object as is.

Writes go to a temporary file in the target's directory (its name contains
``~tmp`` and is never listed), which is flushed, fsynced and renamed over the
target, and then the directory is fsynced: a reader sees the old or the new
value, never a partial one. A file of chunk data (1 MiB or more) then
leaves the page cache (``POSIX_FADV_DONTNEED``): a backup written once is
not worth keeping there. A writer that dies leaves its temporary file:
:meth:`FileBackend.temporary_files` finds them and ``delete`` and ``sweep``
remove them. Deleting an object prunes the directories it
leaves empty. Files are created with mode 0666 less the umask; a bank
directory this backend creates is mode 0700.
"""

import contextlib
import errno
import os
import time
import urllib.parse
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from karbor_volume_glance.bank import capabilities, codec, keys, listing, owner
from karbor_volume_glance.bank import options as options_module
from karbor_volume_glance.bank.base import BankBackend
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    BankObjectTooLarge,
    InvalidBankKey,
    check_object_size,
)

LOG = logging.getLogger(__name__)

#: The provider-file section of the file bank (``volume-glance-file-bank``).
GROUP = "volume_glance_file_bank"
OPTS = [
    cfg.StrOpt("path", help="The directory of the bank (created if missing). "
               "As a URL: file:///path."),
]

METADATA_FILE = "bank.json"
OBJECTS_DIRECTORY = "objects"
OBJECT_SUFFIX = "~obj"
TEMP_MARKER = "~tmp"
HEADER_MAGIC = "KVGB1"

#: Longest header line read before deciding the file is damaged.
_HEADER_LIMIT = 64
#: Times a write retries when a concurrent delete prunes its directory.
_CREATE_ATTEMPTS = 10
#: errno values of link() on a filesystem without hard links.
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
)
#: Waits for another process to finish writing bank.json without link().
_METADATA_READ_DELAYS = (0.01, 0.05, 0.1, 0.5)


def _fsync_directory(directory):
    """Make the directory's entries (new, renamed, removed files) durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory_if_present(directory):
    """Like :func:`_fsync_directory`; a concurrent delete may have pruned it."""
    try:
        _fsync_directory(directory)
    except FileNotFoundError:
        LOG.debug("Directory %s was pruned before it was synced", directory)


def _remove_quietly(path):
    """Remove ``path`` if it exists; used to clean up after a failure."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        LOG.warning("Could not remove temporary file %s: %s", path, exc)


def _temp_path(target):
    """A unique temporary name next to ``target``; it contains ``~tmp``."""
    return f"{target}{TEMP_MARKER}-{uuid.uuid4().hex}"


def _read_into(stream, views):
    """Fill ``views`` in order from ``stream``; the bytes read (fewer at the
    end of the file)."""
    done = 0
    for view in views:
        filled = 0
        while filled < view.nbytes:
            got = stream.readinto(view[filled:])
            if not got:
                return done + filled
            filled += got
        done += filled
    return done


#: A file written of at least this many bytes (chunk data, not a manifest
#: or the index) leaves the page cache once it is durable: see
#: :func:`_drop_cached`.
DROP_CACHED_BYTES = 1024 * 1024


def _write_durably(fd, *chunks):
    """Write ``chunks`` to the new file ``fd``, fsync it and close it."""
    with os.fdopen(fd, "wb") as stream:
        size = 0
        for chunk in chunks:
            stream.write(chunk)
            size += memoryview(chunk).nbytes
        stream.flush()
        os.fsync(stream.fileno())
        if size >= DROP_CACHED_BYTES:
            _drop_cached(stream.fileno())


def _drop_cached(fd):
    """Tell the kernel the file's pages (clean: fsynced) are not needed
    again soon (``POSIX_FADV_DONTNEED``), where it has ``posix_fadvise``.

    A protect writes a volume's bytes once and does not read them back:
    kept in the page cache they would push out what the host does need,
    and the next writes' pages would have to be reclaimed from it first.
    Measured on a 2-vCPU VM whose page cache was full: writing 1 GiB in
    32 MiB files cost about 3 ms of CPU per MiB, 0.4 to 0.7 ms with the
    pages dropped (issue 16). A failure only costs that, so it is ignored.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    try:
        advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError as exc:
        LOG.debug("posix_fadvise(DONTNEED) failed: %s", exc)


class FileBackend(BankBackend):
    """A bank stored in directory ``path`` (created if missing)."""

    #: rename() replaces atomically, a directory listing sees every finished
    #: rename, and link()/O_EXCL create only what does not exist.
    CAPABILITIES = capabilities.ALL
    READS_INTO = True

    def __init__(self, path):
        self._root = os.path.abspath(os.fspath(path))
        self._objects_root = os.path.join(self._root, OBJECTS_DIRECTORY)
        try:
            self._prepare_directories()
            self._owner_id = self._read_or_create_owner_id()
        except OSError as exc:
            raise BankError(
                f"cannot open file bank at {self._root}: {exc.strerror or exc}"
            ) from exc
        LOG.debug("Opened file bank %s at %s", self._owner_id, self._root)

    def describe(self):
        return "file", f"file://{self._root}"

    @classmethod
    def from_options(cls, options):
        """The bank its options (``{opt.dest: value}`` of :data:`OPTS`) name."""
        if not options.get("path"):
            raise BankError("a file bank needs a path")
        return cls(options["path"])

    @classmethod
    def from_url(cls, url):
        """The bank at ``file:///absolute/path`` (or ``file://localhost/…``)."""
        example = "as in 'file:///srv/karbor-bank'"
        if url.query or url.fragment:
            raise BankError(
                f"a file bank URL takes no query or fragment ({example}), "
                f"not {url.geturl()!r}"
            )
        if url.netloc not in ("", "localhost"):
            raise BankError(
                f"a file bank URL must name an absolute path ({example}); "
                f"{url.geturl()!r} names the host {url.netloc!r} instead"
            )
        path = urllib.parse.unquote(url.path)
        if not path.startswith("/"):
            raise BankError(
                f"a file bank URL must name an absolute path ({example}), "
                f"not {url.geturl()!r}"
            )
        options = options_module.defaults(OPTS)
        options["path"] = path
        return cls.from_options(options)

    def __repr__(self):
        return f"{type(self).__name__}({self._root!r})"

    @property
    def path(self):
        """The bank's directory, absolute."""
        return self._root

    # --- opening ---------------------------------------------------------

    def _prepare_directories(self):
        if os.path.lexists(self._root) and not os.path.isdir(self._root):
            raise BankError(
                f"cannot open file bank at {self._root}: it exists and is not "
                "a directory"
            )
        os.makedirs(self._root, mode=0o700, exist_ok=True)
        os.makedirs(self._objects_root, exist_ok=True)

    def _read_or_create_owner_id(self):
        return owner.read_or_create(self._read_metadata, self._create_metadata,
                                    where=lambda name: self._metadata_path,
                                    names=(METADATA_FILE,))

    @property
    def _metadata_path(self):
        return os.path.join(self._root, METADATA_FILE)

    def _create_metadata(self, name, content):
        """Create bank.json unless it exists; the first creator wins a race."""
        metadata_path = self._metadata_path
        temp_path = _temp_path(metadata_path)
        try:
            fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            _write_durably(fd, content)
            try:
                os.link(temp_path, metadata_path)  # fails if it exists: no-replace
            except FileExistsError:
                LOG.debug("Another process created %s first", metadata_path)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                self._create_metadata_without_link(metadata_path, content)
        finally:
            _remove_quietly(temp_path)
        _fsync_directory(self._root)

    @staticmethod
    def _create_metadata_without_link(metadata_path, content):
        try:
            fd = os.open(metadata_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return
        _write_durably(fd, content)

    def _read_metadata(self, name):
        """bank.json's bytes, or None if there is none yet."""
        for delay in (*_METADATA_READ_DELAYS, None):
            try:
                with open(self._metadata_path, "rb") as stream:
                    data = stream.read()
            except FileNotFoundError:
                return None
            if data or delay is None:
                return data
            time.sleep(delay)  # created but not yet written by another process
        return data  # pragma: no cover

    # --- paths and errors ------------------------------------------------

    def _object_path(self, key):
        """The file of absolute, normalised ``key``; refuses anything else."""
        is_absolute = isinstance(key, str) and key.startswith("/")
        parts = key.split("/")[1:] if is_absolute else []
        if not parts or not all(map(keys.is_valid_part, parts)):
            raise InvalidBankKey(key, "a backend key must be absolute and normalised")
        return os.path.join(self._objects_root, *parts[:-1], parts[-1] + OBJECT_SUFFIX)

    @staticmethod
    def _os_error(action, key, exc):
        where = f" ({exc.filename})" if exc.filename else ""
        return BankError(
            f"file bank could not {action} object {key!r}: "
            f"{exc.strerror or exc}{where}",
            key=key,
        )

    # --- the backend interface -------------------------------------------

    def update_object(self, key, value, context=None):
        with self._staged(key, value, "write") as (path, temp_path, _, _):
            os.replace(temp_path, path)
            _fsync_directory_if_present(os.path.dirname(path))

    def create_object(self, key, value, context=None):
        """Like update_object, but link() the whole new file into place, which
        fails if an object is there (the first creator wins)."""
        with self._staged(key, value, "create") as (path, temp_path, header,
                                                    payload):
            try:
                os.link(temp_path, path)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                return self._create_without_link(path, header, payload)
            _fsync_directory_if_present(os.path.dirname(path))
        return True

    @contextlib.contextmanager
    def _staged(self, key, value, action):
        """``(path, temp_path, header, payload)``: ``value`` written and
        fsynced to a new temporary file beside ``key``'s object, for the
        caller to move or link into place; the temporary name is removed on
        the way out (already gone once renamed), and an OSError becomes a
        BankError naming ``action`` and ``key``."""
        kind, payload = codec.encode(value)
        path = self._object_path(key)
        header = f"{HEADER_MAGIC} {kind}\n".encode("ascii")
        try:
            temp_path, fd = self._create_temp_file(path)
            try:
                _write_durably(fd, header, payload)
                yield path, temp_path, header, payload
            finally:
                _remove_quietly(temp_path)
        except OSError as exc:
            raise self._os_error(action, key, exc) from exc

    @staticmethod
    def _create_without_link(path, header, payload):
        """O_EXCL on a file system without hard links (a reader may see the
        object before it is whole: these file systems are rare)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        _write_durably(fd, header, payload)
        return True

    def _create_temp_file(self, path):
        """Open a new temporary file next to ``path``; return (path, fd).

        Creates the missing directories on the way. A concurrent delete may
        prune a directory between its creation and the file's: then retry.
        """
        directory = os.path.dirname(path)
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            temp_path = _temp_path(path)
            try:
                self._make_directories(directory)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
                return temp_path, os.open(temp_path, flags, 0o666)
            except FileNotFoundError:
                if attempt == _CREATE_ATTEMPTS:
                    raise
                LOG.debug("Directory %s vanished while writing; retrying", directory)
        raise AssertionError("unreachable")  # pragma: no cover

    def _make_directories(self, directory):
        """Create ``directory`` and its missing parents below ``objects/``."""
        relative = os.path.relpath(directory, self._objects_root)
        if relative == os.curdir:
            return
        current = self._objects_root
        for part in relative.split(os.sep):
            parent, current = current, os.path.join(current, part)
            try:
                os.mkdir(current)
            except FileExistsError:
                continue
            _fsync_directory(parent)

    def get_object(self, key, context=None, max_size=None):
        path = self._object_path(key)
        try:
            with open(path, "rb") as stream:
                header = stream.readline(_HEADER_LIMIT)
                payload = stream.read(-1 if max_size is None else max_size + 1)
                check_object_size(key, payload, max_size)
        except FileNotFoundError:
            raise BankObjectNotFound(key) from None
        except OSError as exc:
            raise self._os_error("read", key, exc) from exc
        return codec.decode(self._parse_header(key, path, header), payload, key=key)

    def get_object_into(self, key, buffers, context=None):
        """Read the object's bytes into ``buffers`` with ``readinto``: no
        bytes object of the object's size is made (a restore reads an
        encrypted chunk into a buffer it reuses). Its size is known before
        anything is read: larger than the buffers, it is not read."""
        path = self._object_path(key)
        views = [memoryview(buffer).cast("B") for buffer in buffers]
        bound = sum(view.nbytes for view in views)
        try:
            with open(path, "rb") as stream:
                header = stream.readline(_HEADER_LIMIT)
                kind = self._parse_header(key, path, header)
                if kind != codec.BYTES:
                    raise BankError(f"bank object {key!r} holds a {kind} "
                                    "value, not bytes", key=key)
                size = os.fstat(stream.fileno()).st_size - len(header)
                if size > bound:
                    raise BankObjectTooLarge(key, bound, size)
                done = _read_into(stream, views)
                if done == bound and stream.read(1):  # grown since fstat
                    raise BankObjectTooLarge(key, bound)
                return done
        except FileNotFoundError:
            raise BankObjectNotFound(key) from None
        except OSError as exc:
            raise self._os_error("read", key, exc) from exc
        finally:
            for view in views:
                view.release()

    @staticmethod
    def _parse_header(key, path, header):
        """The value kind in ``header``; BankError if the file is damaged."""
        fields = header.rstrip(b"\n").split(b" ")
        if (
            not header.endswith(b"\n")
            or len(fields) != 2
            or (fields[0] != HEADER_MAGIC.encode("ascii"))
        ):
            raise BankError(
                f"bank object {key!r} is damaged: {path} does not start with "
                f"a '{HEADER_MAGIC} <kind>' line",
                key=key,
            )
        kind = fields[1].decode("ascii", errors="replace")
        if kind not in codec.KINDS:
            raise BankError(
                f"bank object {key!r} is damaged: {path} has the unknown value "
                f"kind {kind!r}",
                key=key,
            )
        return kind

    def list_objects(
        self, prefix=None, limit=None, marker=None, sort_dir=None, context=None
    ):
        listing.check_listing_arguments(limit, sort_dir)
        candidates = self._keys_that_may_start_with(prefix or "/")
        return listing.select_keys(candidates, prefix, limit, marker, sort_dir)

    def _keys_that_may_start_with(self, prefix):
        """The stored keys under the deepest directory that ``prefix`` names.

        Walks only that directory's entries whose names start with the rest of
        the prefix, so a deep prefix does not walk the whole bank.
        """
        if not prefix.startswith("/"):
            return []
        directory_part, _, name_start = prefix[1:].rpartition("/")
        directory_parts = directory_part.split("/") if directory_part else []
        if not all(map(keys.is_valid_part, directory_parts)):
            return []  # "//", "..", "~" …: no stored key can start with it
        found = []
        pending = [
            (
                os.path.join(self._objects_root, *directory_parts),
                "/" + "".join(part + "/" for part in directory_parts),
                name_start,
            )
        ]
        while pending:
            directory, key_base, name_start = pending.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if not entry.name.startswith(name_start):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            if keys.is_valid_part(entry.name):
                                pending.append(
                                    (entry.path, key_base + entry.name + "/", "")
                                )
                        elif entry.name.endswith(OBJECT_SUFFIX):
                            name = entry.name[: -len(OBJECT_SUFFIX)]
                            if TEMP_MARKER not in name and keys.is_valid_part(name):
                                found.append(key_base + name)
            except (FileNotFoundError, NotADirectoryError):
                continue  # nothing stored there, or pruned while we walked
            except OSError as exc:
                raise BankError(
                    f"file bank could not list {directory}: {exc.strerror or exc}"
                ) from exc
        return found

    def delete_object(self, key, context=None):
        path = self._object_path(key)
        directory = os.path.dirname(path)
        try:
            try:
                os.unlink(path)
            except FileNotFoundError:
                raise BankObjectNotFound(key) from None
            _fsync_directory_if_present(directory)
        except OSError as exc:
            raise self._os_error("delete", key, exc) from exc
        self._prune_empty_directories(directory)

    def _prune_empty_directories(self, directory):
        """Remove ``directory`` and its parents below ``objects/`` while empty.

        rmdir() removes only empty directories, so a file another writer has
        just created is never lost: its directory is simply not empty.
        """
        while directory != self._objects_root and directory.startswith(
            self._objects_root + os.sep
        ):
            try:
                os.rmdir(directory)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    LOG.warning(
                        "Could not prune empty directory %s: %s", directory, exc
                    )
                return
            directory = os.path.dirname(directory)

    def get_owner_id(self, context=None):
        return self._owner_id

    # --- temporary files of writes that never finished -----------------------

    def temporary_files(self, prefix="/"):
        """``[(name, age in seconds)]`` of the temporary files (``~tmp-``) of
        writes that never finished (their writer died), under the objects of
        absolute section ``prefix``; never listed as objects. ``name`` is
        the file's path below ``objects/``; the age is by the file system's
        clock (mtime)."""
        parts = [part for part in prefix.split("/") if part]
        if not all(map(keys.is_valid_part, parts)):
            return []
        top = os.path.join(self._objects_root, *parts)
        now = time.time()
        found = []
        for directory, _dirs, files in os.walk(top):
            for name in files:
                if TEMP_MARKER + "-" not in name:
                    continue
                path = os.path.join(directory, name)
                try:
                    age = now - os.stat(path).st_mtime
                except FileNotFoundError:
                    continue
                found.append((os.path.relpath(path, self._objects_root), age))
        return sorted(found)

    def remove_temporary_file(self, name):
        """Remove one of :meth:`temporary_files`; True if it was there."""
        path = os.path.normpath(os.path.join(self._objects_root, name))
        if (TEMP_MARKER + "-" not in os.path.basename(path)
                or not path.startswith(self._objects_root + os.sep)):
            raise BankError(f"{name} is not a temporary file of this bank")
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        self._prune_empty_directories(os.path.dirname(path))
        return True
