"""The interface every bank backend implements, and the contract it keeps.

A backend stores values under keys. It has the method set of Karbor's
``BankPlugin`` so that the two are interchangeable, but it is called only
through :class:`~karbor_volume_glance.bank.section.Bank`, which validates and
normalises keys first: a backend receives absolute keys such as ``/a/b``.

The contract, which ``tests/unit/bank`` checks for every backend:

* Values are stored through :mod:`~karbor_volume_glance.bank.codec`, so a
  value comes back with the type it went in with (bytes, str or JSON).
* Writes are atomic: a reader sees the whole old value or the whole new value,
  never a mix of the two and never a partial write, even if the writer dies.
* An object ``/a/b`` and an object ``/a/b/c`` can exist side by side; there
  are no directories, only keys.
* A missing object raises :class:`BankObjectNotFound` on get and delete.
* Listing returns absolute keys as :func:`listing.select_keys` defines them.
* A read bounded by ``max_size`` never reads much more than the bound.
* A read into buffers (:meth:`BankBackend.get_object_into`, backends whose
  ``READS_INTO`` is true) fills them with the bytes a get
  returns, and never reads more than they hold.
* Backends are safe to call from several threads at once.
"""

import abc

from karbor_volume_glance.bank import capabilities as caps
from karbor_volume_glance.exceptions import BankError


class BankBackend(abc.ABC):
    """Stores bank objects; see the module docstring for the contract."""

    #: What this backend guarantees (:mod:`.capabilities`); none unless declared.
    CAPABILITIES = caps.NONE
    #: Whether :meth:`get_object_into` reads into the caller's buffers (the
    #: file and memory banks); S3's and Swift's clients return bytes.
    READS_INTO = False

    @property
    def capabilities(self):
        """This backend's :mod:`.capabilities` (its class's, by default)."""
        return self.CAPABILITIES

    @classmethod
    def from_url(cls, url):
        """Build the backend a bank URL names.

        ``url`` is a :func:`urllib.parse.urlsplit` result whose scheme is this
        backend's entry point name. A backend that cannot be named by a URL
        keeps this default, which refuses.
        """
        raise BankError(f"the {cls.__name__} bank backend cannot be opened by URL")

    @abc.abstractmethod
    def update_object(self, key, value, context=None):
        """Store ``value`` under ``key``, replacing any old value atomically."""

    def create_object(self, key, value, context=None):
        """Store ``value`` under ``key`` only if no object is there: True if
        this call created it, False if one was there already (the first
        creator wins; its value is never replaced).

        Only a backend that declares
        :data:`~.capabilities.CONDITIONAL_CREATE` implements it; callers go
        through :func:`~.compat.create_if_absent`, which falls back to a
        plain write elsewhere.
        """
        raise NotImplementedError(
            f"the {type(self).__name__} bank backend has no conditional create")

    @abc.abstractmethod
    def get_object(self, key, context=None, max_size=None):
        """Return the value under ``key``; raise BankObjectNotFound if none.

        With ``max_size``, an object whose stored payload is longer raises
        BankObjectTooLarge, having read at most ``max_size`` + 1 bytes of it
        (a bank's contents are untrusted: a reader that knows how large an
        object should be never holds more of it in memory).
        """

    def get_object_into(self, key, buffers, context=None):
        """Read the bytes stored under ``key`` into ``buffers`` (writable
        bytes-like objects, filled in order, as ``readv`` does) and return
        how many bytes were read: fewer than the buffers hold when the
        object is shorter. An object longer than the buffers hold raises
        BankObjectTooLarge, having read no more than they hold (plus one
        byte); one that holds no bytes (a str or JSON value) raises
        BankError; a missing one BankObjectNotFound.

        Only a backend whose :attr:`READS_INTO` is true implements it;
        callers go through :func:`~.compat.read_into`.
        """
        raise NotImplementedError(
            f"the {type(self).__name__} bank backend cannot read into buffers")

    @abc.abstractmethod
    def list_objects(
        self, prefix=None, limit=None, marker=None, sort_dir=None, context=None
    ):
        """Return the keys that start with ``prefix``, in listing order.

        ``prefix`` is a plain string prefix (``None``/``""``: every key). Keys
        are sorted ascending, or descending if ``sort_dir`` is ``"desc"``; only
        keys strictly after ``marker`` in that order are returned, at most
        ``limit`` of them (``None``: all).
        """

    @abc.abstractmethod
    def delete_object(self, key, context=None):
        """Remove the object under ``key``; raise BankObjectNotFound if none."""

    @abc.abstractmethod
    def get_owner_id(self, context=None):
        """Return a string that identifies this bank and never changes."""

    def describe(self):
        """``(kind, location)`` for logs and notifications; the location is
        a URL, and :func:`~karbor_volume_glance.notifications.payload.public_location`
        strips credentials from it before it is shown anywhere."""
        return type(self).__name__, None
