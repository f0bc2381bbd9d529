"""An encrypted bank's keys: opening its master key, and managing the
wrapped copies of it.

The records are :mod:`karbor_volume_glance.format.keyring`'s, in the bank
under ``/volume_glance/keys/``. The key sources (:func:`sources`) are, each
when given:

* a passphrase, in the environment's ``KARBOR_VOLUME_GLANCE_PASSPHRASE``
  (:data:`ENV_PASSPHRASE`): it opens copies of kind ``passphrase``;
* a key file, ``[volume_glance_plugin] key_file``: copies of kind
  ``key_file``;
* a secret of OpenStack's key manager through castellan,
  ``[volume_glance_plugin] key_manager_secret_id`` with castellan's own
  ``[key_manager]`` options (the ``barbican`` extra): copies of kind
  ``key_manager``.

Secrets are never taken from the command line, and never logged, put in an
error, a notification or a manifest: messages name a source by its kind,
path or secret id only.

:func:`open_master_key` is what every operation calls; :func:`add_copy`,
:func:`list_copies` and :func:`remove_copy` are ``karbor-volume-glance key
add|list|remove``; :func:`readiness` is ``check``'s ``encryption`` line.
"""

import collections
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import threading

from oslo_log import log as logging

from karbor_volume_glance import conf as conf_module
from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import compat
from karbor_volume_glance.format import index as index_format
from karbor_volume_glance.format import keyring
from karbor_volume_glance.format.keys import MasterKey

LOG = logging.getLogger(__name__)

#: The environment variable holding the passphrase that opens the bank.
ENV_PASSPHRASE = "KARBOR_VOLUME_GLANCE_PASSPHRASE"
#: The environment variable of ``key add``'s new passphrase.
ENV_NEW_PASSPHRASE = "KARBOR_VOLUME_GLANCE_NEW_PASSPHRASE"
#: What a missing key source says, after ``bank X``.
NO_SOURCE = (f"no passphrase in {ENV_PASSPHRASE}, no key_file, no key "
             "manager secret configured")
CHECKPOINTS_ROOT = "/checkpoints/"


# --- key sources ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Source:
    """A key source: its kind, a description safe to show, and how to read
    its secret (bytes). Its repr never shows the secret."""

    kind: str
    name: str
    read: object = dataclasses.field(repr=False, compare=False)
    label: str = ""

    def secret(self):
        """The source's secret bytes; KeySourceError naming the source."""
        return self.read()

    def __str__(self):
        return self.name


def passphrase_source(environ, variable=ENV_PASSPHRASE):
    """The passphrase in ``environ[variable]``, or None when unset or empty."""
    value = environ.get(variable)
    if not value:
        return None
    data = value.encode("utf-8", "surrogateescape")
    return Source(keyring.PASSPHRASE, f"the passphrase in {variable}",
                  lambda: data, label="passphrase")


def key_file_source(path):
    """The key file at ``path``; its bytes are read when needed, and an
    unreadable or short file is a KeySourceError naming the path."""
    path = os.path.abspath(os.path.expanduser(path))
    name = f"key file {path}"

    def read():
        try:
            with open(path, "rb") as stream:
                data = stream.read(1 << 20)
        except OSError as exc:
            raise exceptions.KeySourceError(
                name, f"cannot be read: {exc.strerror or exc}") from None
        if len(data) < keyring.MIN_SECRET_BYTES:
            raise exceptions.KeySourceError(
                name, f"holds {len(data)} bytes; a key file holds at least "
                f"{keyring.MIN_SECRET_BYTES} random bytes (head -c 32 "
                "/dev/urandom)")
        return data

    return Source(keyring.KEY_FILE, name, read,
                  label=f"key file {os.path.basename(path)}")


def key_manager(config):
    """castellan's key manager for ``config`` (its ``[key_manager]``
    options); KeySourceError when castellan is not installed."""
    try:
        from castellan import key_manager as castellan_key_manager
    except ImportError:
        raise exceptions.KeySourceError(
            "key manager", "castellan is not installed: pip install "
            "'karbor-volume-glance[barbican]'") from None
    from oslo_config import cfg

    return castellan_key_manager.API(config if config is not None else
                                     cfg.ConfigOpts())


def key_manager_source(secret_id, manager, context):
    """The key manager secret ``secret_id``, fetched through ``manager`` (a
    castellan KeyManager, or a callable making one) as ``context``: its
    ``key_manager_credential`` (a castellan credential: the command line's
    Keystone token) when it has one, else the context itself (Karbor's
    RequestContext, which castellan takes as is)."""
    name = f"key manager secret {secret_id}"
    who = getattr(context, "key_manager_credential", None) or context

    def read():
        try:
            api = manager() if callable(manager) else manager
            managed = api.get(who, secret_id)
            data = managed.get_encoded()
        except exceptions.KeySourceError:
            raise
        except Exception as exc:  # castellan's and Barbican's errors alike
            raise exceptions.KeySourceError(
                name, f"cannot be fetched: {type(exc).__name__}") from None
        if not isinstance(data, bytes) or len(data) < keyring.MIN_SECRET_BYTES:
            raise exceptions.KeySourceError(
                name, f"holds fewer than {keyring.MIN_SECRET_BYTES} bytes")
        return data

    return Source(keyring.KEY_MANAGER, name, read,
                  label=f"key manager secret {secret_id}")


def _settings(conf):
    if isinstance(conf, conf_module.Settings):
        return conf, None
    return conf_module.load_settings(conf), conf


def sources(conf, environ=os.environ, context=None, manager=None):
    """The key sources ``conf`` (a ConfigOpts or Settings) and ``environ``
    give, in the order they are tried: passphrase, key file, key manager."""
    settings, config = _settings(conf)
    found = []
    passphrase = passphrase_source(environ)
    if passphrase is not None:
        found.append(passphrase)
    if settings.key_file:
        found.append(key_file_source(settings.key_file))
    if settings.key_manager_secret_id:
        maker = manager if manager is not None else (lambda: key_manager(config))
        found.append(key_manager_source(settings.key_manager_secret_id, maker,
                                        context))
    return found


# --- the bank's keyring ------------------------------------------------------------


class Keyring:
    """The key records of one bank (our Bank or Karbor's, or any section
    of it)."""

    def __init__(self, bank):
        if hasattr(bank, "prefix") or hasattr(bank, "_prefix"):
            self._section = compat.section_at(bank, keyring.KEYRING_ROOT)
            self._root = compat.section_at(bank, "/")
        else:
            self._section = bank.get_sub_section(keyring.KEYRING_ROOT)
            self._root = bank.get_sub_section("/")
        self._bank_id = None

    @property
    def bank_id(self):
        """The bank's owner id, which the records are bound to."""
        if self._bank_id is None:
            self._bank_id = self._section.get_owner_id()
        return self._bank_id

    def is_empty(self):
        """Whether the bank holds no key record at all (one listing)."""
        return not self._section.list_objects(limit=1)

    def record(self):
        """The checked encryption record, or None."""
        raw = compat.read_optional(self._section, keyring.RECORD)
        return None if raw is None else keyring.parse_record(raw)

    def copies(self):
        """``(checked copies, {key: InvalidKeyRecord} of damaged ones)``."""
        found, damaged = [], {}
        for key in compat.list_all(self._section, keyring.COPIES):
            raw = compat.read_optional(self._section, key)
            if raw is None:
                continue  # removed since the listing
            try:
                found.append(keyring.parse_copy(raw, key))
            except exceptions.InvalidKeyRecord as exc:
                damaged[key] = exc
        return found, damaged

    def put_copy(self, raw):
        self._section.update_object(keyring.copy_key(raw["id"]), raw)

    def remove_copy(self, key):
        compat.delete_if_present(self._section, key)

    def put_record(self, raw):
        self._section.update_object(keyring.RECORD, raw)

    def create_record(self, raw):
        """Store the encryption record unless the bank has one: True if this
        call created it, False if another was there (it stays), None if the
        bank cannot create conditionally (:func:`.compat.create_if_absent`:
        then it was written over whatever was there)."""
        return compat.create_if_absent(self._section, keyring.RECORD, raw)

    def plain_backup(self):
        """A key showing the bank holds a backup (an index entry, or a
        checkpoint section's manifest), or None."""
        entries = compat.section_at(self._root, index_format.INDEX_ROOT)
        first = entries.list_objects(limit=1)
        if first:
            return index_format.INDEX_ROOT + first[0]
        checkpoints = compat.section_at(self._root, CHECKPOINTS_ROOT)
        for key in compat.list_all(checkpoints):
            if "/resource-data/" in key and key.endswith("/metadata"):
                return CHECKPOINTS_ROOT + key
        return None


class _Opened:
    """The master keys this process opened, so that a protect of many
    volumes runs the passphrase's KDF (128 MiB, a second or so) once, not
    per volume. Keyed by the bank, the copy (its id and a digest of its whole
    record, so a changed copy is opened again) and an HMAC of the secret
    under a key of this process only, so a wrong secret never matches. Only
    successful opens are kept, at most :attr:`SIZE`, the least recent first
    out."""

    SIZE = 32

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = collections.OrderedDict()
        self._salt = secrets.token_bytes(32)

    def key(self, bank_id, copy, secret):
        record = hashlib.sha256(json.dumps(copy.raw, sort_keys=True).encode())
        return (bank_id, copy.id, record.hexdigest(),
                hmac.new(self._salt, secret, hashlib.sha256).hexdigest())

    def get(self, key):
        with self._lock:
            master = self._keys.get(key)
            if master is not None:
                self._keys.move_to_end(key)
            return master

    def put(self, key, master):
        with self._lock:
            self._keys[key] = master
            self._keys.move_to_end(key)
            while len(self._keys) > self.SIZE:
                self._keys.popitem(last=False)

    def clear(self):
        with self._lock:
            self._keys.clear()


OPENED = _Opened()
#: The encrypted banks this process was told to read with encrypt false.
_FOLLOWED = set()


def _unwrap(ring, copy, secret):
    """The master key ``secret`` opens from ``copy``, through :data:`OPENED`."""
    key = OPENED.key(ring.bank_id, copy, secret)
    master = OPENED.get(key)
    if master is None:
        master = keyring.unwrap(copy, secret, ring.bank_id)
        if master is not None:
            OPENED.put(key, master)
    return master


@dataclasses.dataclass(frozen=True)
class Opened:
    """A master key and how it was opened."""

    master: MasterKey
    copy: keyring.WrappedKey
    source: Source


def _try_sources(ring, available, copies, record):
    """The first copy a source opens, as an :class:`Opened`; else WrongKey
    (or the source's own KeySourceError when it is the only trouble)."""
    tried, problems = [], []
    for source in available:
        mine = [copy for copy in copies if copy.kind == source.kind]
        if not mine:
            tried.append((str(source), source.kind, []))
            continue
        try:
            secret = source.secret()
        except exceptions.KeySourceError as exc:
            problems.append(exc)
            continue
        for copy in mine:
            master = _unwrap(ring, copy, secret)
            if master is not None:
                if record is not None:
                    keyring.check_record(record, master, ring.bank_id)
                for exc in problems:
                    LOG.warning("Bank %s: %s (its key was opened by %s)",
                                ring.bank_id, exc, source)
                return Opened(master, copy, source)
        tried.append((str(source), source.kind, [copy.id for copy in mine]))
    if problems and not any(ids for _, _, ids in tried):
        raise problems[0]
    raise exceptions.WrongKey(ring.bank_id, tried, [str(p) for p in problems])


def _create(ring, available, settings):
    """Make the bank's master key, a copy per source, and its record."""
    if not available:
        raise exceptions.KeyMissing(
            ring.bank_id, f"is to be encrypted (encrypt is true): {NO_SOURCE} "
            "to wrap its new master key")
    plain = ring.plain_backup()
    if plain is not None:
        raise exceptions.EncryptionMismatch(
            ring.bank_id, "encrypt is true, but the bank holds plain backups "
            f"({plain}) and no key record (or its key records were deleted): "
            "a bank never mixes plain and encrypted backups; use a new bank "
            "for encrypted ones, or set encrypt = false")
    master = MasterKey.generate()
    made = []
    for source in available:
        raw = keyring.new_copy(master, source.secret(), source.kind,
                               ring.bank_id, label=source.label,
                               passphrase_kdf=settings.passphrase_kdf)
        ring.put_copy(raw)
        made.append(raw["id"])
    # two first protects at once: the record is created only if the bank has
    # none, so the first one wins; the others give their copies up and open
    # the winner's (with the sources they have, or a WrongKey naming them).
    # A bank without conditional create (Karbor's own, S3) keeps the record
    # written last, read back: doc/backup-format.rst says what is left there.
    created = ring.create_record(keyring.new_record(master, ring.bank_id))
    record = ring.record()
    if record is None or record.fingerprint != master.fingerprint():
        LOG.info("Bank %s: another run made its master key first (%s); this "
                 "run uses it", ring.bank_id,
                 "none" if record is None else record.fingerprint)
        for copy_id in made:
            ring.remove_copy(keyring.copy_key(copy_id))
        return None
    if created is None:
        LOG.warning("Bank %s cannot create objects conditionally: two first "
                    "encrypted protects at once could each make a master key",
                    ring.bank_id)
    LOG.info("Bank %s is now encrypted: master key %s, wrapped for %s",
             ring.bank_id, master.fingerprint(),
             ", ".join(str(source) for source in available))
    copies, _ = ring.copies()
    first = next(copy for copy in copies if copy.id == made[0])
    return Opened(master, first, available[0])


def open_bank_key(bank, conf, environ=os.environ, create=False, *,
                  context=None, manager=None, encrypt=None):
    """:func:`open_master_key`, with the copy and source that opened the
    key: an :class:`Opened`, or None for a plain bank."""
    settings, _ = _settings(conf)
    encrypt = settings.encrypt if encrypt is None else encrypt
    ring = Keyring(bank)
    copies, damaged = ring.copies()
    record = ring.record()
    available = sources(conf, environ, context, manager)
    if record is None and not copies:
        if damaged:
            raise exceptions.InvalidKeyRecord(
                next(iter(damaged)), f"the bank's only key records are "
                f"damaged: {'; '.join(str(exc) for exc in damaged.values())}")
        if not (encrypt and create):
            return None
        opened = _create(ring, available, settings)
        if opened is not None:
            return opened
        copies, _ = ring.copies()
        record = ring.record()
    if not encrypt and ring.bank_id not in _FOLLOWED:
        _FOLLOWED.add(ring.bank_id)  # said once per bank and process
        LOG.warning("Bank %s is encrypted: its backups are read and written "
                    "encrypted although [volume_glance_plugin] encrypt is "
                    "false", ring.bank_id)
    if record is not None:
        foreign = [copy for copy in copies
                   if copy.fingerprint != record.fingerprint]
        for copy in foreign:  # e.g. left by a first protect that lost a race
            LOG.warning("Bank %s: wrapped key %s skipped: it holds master key "
                        "%s, not the bank's %s", ring.bank_id, copy.id,
                        copy.fingerprint, record.fingerprint)
        copies = [copy for copy in copies if copy not in foreign]
    if not copies:
        raise exceptions.KeyMissing(
            ring.bank_id, "is encrypted, but holds no readable wrapped key: "
            "its backups cannot be read"
            + (f" ({'; '.join(str(e) for e in damaged.values())})"
               if damaged else ""))
    if not available:
        raise exceptions.KeyMissing(ring.bank_id, f"is encrypted: {NO_SOURCE}")
    for key, exc in damaged.items():
        LOG.warning("Bank %s: wrapped key %s skipped: %s", ring.bank_id, key,
                    exc.reason)
    opened = _try_sources(ring, available, copies, record)
    if record is None and create:
        # a first protect that died between its copies and its record (or
        # one running now): the first record made wins
        ring.create_record(keyring.new_record(opened.master, ring.bank_id))
        record = ring.record()
        if record is not None:
            keyring.check_record(record, opened.master, ring.bank_id)
    LOG.debug("Bank %s: master key %s opened by %s (wrapped key %s)",
              ring.bank_id, opened.master.fingerprint(), opened.source,
              opened.copy.id)
    return opened


def open_master_key(bank, conf, environ=os.environ, create=False, *,
                    context=None, manager=None, encrypt=None):
    """The bank's master key, or None for a plain bank.

    The contract, for every operation that reads or writes backups:

    * ``bank``: our :class:`~karbor_volume_glance.bank.section.Bank`,
      Karbor's, or any section of either (a retrying wrapper too).
    * ``conf``: the plugin's ConfigOpts (also castellan's ``[key_manager]``)
      or a :class:`~karbor_volume_glance.conf.Settings`; its ``encrypt``,
      ``key_file``, ``key_manager_secret_id`` and ``passphrase_kdf`` are
      read. ``encrypt`` (not None) overrides the option's value.
    * ``environ``: where ``KARBOR_VOLUME_GLANCE_PASSPHRASE`` is read.
    * ``context``: the request context the key manager is asked as;
      ``manager``: a castellan KeyManager to use instead of castellan's
      ``API(conf)`` (tests).

    Returns:

    * None when the bank holds no key record and ``encrypt`` is false, or
      ``create`` is false (a plain bank: read it plain);
    * a new master key when ``encrypt`` and ``create`` are true and the bank
      holds no key record and no backup: a wrapped copy per key source given
      and the bank's encryption record are written first (protect passes
      ``create=True``; restore, verify, delete do not);
    * the bank's master key when it is encrypted, whatever ``encrypt`` says
      (an encrypted bank stays encrypted; a warning says so when ``encrypt``
      is false), opened by the first source that opens a copy of its kind.

    Raises, before the caller has made anything:
    :class:`~karbor_volume_glance.exceptions.KeyMissing` (no key source, or
    no wrapped key left), ``WrongKey`` (the sources open none of the copies;
    it names each source and the copies of its kind), ``KeySourceError`` (a
    key file unreadable or too short, a key manager secret that cannot be
    fetched, named by path or id), ``EncryptionMismatch`` (``encrypt`` true
    for a bank that holds plain backups), ``InvalidKeyRecord`` (a damaged
    encryption record, or one that is not this master key's and bank's).
    None of them holds a secret.
    """
    opened = open_bank_key(bank, conf, environ, create, context=context,
                           manager=manager, encrypt=encrypt)
    return None if opened is None else opened.master


# --- key add, list, remove, and check ------------------------------------------------


def create_secret(conf=None, context=None, manager=None, name=None):
    """A new AES-256 key in the key manager, made by it (castellan's
    ``create_key``): its id, for ``key add --create-key-manager-secret``."""
    who = getattr(context, "key_manager_credential", None) or context
    try:
        api = manager if manager is not None else key_manager(
            None if isinstance(conf, conf_module.Settings) else conf)
        return api.create_key(who, "AES", 256, name=name)
    except exceptions.KeySourceError:
        raise
    except Exception as exc:
        raise exceptions.KeySourceError(
            "key manager", f"cannot create a secret: {type(exc).__name__}"
        ) from None


def new_source(environ=os.environ, key_file=None, secret_id=None, conf=None,
               context=None, manager=None):
    """The source ``key add`` wraps a new copy for: the passphrase in
    ``KARBOR_VOLUME_GLANCE_NEW_PASSPHRASE``, a key file, or a key manager
    secret; exactly one."""
    given = []
    passphrase = passphrase_source(environ, ENV_NEW_PASSPHRASE)
    if passphrase is not None:
        given.append(passphrase)
    if key_file:
        given.append(key_file_source(key_file))
    if secret_id:
        maker = manager if manager is not None else (
            lambda: key_manager(None if isinstance(conf, conf_module.Settings)
                                else conf))
        given.append(key_manager_source(secret_id, maker, context))
    if len(given) != 1:
        raise exceptions.KeySourceError(
            "key add", "needs exactly one new key source: "
            f"{ENV_NEW_PASSPHRASE}, --new-key-file or --new-key-manager-secret"
            f" (got {len(given)})")
    return given[0]


def add_copy(bank, conf, source, label=None, environ=os.environ, *,
             context=None, manager=None):
    """Wrap the bank's master key for ``source`` (:func:`new_source`) and
    store it; returns the new copy's summary. The bank's key is opened with
    the usual sources first; a bank new to encryption with ``encrypt`` true
    (and no backup) is made encrypted by it."""
    settings, _ = _settings(conf)
    opened = open_bank_key(bank, conf, environ, create=True, context=context,
                           manager=manager)
    ring = Keyring(bank)
    if opened is None:
        raise exceptions.KeyringRefused(
            ring.bank_id, "is not encrypted: set [volume_glance_plugin] "
            "encrypt = true to make it so (before its first backup)")
    raw = keyring.new_copy(opened.master, source.secret(), source.kind,
                           ring.bank_id, label=label or source.label,
                           passphrase_kdf=settings.passphrase_kdf)
    ring.put_copy(raw)
    LOG.info("Bank %s: wrapped key %s added for %s", ring.bank_id, raw["id"],
             source)
    return keyring.parse_copy(raw, keyring.copy_key(raw["id"])).summary()


def list_copies(bank):
    """A summary per wrapped copy (no key material): damaged ones with their
    ``damage``; [] for a plain bank."""
    ring = Keyring(bank)
    copies, damaged = ring.copies()
    rows = [copy.summary() for copy in copies]
    rows += [{"id": key.removeprefix(keyring.COPIES), "damage": exc.reason}
             for key, exc in damaged.items()]
    return sorted(rows, key=lambda row: (row.get("created_at") or "", row["id"]))


def encryption_record(bank):
    """The bank's encryption record as ``key list`` shows it (as recorded:
    without the key, its MAC is not checked), or ``{"encrypted": False}``."""
    ring = Keyring(bank)
    record = ring.record()
    if record is None:
        return {"bank": ring.bank_id, "encrypted": bool(ring.copies()[0])}
    return {"bank": ring.bank_id, "encrypted": True,
            "cipher_suite": record.cipher_suite,
            "format_version": record.format_version,
            "fingerprint": record.fingerprint, "created_at": record.created_at}


def remove_copy(bank, conf, copy_id, environ=os.environ, *, context=None,
                manager=None):
    """Remove one wrapped copy; the bank's key must open first, and at least
    one other readable copy of it must stay (removing the last is refused)."""
    opened = open_bank_key(bank, conf, environ, context=context,
                           manager=manager)
    ring = Keyring(bank)
    if opened is None:
        raise exceptions.KeyringRefused(ring.bank_id, "is not encrypted: it "
                                        "has no wrapped keys")
    copies, damaged = ring.copies()
    key = keyring.copy_key(copy_id)
    ids = [copy.id for copy in copies] + [k.removeprefix(keyring.COPIES)
                                          for k in damaged]
    if copy_id not in ids:
        raise exceptions.KeyringRefused(
            ring.bank_id, f"has no wrapped key {copy_id} (its keys: "
            f"{', '.join(sorted(ids))})")
    fingerprint = opened.master.fingerprint()
    others = [copy for copy in copies
              if copy.id != copy_id and copy.fingerprint == fingerprint]
    if not others:
        raise exceptions.KeyringRefused(
            ring.bank_id, f"wrapped key {copy_id} is its last: removing it "
            "would make every backup unreadable (add another first)")
    ring.remove_copy(key)
    LOG.info("Bank %s: wrapped key %s removed", ring.bank_id, copy_id)
    return {"id": copy_id, "removed": True, "remaining": len(others)}


def readiness(bank, conf, environ=os.environ, *, context=None, manager=None):
    """``(ready, detail)`` of check's ``encryption`` line, or None for a
    plain bank with ``encrypt`` false (nothing to say). Never writes."""
    settings, _ = _settings(conf)
    ring = Keyring(bank)
    try:
        empty = ring.is_empty()
    except Exception as exc:  # the bank's own line says what is wrong
        if not settings.encrypt:
            return None
        return False, f"cannot read the bank's keys: {type(exc).__name__}: {exc}"
    if empty and not settings.encrypt:
        return None
    if empty:
        available = sources(conf, environ, context, manager)
        if not available:
            return False, f"bank {ring.bank_id} is to be encrypted: {NO_SOURCE}"
        plain = ring.plain_backup()
        if plain is not None:
            return False, str(exceptions.EncryptionMismatch(
                ring.bank_id, f"encrypt is true, but the bank holds plain "
                f"backups ({plain})"))
        for source in available:
            try:
                source.secret()
            except exceptions.KeySourceError as exc:
                return False, str(exc)
        return True, ("not encrypted yet: its first protect encrypts it, "
                      "wrapping its master key for "
                      + ", ".join(str(source) for source in available))
    try:
        opened = open_bank_key(bank, conf, environ, context=context,
                               manager=manager)
    except exceptions.BankKeyError as exc:
        return False, str(exc)
    record = ring.record()
    suite = record.cipher_suite if record is not None else "no record yet"
    return True, (f"encrypted ({suite}): master key "
                  f"{opened.master.fingerprint()} opened by {opened.source} "
                  f"(wrapped key {opened.copy.id})")
