"""Sealing an encrypted backup: its chunks and its manifest, under keys
derived from the bank's master key (:mod:`.keys`).

A backup written with a master key is *format 4*
(``doc/backup-format.rst``, "Encrypted backups"). Everything here is bound
to one volume (:class:`VolumeKeys`):

- each stored chunk or delta, once compressed, is sealed with AES-256-GCM
  under the *data key* of the backup that stores it
  (``derive("chunk-data", volume id, checkpoint id)``), a random 96-bit
  nonce, and associated data naming the volume, that checkpoint, the chunk's
  index, its kind (``full`` or ``delta``), its compression and its plain
  size (:func:`chunk_ad`). A chunk moved to another index, swapped between
  chunks or between backups, truncated or altered fails to open with a
  ChunkIntegrityError naming it;
- a chunk's identity (the ``sha256`` field of its record, which the
  incremental compares with the parent's) is HMAC-SHA256 of its plain bytes
  under ``derive("chunk-hash", volume id)``: one key per volume, so chunks
  compare by position across the volume's backups and across no other
  volume;
- the manifest is sealed whole (:meth:`VolumeKeys.seal_manifest`) under
  ``derive("manifest", volume id, checkpoint id)`` with the same kind of
  associated data: an edited, truncated or replayed manifest (another
  checkpoint's, another volume's) fails with InvalidBackupMetadata naming
  the backup, and a key other than the one it was written with fails first,
  naming both key fingerprints (never "MAC check failed").

Chunks are sealed and opened with ``encrypt_into``/``decrypt_into``
(cryptography 47 on) into buffers that are reused, never into a fresh
chunk-sized allocation per chunk: a new 32 MiB buffer costs the kernel more
(page faults, zeroing) than AES-GCM costs to fill it. A chunk stored
uncompressed that the data path assembled with the room of a seal around it
(:data:`ROOM`) is sealed over itself (:meth:`ChunkSealer.seal_in_place`:
AES-GCM encrypts in place), its buffer
becoming the stored bytes: no second buffer at all. Otherwise each thread
sealing a backup's chunks reuses one buffer of its own, kept at its
largest (:meth:`ChunkSealer.scratch`: a payload under half of it gets a
buffer of its own):
what :meth:`ChunkSealer.seal` returns lives there until the thread seals its
next chunk, so the caller stores it at once; a compressed payload (or a
delta) is opened into it too, then decompressed. An uncompressed full chunk,
whose opened bytes *are* the chunk, is opened into a buffer the caller gives
(a :class:`~karbor_volume_glance.datapath.BufferPool`'s, in a restore).

A bank that reads into buffers (the file bank) lets a restore skip the
stored bytes altogether: the nonce is read into a small buffer and the
ciphertext and tag into the chunk's buffer (a pool's, or the scratch buffer
for a payload to decompress), which :meth:`ChunkSealer.open_in_place`
decrypts over itself (AES-GCM decrypts in place too) and cuts to the plain
payload: one chunk-sized buffer per chunk, as an unencrypted restore has.

This module is pure: no I/O, no cloud, no transport.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading

from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives.ciphers import aead

from karbor_volume_glance import datapath, exceptions

#: The AEAD of format 4, as manifests name it.
AEAD = "AES-256-GCM"
#: The identity hash of format 4's chunk records.
HASH_ALGORITHM = "hmac-sha256"
NONCE_BYTES = 12
TAG_BYTES = 16
#: A sealed object is ``nonce || ciphertext || tag``: this many bytes more
#: than what it seals.
OVERHEAD = NONCE_BYTES + TAG_BYTES
#: The derivation purposes (HKDF ``info``, :meth:`MasterKey.derive`).
DATA_PURPOSE = "chunk-data"
HASH_PURPOSE = "chunk-hash"
MANIFEST_PURPOSE = "manifest"
#: Kinds of sealed objects, in the associated data.
FULL, DELTA = "full", "delta"
_CHUNK_LABEL = b"kvg-chunk/1"
_MANIFEST_LABEL = b"kvg-manifest/1"
#: The keys of a format-4 manifest as stored; everything else is sealed.
OUTER_KEYS = {"format_version", "volume_id", "encryption", "sealed"}
#: :meth:`ChunkSealer.open`'s ``into`` for the thread's scratch buffer.
SCRATCH = "scratch"


def _framed(label, *items):
    """``label`` and each item length-prefixed: no two tuples frame alike."""
    out = bytearray(label)
    for item in items:
        part = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        out += len(part).to_bytes(4, "big") + part
    return bytes(out)


def chunk_ad(volume_id, checkpoint_id, index, kind, algorithm, size):
    """The associated data of chunk ``index`` stored in ``checkpoint_id``:
    ``size`` is what it decompresses to (its length, a delta's delta_size)."""
    return _framed(_CHUNK_LABEL, volume_id, checkpoint_id,
                   index.to_bytes(8, "big"), kind, algorithm,
                   size.to_bytes(8, "big"))


def manifest_ad(volume_id, checkpoint_id, fingerprint):
    return _framed(_MANIFEST_LABEL, volume_id, checkpoint_id, AEAD, fingerprint)


def seal(cipher, ad, payload):
    """``nonce || AES-GCM(payload) || tag`` with a fresh random nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, payload, ad)


def unseal(cipher, ad, sealed, into=None):
    """The plain bytes of a sealed object; InvalidTag if it does not open.
    ``sealed`` is at least :data:`OVERHEAD` bytes (the caller checks). With
    ``into`` (a writable buffer of exactly ``len(sealed) - OVERHEAD`` bytes)
    they are written there and ``into`` is returned."""
    view = memoryview(sealed)
    nonce = bytes(view[:NONCE_BYTES])
    if into is None:
        return cipher.decrypt(nonce, view[NONCE_BYTES:], ad)
    cipher.decrypt_into(nonce, view[NONCE_BYTES:], ad, into)
    return into


def resized(buffer, size):
    """``buffer`` (a bytearray or None) as a bytearray of ``size`` bytes,
    resized in place when it can be (CPython only reallocates a bytearray
    that grows past what it holds or shrinks below half of it), else new:
    one whose bytes are still viewed by someone (a memoryview alive in an
    exception's traceback) cannot be resized, and is left to them."""
    if buffer is None:
        return bytearray(size)
    have = len(buffer)
    try:
        if have > size:
            del buffer[size:]
        elif have < size:
            buffer.extend(bytes(size - have))
    except BufferError:
        return bytearray(size)
    return buffer


#: :func:`~karbor_volume_glance.datapath.rechunk`'s ``room`` for chunks to
#: be sealed in place: ``datapath.room_of(chunk, *ROOM)`` is the bytearray
#: such a chunk can be sealed in (it is its bytes ``[NONCE_BYTES:-TAG_BYTES]``),
#: or None.
ROOM = (NONCE_BYTES, TAG_BYTES)


def is_sealed(raw):
    """Whether a manifest as stored is a sealed one (format 4)."""
    return isinstance(raw, dict) and "sealed" in raw and "encryption" in raw


class VolumeKeys:
    """The keys of one volume's encrypted backups under one master key."""

    def __init__(self, master, volume_id):
        self.volume_id = volume_id
        self.fingerprint = master.fingerprint()
        self._master = master
        self._hash_key = master.derive(HASH_PURPOSE, volume_id)
        self._ciphers = {}
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<VolumeKeys {self.volume_id} {self.fingerprint}>"

    def _cipher(self, purpose, checkpoint_id):
        with self._lock:
            cipher = self._ciphers.get((purpose, checkpoint_id))
            if cipher is None:
                cipher = aead.AESGCM(self._master.derive(
                    purpose, self.volume_id, checkpoint_id))
                self._ciphers[(purpose, checkpoint_id)] = cipher
            return cipher

    def digest(self, data):
        """A chunk's identity: HMAC-SHA256 of its plain bytes (hex)."""
        return hmac.new(self._hash_key, data, hashlib.sha256).hexdigest()

    def chunks(self, checkpoint_id):
        """The sealer of the chunks of the backup in ``checkpoint_id``."""
        return ChunkSealer(self, checkpoint_id)

    # --- the manifest ---------------------------------------------------

    def seal_manifest(self, checkpoint_id, metadata, format_version):
        """The stored form of ``metadata`` (a JSON-able dict) for the backup
        in ``checkpoint_id``."""
        plain = json.dumps(metadata, sort_keys=True,
                           separators=(",", ":")).encode("utf-8")
        sealed = seal(self._cipher(MANIFEST_PURPOSE, checkpoint_id),
                      manifest_ad(self.volume_id, checkpoint_id,
                                  self.fingerprint), plain)
        return {"format_version": format_version, "volume_id": self.volume_id,
                "encryption": {"aead": AEAD, "key": self.fingerprint},
                "sealed": base64.b64encode(sealed).decode("ascii")}

    def open_manifest(self, checkpoint_id, raw):
        """The manifest dict sealed in ``raw`` (as stored, already a dict
        with format 4), authenticated; InvalidBackupMetadata naming the
        backup and what is wrong otherwise."""
        where = f"checkpoint {checkpoint_id}"

        def fail(reason):
            raise exceptions.InvalidBackupMetadata(
                self.volume_id, f"the encrypted manifest of {where} {reason}")

        unknown = sorted(set(raw) - OUTER_KEYS)
        if unknown:
            fail(f"has fields outside its seal: {unknown}")
        if raw.get("volume_id") != self.volume_id:
            fail(f"is of volume {raw.get('volume_id')!r}")
        encryption = raw.get("encryption")
        if not isinstance(encryption, dict) or set(encryption) != {"aead",
                                                                   "key"}:
            fail('has no "encryption" of exactly "aead" and "key"')
        if encryption.get("aead") != AEAD:
            fail(f"names no known AEAD (this version reads {AEAD})")
        key = encryption.get("key")
        if key != self.fingerprint:
            raise exceptions.BackupKeyMismatch(self.volume_id, checkpoint_id,
                                               key, self.fingerprint)
        text = raw.get("sealed")
        if not isinstance(text, str):
            fail("has no sealed text")
        try:
            sealed = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            fail("is not base64: it was truncated or altered")
        if len(sealed) < OVERHEAD:
            fail(f"is {len(sealed)} bytes sealed, less than a seal's "
                 f"{OVERHEAD}: it was truncated")
        try:
            plain = unseal(self._cipher(MANIFEST_PURPOSE, checkpoint_id),
                           manifest_ad(self.volume_id, checkpoint_id, key),
                           sealed)
        except crypto_exceptions.InvalidTag:
            fail("does not authenticate: it was altered, truncated, or "
                 "belongs to another backup")
        try:
            inner = json.loads(plain)
        except (ValueError, RecursionError):
            fail("holds no JSON inside its seal")
        if not isinstance(inner, dict):
            fail("holds no object inside its seal")
        return inner


class ChunkSealer:
    """Seals the chunks of one backup, opens those of it and of the backups
    it references (a record's ``source``)."""

    overhead = OVERHEAD

    def __init__(self, keys, checkpoint_id):
        self.keys = keys
        self.checkpoint_id = checkpoint_id
        self._local = threading.local()

    def scratch(self, size):
        """This thread's reusable buffer, as ``size`` bytes: what the last
        :meth:`seal` of this thread returned is overwritten.

        A size under half of what the buffer holds gets a new buffer of its
        own instead, and the thread keeps its large one: shrinking a
        bytearray that far gives its memory back (CPython reallocates it),
        and the next large payload would fault every page of it in anew,
        which costs more than the small buffer (compressed sizes that go up
        and down from chunk to chunk, a mostly empty chunk between full
        ones, would otherwise cost that once a chunk)."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is not None and size < buffer.__alloc__() // 2:
            return bytearray(size)
        buffer = resized(buffer, size)
        self._local.buffer = buffer
        return buffer

    def digest(self, data):
        return self.keys.digest(data)

    def _ad(self, record, checkpoint_id):
        if record.is_delta:
            kind, size = DELTA, record.delta_size
        else:
            kind, size = FULL, record.length
        return chunk_ad(self.keys.volume_id, checkpoint_id, record.index, kind,
                        record.compression, size)

    def seal(self, record, payload):
        """The stored bytes of ``record`` (stored in this backup) from its
        compressed ``payload``: ``nonce || ciphertext || tag`` in this
        thread's :meth:`scratch` buffer (a bytearray), valid until the
        thread's next :meth:`seal` or :meth:`open` into it."""
        return self._seal_into(self.scratch(len(payload) + OVERHEAD),
                               record, payload)

    def seal_in_place(self, record, chunk):
        """Seal ``record``'s uncompressed ``chunk`` over itself: ``chunk``
        has the room of a seal around it (:data:`ROOM`), and its buffer,
        returned, becomes the stored bytes, the same as :meth:`seal`'s
        (AES-GCM encrypts in place: the ciphertext starts where the
        plaintext does). The chunk's plain bytes are gone then: every other
        reader must be done with them."""
        buffer = datapath.room_of(chunk, *ROOM)
        if buffer is None:
            raise ValueError("the chunk has no room to be sealed in place")
        return self._seal_into(buffer, record, chunk)

    def _seal_into(self, buffer, record, data):
        """``buffer`` (``len(data) + OVERHEAD`` bytes) made ``nonce ||
        ciphertext || tag`` of ``data`` sealed for ``record``, a fresh random
        nonce; ``data`` may be ``buffer``'s own bytes after the nonce."""
        nonce = os.urandom(NONCE_BYTES)
        buffer[:NONCE_BYTES] = nonce
        self.keys._cipher(DATA_PURPOSE, self.checkpoint_id).encrypt_into(
            nonce, data, self._ad(record, self.checkpoint_id),
            memoryview(buffer)[NONCE_BYTES:])
        return buffer

    def open_in_place(self, record, nonce, buffer):
        """The compressed payload of ``record`` opened over its stored
        bytes: ``nonce`` their first :data:`NONCE_BYTES`, ``buffer`` (a
        bytearray nobody views) the rest, ``ciphertext || tag``, whose size
        the caller has checked. Decrypted where it is and cut to the payload
        (``len(buffer) - TAG_BYTES``), ``buffer`` is returned: the same
        bytes :meth:`open` gives. ChunkIntegrityError naming the chunk if it
        does not authenticate (``buffer``'s bytes are then undefined)."""
        checkpoint_id = record.source or self.checkpoint_id
        size = len(buffer) - TAG_BYTES
        if len(nonce) != NONCE_BYTES or size < 0:
            raise exceptions.ChunkIntegrityError(
                record.name, f"is {len(nonce) + len(buffer)} bytes, less than "
                f"a seal's {OVERHEAD}")
        try:
            with memoryview(buffer) as view:
                self.keys._cipher(DATA_PURPOSE, checkpoint_id).decrypt_into(
                    bytes(nonce), view, self._ad(record, checkpoint_id),
                    view[:size])
        except crypto_exceptions.InvalidTag:
            raise _not_authentic(record) from None
        del buffer[size:]  # in place: a bytearray only shrinks its length
        return buffer

    def open(self, record, stored, into=None):
        """The compressed payload of ``record`` from its stored bytes, whose
        size the caller has checked; ChunkIntegrityError naming it.

        ``into``: where to write it, a writable buffer of its size
        (``len(stored) - OVERHEAD``), or :data:`SCRATCH` for this thread's
        :meth:`scratch` buffer (for bytes used and dropped before the
        thread's next seal or open: a payload to decompress); by default a
        new bytes object."""
        checkpoint_id = record.source or self.checkpoint_id
        if len(stored) < OVERHEAD:
            raise exceptions.ChunkIntegrityError(
                record.name, f"is {len(stored)} bytes, less than a seal's "
                f"{OVERHEAD}")
        if into is SCRATCH:
            # stored bytes still in the scratch buffer (a chunk just sealed,
            # opened again) are opened into new bytes, not over themselves
            into = (None if stored is getattr(self._local, "buffer", None)
                    else self.scratch(len(stored) - OVERHEAD))
        try:
            return unseal(self.keys._cipher(DATA_PURPOSE, checkpoint_id),
                          self._ad(record, checkpoint_id), stored, into)
        except crypto_exceptions.InvalidTag:
            raise _not_authentic(record) from None


def _not_authentic(record):
    return exceptions.ChunkIntegrityError(
        record.name, f"does not authenticate ({AEAD}): altered, truncated, "
        "or not this backup's chunk at this index")
