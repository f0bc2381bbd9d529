"""Notification payloads, modelled on Cinder's backup usage payload.

Every payload has the same keys (``None`` where the operation does not know
the value yet): who (``tenant_id``/``project_id``, ``user_id``), where
(``availability_zone``, ``host``), which backup (``checkpoint_id``,
``volume_id``, ``snapshot_id``, ``backup_name``, ``description``,
``parent_checkpoint_id``), its state (``created_at``, ``status``, ``size``
in GiB and ``size_bytes``) and ``service_metadata``: the bank's kind and
location, without credentials, the chunk size and the compression.
"""

import urllib.parse

from karbor_volume_glance.bank import compat

SECRET_WORDS = ("password", "secret", "key", "token", "credential", "signature")


def public_location(url):
    """``url`` without user info and without query parameters that look secret."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = [(name, value) for name, value in urllib.parse.parse_qsl(parts.query)
             if not any(word in name.lower() for word in SECRET_WORDS)]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path,
                                    urllib.parse.urlencode(query), ""))


def describe_bank(section):
    """``{"kind", "location"}`` of the bank a section is in, for payloads."""
    bank = compat.bank_of(section)
    backend = getattr(bank, "backend", None)
    describe = getattr(backend, "describe", None)
    if callable(describe):
        kind, location = describe()
        return {"kind": kind, "location": public_location(location)}
    plugin = getattr(bank, "_plugin", None)  # Karbor's Bank over a bank plugin
    return {"kind": type(plugin or bank).__name__, "location": None}


def base(context, host, checkpoint_id, volume_id, section, settings):
    """The payload of an operation on one volume's backup, before it starts."""
    project_id = getattr(context, "project_id", None)
    return {
        "tenant_id": project_id,
        "project_id": project_id,
        "user_id": getattr(context, "user_id", None),
        "availability_zone": None,
        "host": host,
        "checkpoint_id": checkpoint_id,
        "volume_id": volume_id,
        "snapshot_id": None,
        "backup_name": None,
        "description": None,
        "parent_checkpoint_id": None,
        "created_at": None,
        "status": None,
        "size": None,
        "size_bytes": None,
        "service_metadata": {
            "bank": describe_bank(section),
            "chunk_size": settings.backup_image_object_size,
            "compression": settings.compression,
        },
    }


def from_manifest(manifest):
    """The payload fields a backup's manifest (a dict) can fill."""
    if not isinstance(manifest, dict):
        return {}
    fields = {
        "snapshot_id": manifest.get("snapshot_id"),
        "backup_name": manifest.get("backup_name"),
        "description": manifest.get("description"),
        "parent_checkpoint_id": manifest.get("parent_checkpoint_id"),
        "created_at": manifest.get("created_at"),
        "size": manifest.get("volume_size"),
        "size_bytes": manifest.get("image_size"),
    }
    service = {key: manifest[key] for key in ("chunk_size", "compression")
               if key in manifest}
    fields = {key: value for key, value in fields.items() if value is not None}
    if service:
        fields["service_metadata"] = service
    return fields


def fail_reason(exc):
    """What went wrong, as Cinder puts it in ``fail_reason``."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {cause}"
