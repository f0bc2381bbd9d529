"""An encrypted bank's master key, and the keys derived from it.

A bank that is encrypted has one random 256-bit master key. It is never
stored in the clear: the bank holds only copies of it wrapped by
key-encryption keys (a passphrase's, a key file's, the cloud's key manager's;
see doc/backup-format.rst). Everything that encrypts or authenticates bank
contents uses a key *derived* from the master key for one purpose
(:meth:`MasterKey.derive`), never the master key itself, so a key that
encrypts chunks is never the one that hashes them.

Every MAC of an encrypted bank's records (the encryption record, index
entries, checkpoint records) is :func:`mac`: HMAC-SHA256 of an object's
:func:`canonical` JSON under such a derived key. The bytes they cover are
part of format 4: existing banks hold MACs made so.

This module is pure: no I/O, no cloud, no transport.
"""

import hashlib
import hmac
import json
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf import hkdf

#: The master key's length in bytes (AES-256, HMAC-SHA256).
KEY_BYTES = 32
#: The HKDF ``info`` of every derived key starts with it.
_INFO_PREFIX = b"karbor-volume-glance/v1/"


class MasterKey:
    """A bank's 256-bit master key. Its ``repr`` and ``str`` never show it."""

    __slots__ = ("_key",)

    def __init__(self, key):
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def generate(cls):
        """A new random master key (``secrets.token_bytes``)."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @property
    def material(self):
        """The raw key bytes: only for wrapping it under a key-encryption key."""
        return self._key

    def derive(self, purpose, *context, length=KEY_BYTES):
        """The key for ``purpose`` (a short ASCII name) and ``context``.

        HKDF-SHA256 over the master key, with ``info`` made of the purpose
        and each context item (str or bytes), length-prefixed so that no two
        different (purpose, context) tuples give the same ``info``. The same
        arguments always give the same key.
        """
        info = bytearray(_INFO_PREFIX)
        for item in (purpose, *context):
            part = item.encode("utf-8") if isinstance(item, str) else bytes(item)
            info += len(part).to_bytes(4, "big") + part
        return hkdf.HKDF(
            algorithm=hashes.SHA256(), length=length, salt=None,
            info=bytes(info),
        ).derive(self._key)

    def fingerprint(self):
        """A short public name of this key (hex), safe to show and log."""
        return self.derive("fingerprint", length=8).hex()

    def __eq__(self, other):
        return (isinstance(other, MasterKey)
                and hmac.compare_digest(self._key, other._key))

    def __hash__(self):
        return hash(self.fingerprint())

    def __repr__(self):
        return f"<MasterKey {self.fingerprint()}>"

    __str__ = __repr__


def canonical(value):
    """``value`` (JSON-able) as canonical JSON bytes: keys sorted, no
    spaces, every non-ASCII character ``\\u``-escaped. One value, one
    byte string: what MACs and associated data are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def mac(key, value):
    """HMAC-SHA256 (64 hex digits) under ``key`` of ``value``'s
    :func:`canonical` JSON."""
    return hmac.new(key, canonical(value), hashlib.sha256).hexdigest()


def same_mac(found, expected):
    """Whether ``found`` (as read from a bank: any JSON value) is the MAC
    ``expected`` (:func:`mac`'s); compared in constant time, and false,
    never an error, for anything else (a number, non-ASCII text)."""
    if not isinstance(found, str):
        return False
    return hmac.compare_digest(found.encode("utf-8", "surrogatepass"),
                               expected.encode("ascii"))
