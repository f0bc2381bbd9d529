"""What a restore asks of the cloud it restores into, decided before anything
is created.

:func:`prepare` reads the backup's ``volume_attributes`` (format 3 manifests
since issue 12; None before) and the restore's parameters, looks at what the
target offers (volume types, availability zones) and at the project's room
(Cinder's limits, and its quota set for the per-type quotas where policy lets
the project read it), and returns a :class:`Target`: how to make the
temporary image and the volume, what to set on the volume once it exists, and
the warnings for what cannot be honoured here. It raises, before the restore
uploads anything:

* :class:`~karbor_volume_glance.exceptions.InvalidParameters` for a
  ``volume_type`` or ``availability_zone`` *named in the parameters* that
  does not exist at the target;
* :class:`~karbor_volume_glance.exceptions.CloudError` naming the quota and
  its numbers when the new volume would exceed one (``volumes``,
  ``gigabytes``, ``per_volume_gigabytes``, ``volumes_<type>``,
  ``gigabytes_<type>``).

A check the target does not answer (a policy, an older Cinder) is skipped
with a warning. A volume type or zone *recorded* with the backup that the
target lacks is only a warning: the volume gets the target's default
(another site need not name them alike). So is a multiattach or encrypted
original whose property the target's type does not give.
"""

import dataclasses

from oslo_log import log as logging

from karbor_volume_glance import exceptions

LOG = logging.getLogger(__name__)

#: Cinder's own keys of ``volume_image_metadata``, from the source image's
#: core fields: Cinder sets them from the temporary image; restore puts the
#: original's back on the volume afterwards.
IMAGE_BASE_KEYS = ("image_id", "image_name", "checksum", "size", "disk_format",
                   "container_format", "min_disk", "min_ram")
#: Keys never set as properties of the temporary image: Cinder's base keys,
#: Glance's core and read-only fields, and those that would make Cinder or
#: Nova act on the image (its encryption key, a signature to verify).
NOT_IMAGE_PROPERTIES = frozenset(IMAGE_BASE_KEYS) | {
    "id", "name", "status", "visibility", "protected", "os_hidden", "owner",
    "tags", "created_at", "updated_at", "virtual_size", "os_hash_algo",
    "os_hash_value", "direct_url", "locations", "self", "file", "schema",
    "stores", "signature_verified", "cinder_encryption_key_id",
    "cinder_encryption_key_deletion_policy", "img_signature",
    "img_signature_hash_method", "img_signature_key_type",
    "img_signature_certificate_uuid",
}
RESERVED_PREFIXES = ("os_glance",)
#: Keys of the original's image metadata never set on the restored volume.
NOT_VOLUME_IMAGE_METADATA = frozenset({
    "cinder_encryption_key_id", "cinder_encryption_key_deletion_policy",
    "signature_verified", "img_signature", "img_signature_hash_method",
    "img_signature_key_type", "img_signature_certificate_uuid",
})
MULTIATTACH_SPEC = ("multiattach", "<is> True")


@dataclasses.dataclass
class Target:
    """How the restore makes the volume, and what it could not honour."""

    volume_type: str | None = None
    availability_zone: str | None = None
    description: str | None = None
    metadata: dict | None = None
    image_properties: dict = dataclasses.field(default_factory=dict)
    min_disk: int = 0
    min_ram: int = 0
    #: None: leave what Cinder sets (a manifest without attributes).
    bootable: bool | None = None
    #: The original's volume_image_metadata; None: leave what Cinder sets.
    image_metadata: dict | None = None
    warnings: list = dataclasses.field(default_factory=list)

    def warn(self, message):
        LOG.warning("Restore: %s", message)
        self.warnings.append(message)


def image_properties(image_metadata):
    """The properties to give the temporary image so Cinder copies them into
    the new volume's ``volume_image_metadata``."""
    return {key: value for key, value in (image_metadata or {}).items()
            if key not in NOT_IMAGE_PROPERTIES
            and not key.startswith(RESERVED_PREFIXES)
            and isinstance(value, str)}


def _int(value):
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _asked(target, what, call):
    """``call()``, or None (with a warning) when the cloud does not answer it:
    a check the target cannot answer is skipped, not a reason to fail."""
    try:
        return call()
    except exceptions.CloudError as exc:
        target.warn(f"could not check {what} before restoring: {exc}")
        return None


def prepare(cloud, backup, params, project_id=None):
    """Check the target and plan the volume; raise before anything is made."""
    attributes = backup.volume_attributes
    target = Target(description=params.get("restore_description"))
    types = _asked(target, "the volume types", cloud.volume_types)
    if types is None:  # unchecked: Cinder says if the type is unknown
        target.volume_type = params.get("volume_type") or (
            attributes or {}).get("volume_type")
        type_name, types = target.volume_type, {}
    else:
        type_name = _volume_type(target, types, params, attributes)
    _availability_zone(target, cloud, params, attributes)
    if attributes is not None:
        _reproduce(target, attributes, types, type_name, backup.volume_size)
    check_room(cloud, project_id, backup.volume_size,
               type_name or ("__DEFAULT__" if "__DEFAULT__" in types else None),
               target)
    return target


def _volume_type(target, types, params, attributes):
    requested = params.get("volume_type")
    by_id = {info["id"]: name for name, info in types.items()}
    if requested is not None:
        name = requested if requested in types else by_id.get(requested)
        if name is None:
            raise exceptions.InvalidParameters(
                "volume_type", f"volume type {requested!r} does not exist at "
                f"the target (it has: {', '.join(sorted(types)) or 'none'})")
        target.volume_type = name
        return name
    recorded = (attributes or {}).get("volume_type")
    if recorded is None:
        return None
    if recorded in types or recorded in by_id:
        target.volume_type = recorded if recorded in types else by_id[recorded]
        return target.volume_type
    target.warn(f"the original's volume type {recorded!r} does not exist here: "
                "the restored volume gets the default type (the volume_type "
                "parameter chooses one)")
    return None


def _availability_zone(target, cloud, params, attributes):
    requested = params.get("availability_zone")
    recorded = (attributes or {}).get("availability_zone")
    if requested is None and recorded is None:
        return
    zones = _asked(target, "the availability zones", cloud.availability_zones)
    if zones is None:
        target.availability_zone = requested or recorded
        return
    if requested is not None:
        if requested not in zones:
            raise exceptions.InvalidParameters(
                "availability_zone", f"availability zone {requested!r} does not "
                f"exist at the target (it has: {', '.join(sorted(zones))})")
        target.availability_zone = requested
    elif recorded in zones:
        target.availability_zone = recorded
    else:
        target.warn(f"the original's availability zone {recorded!r} does not "
                    "exist here: Cinder chooses one (the availability_zone "
                    "parameter chooses it)")


def _reproduce(target, attributes, types, type_name, size):
    """What the original was: metadata, image metadata, bootable."""
    target.metadata = dict(attributes.get("metadata") or {})
    if target.description is None:
        target.description = attributes.get("description")
    image_metadata = dict(attributes.get("volume_image_metadata") or {})
    target.image_metadata = image_metadata
    target.image_properties = image_properties(image_metadata)
    target.min_disk = min(_int(image_metadata.get("min_disk")), size)
    target.min_ram = _int(image_metadata.get("min_ram"))
    if attributes.get("bootable") is not None:
        target.bootable = attributes["bootable"]
    specs = types.get(type_name, {}).get("extra_specs") or {}
    if attributes.get("multiattach") and \
            specs.get(MULTIATTACH_SPEC[0]) != MULTIATTACH_SPEC[1]:
        target.warn(f"the original volume was multiattach; volume type "
                    f"{type_name or 'default'!r} here is not")
    if attributes.get("encrypted"):
        target.warn("the original volume was encrypted: the restored volume "
                    "holds its encrypted bytes, which only the original's key "
                    "opens")


def check_room(cloud, project_id, size, type_name, target):
    """Refuse, naming the quota and its numbers, a volume of ``size`` GiB that
    the project's quotas cannot hold (limits API; quota set for types)."""
    limits = _asked(target, "the volume quotas", cloud.volume_limits) or {}
    checks = [
        ("volumes", limits.get("maxTotalVolumes"),
         limits.get("totalVolumesUsed"), 1, "volume"),
        ("gigabytes", limits.get("maxTotalVolumeGigabytes"),
         limits.get("totalGigabytesUsed"), size, "GiB"),
    ]
    usage = {}
    if project_id:
        usage = _asked(target, "the per-type volume quotas",
                       lambda: cloud.volume_quota_usage(project_id)) or {}
    largest = (usage.get("per_volume_gigabytes") or {}).get("limit")
    if isinstance(largest, int) and 0 <= largest < size:
        raise exceptions.CloudError(
            f"quota per_volume_gigabytes of project {project_id} cannot hold "
            f"the restored volume: it needs {size} GiB, limit {largest}; "
            "nothing was created", kind="quota", resource_id=project_id)
    if type_name is not None:
        for name, amount, unit in ((f"volumes_{type_name}", 1, "volume"),
                                   (f"gigabytes_{type_name}", size, "GiB")):
            entry = usage.get(name)
            if entry:
                used = (entry.get("in_use") or 0) + (entry.get("reserved") or 0)
                checks.append((name, entry.get("limit"), used, amount, unit))
    for name, limit, used, amount, unit in checks:
        if not isinstance(limit, int) or limit < 0:
            continue  # unlimited, or not told
        used = used or 0
        if used + amount > limit:
            raise exceptions.CloudError(
                f"quota {name} of project {project_id} cannot hold the restored "
                f"volume: it needs {amount} {unit}, limit {limit}, {used} in "
                "use; nothing was created", kind="quota", resource_id=project_id)
