"""A bank held in process memory: for tests and for trying the plugin out.

Values are stored encoded, so changing a dict after writing it does not change
the bank, and every read returns a fresh copy. The bank disappears with the
process; its URL is ``memory://``, which always opens a new, empty bank.
"""

import threading
import uuid

from oslo_log import log as logging

from karbor_volume_glance.bank import capabilities, codec, listing
from karbor_volume_glance.bank.base import BankBackend
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    check_object_size,
)

LOG = logging.getLogger(__name__)


class MemoryBackend(BankBackend):
    """A thread-safe bank in a dict of key -> (kind, payload)."""

    CAPABILITIES = capabilities.ALL
    READS_INTO = True

    def __init__(self):
        self._objects = {}
        self._lock = threading.Lock()
        self._owner_id = str(uuid.uuid4())
        LOG.debug("Created memory bank %s", self._owner_id)

    def describe(self):
        return "memory", "memory://"

    @classmethod
    def from_url(cls, url):
        """A new memory bank for ``memory://``, which takes no host or path."""
        if url.netloc or url.path or url.query or url.fragment:
            raise BankError(
                f"a memory bank URL is just 'memory://', not {url.geturl()!r}"
            )
        return cls()

    def update_object(self, key, value, context=None):
        kind, payload = codec.encode(value)
        encoded = kind, bytes(payload)  # a bytearray given is the caller's
        with self._lock:
            self._objects[key] = encoded

    def create_object(self, key, value, context=None):
        encoded = codec.encode(value)
        with self._lock:
            if key in self._objects:
                return False
            self._objects[key] = encoded
            return True

    def get_object(self, key, context=None, max_size=None):
        with self._lock:
            try:
                kind, payload = self._objects[key]
            except KeyError:
                raise BankObjectNotFound(key) from None
        check_object_size(key, payload, max_size)
        return codec.decode(kind, payload, key=key)

    def get_object_into(self, key, buffers, context=None):
        with self._lock:
            try:
                kind, payload = self._objects[key]
            except KeyError:
                raise BankObjectNotFound(key) from None
        if kind != codec.BYTES:
            raise BankError(f"bank object {key!r} holds a {kind} value, not "
                            "bytes", key=key)
        views = [memoryview(buffer).cast("B") for buffer in buffers]
        try:
            check_object_size(key, payload, sum(view.nbytes for view in views))
            done, source = 0, memoryview(payload)
            for view in views:
                part = source[done:done + view.nbytes]
                view[:len(part)] = part
                done += len(part)
            return done
        finally:
            for view in views:
                view.release()

    def list_objects(
        self, prefix=None, limit=None, marker=None, sort_dir=None, context=None
    ):
        with self._lock:
            keys = list(self._objects)
        return listing.select_keys(keys, prefix, limit, marker, sort_dir)

    def delete_object(self, key, context=None):
        with self._lock:
            try:
                del self._objects[key]
            except KeyError:
                raise BankObjectNotFound(key) from None

    def get_owner_id(self, context=None):
        return self._owner_id
