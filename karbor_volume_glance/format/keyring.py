"""The on-bank records of an encrypted bank's keys: its encryption record and
the wrapped copies of its master key.

An encrypted bank keeps, under :data:`KEYRING_ROOT`
(``/volume_glance/keys/``):

``encryption``
    the bank's *encryption record*: ``{"format": 1, "encrypted": true,
    "format_version"`` (the backup format of its encrypted backups)``,
    "cipher_suite", "fingerprint"`` (the master key's,
    :meth:`~.keys.MasterKey.fingerprint`)``, "created_at", "mac"}``. ``mac``
    is an HMAC-SHA256, under a key derived from the master key, of the other
    fields and the bank's owner id: whoever opens the master key can tell
    the record is the bank's own. Its presence says the bank is encrypted,
    so plain and encrypted backups never mix silently.
``wrapped/<id>``
    one *wrapped copy* of the master key per key source (a passphrase, a key
    file, a key manager's secret): ``{"format": 1, "id", "kind"``
    (:data:`KINDS`)``, "label", "created_at", "fingerprint", "kdf"`` (the
    KDF's name and parameters with its salt)``, "cipher": "aes-256-gcm",
    "nonce", "wrapped_key"}``. The KDF turns the source's secret into a
    key-encryption key (KEK); the master key is sealed under the KEK with
    AES-256-GCM, whose associated data is every other field of the record
    and the bank's owner id, so a copy moved to another bank or id, or with
    any field changed, does not open.

KDFs: a passphrase's KEK comes from scrypt (n=2^17, r=8, p=1: 128 MiB, the
default) or Argon2id (t=3, 64 MiB, 4 lanes: RFC 9106's second
recommendation); a key file's or a key manager's secret, already random,
through HKDF-SHA256 with the record's salt. A reader bounds every parameter
(:data:`SCRYPT_BOUNDS`, :data:`ARGON2ID_BOUNDS`) so a hostile bank cannot
make it spend unbounded memory or time.

This module is pure: dicts and bytes in and out, no I/O. Parsers are strict
and fail only with :class:`~karbor_volume_glance.exceptions.InvalidKeyRecord`
naming the record; a wrong secret is no error here (:func:`unwrap` gives
None), so that a caller can say which source opens none of the copies.
"""

import base64
import binascii
import dataclasses
import datetime
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf import hkdf, scrypt

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import keys

try:  # cryptography >= 44
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
except ImportError:  # pragma: no cover - depends on the installed version
    Argon2id = None

#: Where an encrypted bank keeps its key records.
KEYRING_ROOT = "/volume_glance/keys/"
#: The encryption record, relative to :data:`KEYRING_ROOT`.
RECORD = "encryption"
#: The wrapped copies' prefix, relative to :data:`KEYRING_ROOT`.
COPIES = "wrapped/"
FORMAT = 1

#: The backup format version an encrypted bank's backups are written in.
ENCRYPTED_FORMAT_VERSION = 4
#: The data's cipher suite (its AEAD and keyed hash; doc/backup-format.rst).
CIPHER_SUITE = "aes-256-gcm+hmac-sha256"
CIPHER_SUITES = (CIPHER_SUITE,)

PASSPHRASE = "passphrase"
KEY_FILE = "key_file"
KEY_MANAGER = "key_manager"
#: The kinds of key source a copy is wrapped for.
KINDS = (PASSPHRASE, KEY_FILE, KEY_MANAGER)

SCRYPT = "scrypt"
ARGON2ID = "argon2id"
HKDF = "hkdf-sha256"
#: The KDFs a passphrase copy may use; key files and key managers use HKDF.
PASSPHRASE_KDFS = (SCRYPT, ARGON2ID)
#: The default parameters of each passphrase KDF (the salt is added).
PASSPHRASE_KDF_DEFAULTS = {
    SCRYPT: {"n": 2**17, "r": 8, "p": 1},
    ARGON2ID: {"iterations": 3, "lanes": 4, "memory_cost": 65536},
}
#: (min, max) of each scrypt parameter a reader accepts; ``n`` is a power
#: of two, and the memory it takes, 128 x n x r bytes, at most 1 GiB.
SCRYPT_BOUNDS = {"n": (2**10, 2**20), "r": (1, 32), "p": (1, 16)}
#: (min, max) of each Argon2id parameter; ``memory_cost`` in KiB (at least
#: 8 x lanes, at most 1 GiB).
ARGON2ID_BOUNDS = {"iterations": (1, 16), "lanes": (1, 16),
                   "memory_cost": (8, 2**20)}
MAX_KDF_MEMORY = 2**30

WRAP_CIPHER = "aes-256-gcm"
NONCE_BYTES = 12
SALT_BYTES = 16
SALT_RANGE = (16, 64)
#: A wrapped master key: the key and GCM's 16-byte tag.
WRAPPED_BYTES = keys.KEY_BYTES + 16
#: A key file or key manager secret holds at least this many bytes.
MIN_SECRET_BYTES = keys.KEY_BYTES
MAX_LABEL = 200
ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
FINGERPRINT_PATTERN = re.compile(r"^[0-9a-f]{16}$")
MAC_PATTERN = re.compile(r"^[0-9a-f]{64}$")

_COPY_AAD = b"karbor-volume-glance/wrapped-key/v1\0"
_RECORD_MAC = "encryption-record"
_HKDF_INFO = {KEY_FILE: b"karbor-volume-glance/kek/key_file/v1",
              KEY_MANAGER: b"karbor-volume-glance/kek/key_manager/v1"}
_COPY_FIELDS = ("format", "id", "kind", "label", "created_at", "fingerprint",
                "kdf", "cipher", "nonce", "wrapped_key")
_RECORD_FIELDS = ("format", "encrypted", "format_version", "cipher_suite",
                  "fingerprint", "created_at", "mac")


def copy_key(copy_id):
    """A wrapped copy's key relative to :data:`KEYRING_ROOT`."""
    return f"{COPIES}{copy_id}"


def new_id():
    """A new wrapped copy's id: 16 hex digits."""
    return secrets.token_hex(8)


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat()


def _b64(data):
    return base64.b64encode(data).decode("ascii")


# --- KDFs ----------------------------------------------------------------------


def argon2id_available():
    """Whether the installed ``cryptography`` has Argon2id (44 and later)."""
    return Argon2id is not None


def new_kdf(kind, passphrase_kdf=SCRYPT):
    """The KDF record of a new copy of ``kind``, with a fresh salt."""
    salt = {"salt": _b64(secrets.token_bytes(SALT_BYTES))}
    if kind != PASSPHRASE:
        return {"name": HKDF, **salt}
    if passphrase_kdf not in PASSPHRASE_KDFS:
        raise ValueError(f"no passphrase KDF {passphrase_kdf!r}")
    if passphrase_kdf == ARGON2ID and not argon2id_available():
        raise ValueError("argon2id needs cryptography 44 or later")
    return {"name": passphrase_kdf, **PASSPHRASE_KDF_DEFAULTS[passphrase_kdf],
            **salt}


def describe_kdf(kdf):
    """A KDF record in one line, e.g. ``scrypt n=131072 r=8 p=1``."""
    params = " ".join(f"{name}={kdf[name]}" for name in sorted(kdf)
                      if name not in ("name", "salt"))
    return f"{kdf['name']} {params}".strip()


def derive_kek(kdf, secret):
    """The 32-byte key-encryption key of ``secret`` (bytes) under a checked
    KDF record."""
    salt = base64.b64decode(kdf["salt"])
    name = kdf["name"]
    if name == SCRYPT:
        return scrypt.Scrypt(salt=salt, length=keys.KEY_BYTES, n=kdf["n"],
                             r=kdf["r"], p=kdf["p"]).derive(secret)
    if name == ARGON2ID:
        return Argon2id(salt=salt, length=keys.KEY_BYTES,
                        iterations=kdf["iterations"], lanes=kdf["lanes"],
                        memory_cost=kdf["memory_cost"]).derive(secret)
    return hkdf.HKDF(algorithm=hashes.SHA256(), length=keys.KEY_BYTES,
                     salt=salt, info=kdf["info"]).derive(secret)


def _kdf_for(kind, kdf):
    """``kdf`` with what derive_kek needs beyond the record (HKDF's info)."""
    return {**kdf, "info": _HKDF_INFO[kind]} if kdf["name"] == HKDF else kdf


# --- wrapped copies -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WrappedKey:
    """One checked wrapped copy of a master key (:func:`parse_copy`)."""

    id: str
    kind: str
    label: str
    created_at: str
    fingerprint: str
    kdf: dict
    nonce: bytes
    wrapped_key: bytes
    raw: dict = dataclasses.field(repr=False, compare=False)

    def summary(self):
        """What ``key list`` shows: never key material."""
        return {"id": self.id, "kind": self.kind, "label": self.label,
                "created_at": self.created_at, "kdf": describe_kdf(self.kdf),
                "fingerprint": self.fingerprint}


def _copy_aad(raw, bank_id):
    fields = {name: raw[name] for name in _COPY_FIELDS
              if name not in ("nonce", "wrapped_key")}
    return _COPY_AAD + keys.canonical({"bank": bank_id, **fields})


def new_copy(master, secret, kind, bank_id, label="", kdf=None,
             passphrase_kdf=SCRYPT, created_at=None, copy_id=None):
    """A new wrapped copy (a dict, as stored) of ``master`` for ``secret``.

    ``secret`` is bytes (a passphrase's UTF-8, a key file's or key manager
    secret's bytes); ``bank_id`` the bank's owner id.
    """
    if kind not in KINDS:
        raise ValueError(f"no key source kind {kind!r}")
    raw = {
        "format": FORMAT,
        "id": copy_id or new_id(),
        "kind": kind,
        "label": label,
        "created_at": created_at or _now(),
        "fingerprint": master.fingerprint(),
        "kdf": kdf or new_kdf(kind, passphrase_kdf),
        "cipher": WRAP_CIPHER,
    }
    parse_copy({**raw, "nonce": _b64(bytes(NONCE_BYTES)),
                "wrapped_key": _b64(bytes(WRAPPED_BYTES))}, copy_key(raw["id"]))
    nonce = secrets.token_bytes(NONCE_BYTES)
    kek = derive_kek(_kdf_for(kind, raw["kdf"]), secret)
    sealed = AESGCM(kek).encrypt(nonce, master.material, _copy_aad(raw, bank_id))
    return {**raw, "nonce": _b64(nonce), "wrapped_key": _b64(sealed)}


def unwrap(copy, secret, bank_id):
    """The master key ``secret`` opens from ``copy`` (a :class:`WrappedKey`),
    or None when it does not (a wrong secret, another bank, a changed
    record: AES-GCM cannot tell them apart)."""
    kek = derive_kek(_kdf_for(copy.kind, copy.kdf), secret)
    try:
        material = AESGCM(kek).decrypt(copy.nonce, copy.wrapped_key,
                                       _copy_aad(copy.raw, bank_id))
    except InvalidTag:
        return None
    master = keys.MasterKey(material)
    if master.fingerprint() != copy.fingerprint:
        # the tag held, so whoever wrote it had the KEK: say so, not "wrong key"
        raise exceptions.InvalidKeyRecord(
            copy_key(copy.id), "opens to a key whose fingerprint "
            f"{master.fingerprint()} is not the recorded {copy.fingerprint}")
    return master


def _bytes(value, fault, field, sizes):
    if not isinstance(value, str):
        raise fault(f"{field} must be base64 text, got {type(value).__name__}")
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise fault(f"{field} is not base64") from None
    low, high = sizes
    if not low <= len(data) <= high:
        raise fault(f"{field} is {len(data)} bytes, not "
                    + (f"{low}" if low == high else f"{low} to {high}"))
    return data


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_params(kdf, bounds, fault):
    for name, (low, high) in bounds.items():
        value = kdf.get(name)
        if not _count(value) or not low <= value <= high:
            raise fault(f"kdf {name} {value!r} is not an integer from {low} "
                        f"to {high}")


def _parse_kdf(kdf, kind, fault):
    if not isinstance(kdf, dict):
        raise fault(f"kdf must be an object, got {type(kdf).__name__}")
    name = kdf.get("name")
    allowed = PASSPHRASE_KDFS if kind == PASSPHRASE else (HKDF,)
    if name not in allowed:
        raise fault(f"kdf {name!r} is not one a {kind} copy uses "
                    f"({', '.join(allowed)})")
    params = {SCRYPT: SCRYPT_BOUNDS, ARGON2ID: ARGON2ID_BOUNDS, HKDF: {}}[name]
    unknown = sorted(set(kdf) - {"name", "salt", *params}, key=str)
    if unknown:
        raise fault(f"kdf has unknown fields {unknown}")
    _bytes(kdf.get("salt"), fault, "kdf salt", SALT_RANGE)
    _check_params(kdf, params, fault)
    if name == SCRYPT:
        if kdf["n"] & (kdf["n"] - 1):
            raise fault(f"kdf n {kdf['n']} is not a power of two")
        if 128 * kdf["n"] * kdf["r"] > MAX_KDF_MEMORY:
            raise fault("kdf needs more than 1 GiB of memory (128 x n x r)")
    if name == ARGON2ID:
        if kdf["memory_cost"] < 8 * kdf["lanes"]:
            raise fault("kdf memory_cost is below 8 x lanes")
        if not argon2id_available():
            raise fault("kdf argon2id needs cryptography 44 or later")
    return dict(kdf)


def _check_text(raw, fault, field, pattern=None, maximum=MAX_LABEL):
    value = raw.get(field)
    if not isinstance(value, str):
        raise fault(f"{field} must be a string, got {type(value).__name__}")
    if pattern is not None and not pattern.fullmatch(value):
        raise fault(f"{field} {value!r} is not well formed")
    if len(value) > maximum or not value.isprintable():
        raise fault(f"{field} is longer than {maximum} characters or not "
                    "printable")
    return value


def _check_time(raw, fault, field="created_at"):
    value = _check_text(raw, fault, field, maximum=64)
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        raise fault(f"{field} {value!r} is not an ISO 8601 time") from None
    return value


def _check_fields(raw, fields, fault):
    if not isinstance(raw, dict):
        raise fault(f"expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(fields), key=str)
    missing = [name for name in fields if name not in raw]
    if unknown or missing:
        raise fault(f"unknown fields {unknown}" if unknown
                    else f"missing fields {missing}")
    if raw["format"] != FORMAT or not _count(raw["format"]):
        raise fault(f"format {raw['format']!r} is not {FORMAT}")


def parse_copy(raw, key):
    """The checked :class:`WrappedKey` of the object read at ``key``
    (relative to :data:`KEYRING_ROOT`); InvalidKeyRecord naming it else."""
    def fault(reason):
        return exceptions.InvalidKeyRecord(key, reason)

    _check_fields(raw, _COPY_FIELDS, fault)
    copy_id = _check_text(raw, fault, "id", ID_PATTERN)
    if key != copy_key(copy_id):
        raise fault(f"id {copy_id!r} is not its key's")
    if raw["kind"] not in KINDS:
        raise fault(f"kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
    if raw["cipher"] != WRAP_CIPHER:
        raise fault(f"cipher {raw['cipher']!r} is not {WRAP_CIPHER}")
    return WrappedKey(
        id=copy_id, kind=raw["kind"], label=_check_text(raw, fault, "label"),
        created_at=_check_time(raw, fault),
        fingerprint=_check_text(raw, fault, "fingerprint", FINGERPRINT_PATTERN),
        kdf=_parse_kdf(raw["kdf"], raw["kind"], fault),
        nonce=_bytes(raw["nonce"], fault, "nonce", (NONCE_BYTES, NONCE_BYTES)),
        wrapped_key=_bytes(raw["wrapped_key"], fault, "wrapped_key",
                           (WRAPPED_BYTES, WRAPPED_BYTES)),
        raw=dict(raw))


# --- the encryption record -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EncryptionRecord:
    """The bank's checked encryption record (:func:`parse_record`)."""

    format_version: int
    cipher_suite: str
    fingerprint: str
    created_at: str
    mac: str
    raw: dict = dataclasses.field(repr=False, compare=False)


def _record_mac(master, raw, bank_id):
    fields = {name: raw[name] for name in _RECORD_FIELDS if name != "mac"}
    return keys.mac(master.derive(_RECORD_MAC), {"bank": bank_id, **fields})


def new_record(master, bank_id, cipher_suite=CIPHER_SUITE,
               format_version=ENCRYPTED_FORMAT_VERSION, created_at=None):
    """A new encryption record (a dict, as stored) for ``master``."""
    raw = {"format": FORMAT, "encrypted": True,
           "format_version": format_version, "cipher_suite": cipher_suite,
           "fingerprint": master.fingerprint(),
           "created_at": created_at or _now()}
    raw["mac"] = _record_mac(master, raw, bank_id)
    return raw


def parse_record(raw, key=RECORD):
    """The checked :class:`EncryptionRecord` read at ``key``;
    InvalidKeyRecord naming it else."""
    def fault(reason):
        return exceptions.InvalidKeyRecord(key, reason)

    _check_fields(raw, _RECORD_FIELDS, fault)
    if raw["encrypted"] is not True:
        raise fault(f"encrypted {raw['encrypted']!r} is not true")
    if (not _count(raw["format_version"])
            or raw["format_version"] != ENCRYPTED_FORMAT_VERSION):
        raise fault(f"format_version {raw['format_version']!r} is not "
                    f"{ENCRYPTED_FORMAT_VERSION}")
    if raw["cipher_suite"] not in CIPHER_SUITES:
        raise fault(f"cipher_suite {raw['cipher_suite']!r} is not one of "
                    f"{', '.join(CIPHER_SUITES)}")
    return EncryptionRecord(
        format_version=raw["format_version"], cipher_suite=raw["cipher_suite"],
        fingerprint=_check_text(raw, fault, "fingerprint", FINGERPRINT_PATTERN),
        created_at=_check_time(raw, fault),
        mac=_check_text(raw, fault, "mac", MAC_PATTERN), raw=dict(raw))


def check_record(record, master, bank_id, key=RECORD):
    """Raise InvalidKeyRecord unless ``record`` is ``master``'s and this
    bank's (its fingerprint and its MAC)."""
    if record.fingerprint != master.fingerprint():
        raise exceptions.InvalidKeyRecord(
            key, f"names master key {record.fingerprint}, but the bank's "
            f"wrapped keys hold {master.fingerprint()}")
    if not keys.same_mac(record.mac, _record_mac(master, record.raw, bank_id)):
        raise exceptions.InvalidKeyRecord(
            key, "its MAC is not the master key's for this bank: it was "
            "changed, or copied from another bank")
