"""Every error the library raises, each saying what failed and on which thing.

Callers catch :class:`VolumeGlanceError` for anything of ours. Each class keeps
the names it was built with as attributes (``option``, ``field``, ``key``,
``resource_id`` …) so that callers and tests need not parse messages.
"""


class VolumeGlanceError(Exception):
    """Base of every error raised by karbor_volume_glance."""


# --- input: configuration and parameters -----------------------------------


class InvalidConfiguration(VolumeGlanceError):
    """A configuration option has a value the plugin cannot work with."""

    def __init__(self, option, reason, group="volume_glance_plugin"):
        self.option = option
        self.group = group
        self.reason = reason
        super().__init__(f"[{group}] {option}: {reason}")


class InvalidParameters(VolumeGlanceError):
    """Operation parameters do not satisfy the operation's JSON schema."""

    def __init__(self, field, rule, schema_title=None):
        self.field = field
        self.rule = rule
        self.schema_title = schema_title
        super().__init__(f"{field}: {rule}")


class UnsupportedResourceType(VolumeGlanceError):
    def __init__(self, resource_type, supported):
        self.resource_type = resource_type
        super().__init__(
            f"resource type {resource_type!r} is not supported "
            f"(supported: {', '.join(supported)})"
        )


# --- the bank ---------------------------------------------------------------


class BankError(VolumeGlanceError):
    """A bank operation failed."""

    def __init__(self, message, key=None):
        self.key = key
        super().__init__(message)


class InvalidBankKey(BankError):
    """A key or section name breaks the bank's key rules."""

    def __init__(self, key, reason):
        self.reason = reason
        super().__init__(f"invalid bank key {key!r}: {reason}", key=key)


class BankNotReady(BankError):
    """A readiness probe of the bank failed."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(f"bank not ready: {reason}")


class BankObjectNotFound(BankError):
    def __init__(self, key):
        super().__init__(f"bank object {key!r} does not exist", key=key)


class BankObjectTooLarge(BankError):
    """A bank object read with a bound is larger than the bound; it was not
    read whole (``size`` is what the store says of it, or None)."""

    def __init__(self, key, max_size, size=None):
        self.max_size = max_size
        self.size = size
        held = f"holds {size} bytes" if size is not None else "holds more"
        super().__init__(f"bank object {key!r} {held}, more than the "
                         f"{max_size} expected: it was not read", key=key)


def check_object_size(key, payload, max_size):
    """``payload``; BankObjectTooLarge if it is longer than ``max_size``
    (None: no bound)."""
    if max_size is not None and len(payload) > max_size:
        raise BankObjectTooLarge(key, max_size, len(payload))
    return payload


class BankReadOnly(BankError):
    def __init__(self, key=None):
        where = f" (key {key!r})" if key else ""
        super().__init__(f"bank section is read-only{where}", key=key)


class UnknownBankBackend(BankError):
    def __init__(self, name, known):
        self.name = name
        super().__init__(
            f"no bank backend named {name!r} (known: {', '.join(sorted(known))})"
        )


# --- the cloud --------------------------------------------------------------


class CloudError(VolumeGlanceError):
    """A cloud call failed or a resource ended in a state we cannot use."""

    def __init__(self, message, kind=None, resource_id=None):
        self.kind = kind
        self.resource_id = resource_id
        super().__init__(message)


class ResourceFailed(CloudError):
    """A resource reached a failure status (error, killed, …)."""

    def __init__(self, kind, resource_id, status, expected):
        self.status = status
        self.expected = tuple(expected)
        super().__init__(
            f"{kind} {resource_id} went to status {status!r} while waiting "
            f"for {'/'.join(self.expected)}",
            kind=kind,
            resource_id=resource_id,
        )


class DeletionRefused(ResourceFailed):
    """Cinder took a deletion, then its driver refused it as busy and the
    resource is ``available`` again (``VolumeIsBusy``/``SnapshotIsBusy``)."""

    def __init__(self, kind, resource_id, status, attempts=1):
        self.attempts = attempts
        super().__init__(kind, resource_id, status, ["deleted"])
        self.args = (f"{kind} {resource_id} is {status!r} again after "
                     f"{attempts} deletion(s): Cinder's driver refused to "
                     f"delete it as busy",)


class ResourceTimeout(CloudError):
    """A resource did not reach the awaited status in time."""

    def __init__(self, kind, resource_id, status, expected, timeout):
        self.status = status
        self.expected = tuple(expected)
        self.timeout = timeout
        super().__init__(
            f"{kind} {resource_id} still {status!r} after {timeout:g} s "
            f"waiting for {'/'.join(self.expected)}",
            kind=kind,
            resource_id=resource_id,
        )


class ResourceUnusable(ResourceFailed):
    """A resource is, before anything was asked of it, in a status from which
    it will not reach what an operation needs (one of Cinder's failure
    statuses)."""

    def __init__(self, kind, resource_id, status, expected):
        super().__init__(kind, resource_id, status, expected)
        self.args = (f"{kind} {resource_id} is {status!r}: it will not become "
                     f"{'/'.join(self.expected)}",)


class ResourceGone(CloudError):
    """A resource does not exist, or disappeared while we were waiting for it."""

    def __init__(self, kind, resource_id, expected, existed=True):
        self.expected = tuple(expected)
        self.existed = existed
        if existed:
            message = (f"{kind} {resource_id} disappeared while waiting for "
                       f"{'/'.join(self.expected)}")
        else:
            message = (f"{kind} {resource_id} not found (it does not exist, or "
                       "this project cannot see it)")
        super().__init__(message, kind=kind, resource_id=resource_id)


class PlacementFailed(CloudError):
    """A restored volume could not be attached to its server, or could not
    replace the original volume there; the restored volume is kept.

    ``rolled_back`` says whether the server's volumes are as they were
    (None when nothing had been changed), ``rollback_error`` why not.
    """

    def __init__(self, message, server_id, volume_id, old_volume_id=None,
                 rolled_back=None, rollback_error=None):
        self.server_id = server_id
        self.volume_id = volume_id
        self.old_volume_id = old_volume_id
        self.rolled_back = rolled_back
        self.rollback_error = rollback_error
        super().__init__(message, kind="server", resource_id=server_id)


# --- the backup's data ------------------------------------------------------


class BackupNotAvailable(VolumeGlanceError):
    """The backup in the bank is not in a state the operation can use."""

    def __init__(self, resource_id, status):
        self.resource_id = resource_id
        self.status = status
        super().__init__(
            f"backup of volume {resource_id} has status {status!r}, "
            "not 'available'"
        )


class InvalidBackupMetadata(VolumeGlanceError):
    """The backup's metadata in the bank is missing or contradicts itself."""

    def __init__(self, resource_id, reason):
        self.resource_id = resource_id
        self.reason = reason
        super().__init__(f"backup metadata of volume {resource_id}: {reason}")


class RecordNotAuthentic(InvalidBackupMetadata):
    """A record of an encrypted bank (an index entry) whose MAC does not hold
    under the bank's key: changed, forged, or moved from another key."""

    def __init__(self, resource_id, record, reason):
        self.record = record
        super().__init__(resource_id, f"{record} is not authentic: {reason}")


class CheckpointNotAuthentic(RecordNotAuthentic):
    """A checkpoint record (``index.json``) this library made on an encrypted
    bank whose MAC or sealed names do not hold under the bank's key: edited,
    moved from another checkpoint, its names swapped or its seal stripped."""

    def __init__(self, checkpoint_id, reason):
        self.checkpoint_id = checkpoint_id
        self.record = f"checkpoint record {checkpoint_id}"
        self.resource_id = checkpoint_id
        self.reason = reason
        VolumeGlanceError.__init__(
            self, f"checkpoint {checkpoint_id}: its record is not authentic: "
            f"{reason}")


class BackupDeleted(InvalidBackupMetadata):
    """The backup was deleted while it was being made: it stays deleted."""


class BackupKeyRequired(InvalidBackupMetadata):
    """The backup is encrypted and no key of its bank was given."""

    def __init__(self, resource_id, checkpoint_id, fingerprint):
        self.checkpoint_id = checkpoint_id
        self.fingerprint = fingerprint
        super().__init__(
            resource_id, f"the backup in checkpoint {checkpoint_id} is "
            f"encrypted (key {fingerprint}) and no key of the bank was given")


class BackupKeyMismatch(InvalidBackupMetadata):
    """The backup is encrypted under another master key than the one given."""

    def __init__(self, resource_id, checkpoint_id, recorded, given):
        self.checkpoint_id = checkpoint_id
        super().__init__(
            resource_id, f"the backup in checkpoint {checkpoint_id} is "
            f"encrypted under key {recorded!r}, the key given is {given}")


class ChunkIntegrityError(VolumeGlanceError):
    """A chunk of backup data is missing, truncated or corrupted."""

    def __init__(self, chunk, reason):
        self.chunk = chunk
        self.reason = reason
        super().__init__(f"chunk {chunk}: {reason}")


class BackupDamaged(VolumeGlanceError):
    """A deep verify found damage: every bad chunk (or the manifest) named.

    ``bad`` holds one ``{"kind": "chunk" or "manifest", "object": ...,
    "reason": ...}`` per damaged object; ``report`` is what the verify
    checked (its JSON output).
    """

    def __init__(self, resource_id, bad, report=None):
        self.resource_id = resource_id
        self.bad = list(bad)
        self.report = report
        named = "; ".join(f"{item['kind']} {item['object']}: {item['reason']}"
                          for item in self.bad)
        super().__init__(f"backup of volume {resource_id}: {len(self.bad)} "
                         f"damaged: {named}")


class ImageIntegrityError(VolumeGlanceError):
    """The image as Glance stored it differs from the bytes we sent or got."""

    def __init__(self, image_id, reason):
        self.image_id = image_id
        self.reason = reason
        super().__init__(f"image {image_id}: {reason}")


# --- operations -------------------------------------------------------------


class OperationFailed(VolumeGlanceError):
    """An operation failed; ``cause`` is the error that made it fail."""

    operation = "operation"

    def __init__(self, resource_id, cause):
        self.resource_id = resource_id
        self.cause = cause
        super().__init__(
            f"{self.operation} of volume {resource_id} failed: "
            f"{type(cause).__name__}: {cause}"
        )


class ProtectFailed(OperationFailed):
    operation = "protect"


class RestoreFailed(OperationFailed):
    operation = "restore"


class DeleteFailed(OperationFailed):
    operation = "delete"


class VerifyFailed(OperationFailed):
    operation = "verify"


class ProtectRefused(VolumeGlanceError):
    """A protect refused before a checkpoint was created: ``failures`` holds
    one ProtectFailed per volume that cannot be protected, each naming it."""

    def __init__(self, failures):
        self.failures = list(failures)
        super().__init__(
            f"protect refused, nothing was created: {len(self.failures)} "
            f"volume(s) cannot be protected: "
            + "; ".join(str(failure) for failure in self.failures))


class NotReady(VolumeGlanceError):
    """The bank or the cloud does not answer; nothing was started."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(f"not ready: {reason}")


class InvalidCheckpointRecord(VolumeGlanceError):
    """A checkpoint's record (its ``index.json``) or an index key pointing at
    it is damaged: unreadable, or not the shape Karbor's layout has."""

    def __init__(self, checkpoint_id, reason):
        self.checkpoint_id = checkpoint_id
        self.reason = reason
        super().__init__(f"checkpoint {checkpoint_id}: record damaged: {reason}")


class CheckpointNotFound(VolumeGlanceError):
    """No checkpoint with that id in the bank (or not in this project)."""

    def __init__(self, checkpoint_id):
        self.checkpoint_id = checkpoint_id
        super().__init__(f"checkpoint {checkpoint_id} could not be found")


class NotAuthorized(VolumeGlanceError):
    """The caller may not do this: not authenticated, or without the admin
    role where it is needed (``list --all-projects``, ``delete
    --bank-only``)."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(f"not authorized: {reason}")


# --- an encrypted bank's keys -------------------------------------------------


class BankKeyError(VolumeGlanceError):
    """An encrypted bank's master key cannot be opened, made or managed.

    No message of this family ever holds key material, a passphrase or a
    key-encryption key: only ids, kinds, fingerprints and paths.
    """


class InvalidKeyRecord(BankKeyError):
    """A key record of the bank (its encryption record or a wrapped copy,
    under ``/volume_glance/keys/``) is damaged or not this bank's."""

    def __init__(self, key, reason):
        self.key = key
        self.reason = reason
        super().__init__(f"key record {key}: {reason}")


class KeyMissing(BankKeyError):
    """The bank is encrypted (or is to be) and no key source is given."""

    def __init__(self, bank, reason):
        self.bank = bank
        self.reason = reason
        super().__init__(f"bank {bank} {reason}")


class WrongKey(BankKeyError):
    """The key sources given open none of the bank's wrapped copies.

    ``tried`` is ``[(source description, kind, [copy ids of that kind])]``.
    """

    def __init__(self, bank, tried, problems=()):
        self.bank = bank
        self.tried = [(source, kind, list(ids)) for source, kind, ids in tried]
        self.problems = list(problems)
        parts = []
        for source, kind, ids in self.tried:
            if ids:
                parts.append(f"{source} opens none of the bank's {len(ids)} "
                             f"{kind} wrapped keys (ids {', '.join(ids)})")
            else:
                parts.append(f"the bank has no {kind} wrapped key for {source}")
        super().__init__(f"bank {bank} is encrypted: "
                         + "; ".join(parts + self.problems))


class KeySourceError(BankKeyError):
    """A key source cannot be read: a key file unreadable or too short, a key
    manager secret that cannot be fetched. ``source`` names it (a path, a
    secret id), never its content."""

    def __init__(self, source, reason):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class EncryptionMismatch(BankKeyError):
    """Plain and encrypted backups would mix: ``encrypt`` is true for a bank
    that already holds plain backups."""

    def __init__(self, bank, reason):
        self.bank = bank
        self.reason = reason
        super().__init__(f"bank {bank}: {reason}")


class KeyringRefused(BankKeyError):
    """A change of the wrapped copies that is refused: removing the last
    one, or one the bank does not have."""

    def __init__(self, bank, reason):
        self.bank = bank
        self.reason = reason
        super().__init__(f"bank {bank}: {reason}")
