"""JSON schemas of the operations' parameters, and their validation.

OPTIONS_SCHEMA and RESTORE_SCHEMA are the volume-glance protection spec's,
plus our own options: ``compression``, ``snapshot_id``, ``incremental`` and
``parent_checkpoint_id`` to protect; ``restore_description``, ``server_id``,
``replace_volume``, ``volume_type`` and ``availability_zone`` to restore.
Unknown keys are refused so that a misspelt option fails loudly instead of
being ignored. :func:`validate` raises
:class:`~karbor_volume_glance.exceptions.InvalidParameters` naming the field
and the rule, e.g. ``backup_name: 'backup_name' is a required
property``.
"""

import jsonschema

from karbor_volume_glance import conf, exceptions

OPTIONS_SCHEMA = {
    "title": "Volume Glance Protection Options",
    "type": "object",
    "properties": {
        "backup_name": {
            "type": "string",
            "title": "Backup Name",
            "description": "The name of the backup.",
        },
        "description": {
            "type": "string",
            "title": "Description",
            "description": "The description of the backup.",
        },
        "compression": {
            "type": "string",
            "enum": list(conf.COMPRESSIONS),
            "title": "Compression",
            "description": "How chunks are compressed in the bank; the "
            "[volume_glance_plugin] compression option when not given.",
        },
        "snapshot_id": {
            "type": "string",
            "minLength": 1,
            "title": "Snapshot",
            "description": "Protect this existing snapshot of the volume (it "
            "must be 'available') instead of taking a temporary one. The "
            "snapshot is never changed or deleted.",
        },
        "incremental": {
            "type": "boolean",
            "title": "Incremental",
            "description": "Store only what changed since the parent backup: "
            "the available backup of the volume in this bank with the latest "
            "data_timestamp older than this one, or parent_checkpoint_id. "
            "Without a usable parent the backup is full, and its metadata "
            "says why.",
            "default": False,
        },
        "parent_checkpoint_id": {
            "type": "string",
            "minLength": 1,
            "title": "Parent Checkpoint",
            "description": "The checkpoint whose backup of this volume an "
            "incremental backup is based on; needs incremental.",
        },
    },
    "required": ["backup_name"],
    "dependencies": {"parent_checkpoint_id": {
        "properties": {"incremental": {"const": True}},
        "required": ["incremental"],
    }},
    "additionalProperties": False,
}

RESTORE_SCHEMA = {
    "title": "Volume Glance Protection Restore",
    "type": "object",
    "properties": {
        "restore_name": {
            "type": "string",
            "title": "Restore Resource Name",
            "description": "The name of the restored volume. When Karbor "
            "calls restore without it, the name is "
            "'<checkpoint id>@<original volume id>'.",
        },
        "restore_description": {
            "type": "string",
            "title": "Restore Description",
            "description": "The description of the restored volume; the "
            "original's (as recorded) when not given.",
        },
        "volume_type": {
            "type": "string",
            "minLength": 1,
            "title": "Volume Type",
            "description": "The restored volume's type (name or id), e.g. at "
            "another site. When not given, the original's recorded type if "
            "the target has it, else the target's default (with a warning). "
            "A type named here that the target lacks fails the restore "
            "before anything is created.",
        },
        "availability_zone": {
            "type": "string",
            "minLength": 1,
            "title": "Availability Zone",
            "description": "The restored volume's availability zone. When "
            "not given, the original's recorded zone if the target has it, "
            "else Cinder's choice (with a warning). A zone named here that "
            "the target lacks fails the restore before anything is created.",
        },
        "server_id": {
            "type": "string",
            "minLength": 1,
            "title": "Server",
            "description": "Once the restored volume is available, attach it "
            "to this server (Nova picks the device). With replace_volume, it "
            "takes the original volume's place on the server instead. If "
            "this fails the restore fails, and the restored volume is kept, "
            "detached.",
        },
        "replace_volume": {
            "type": "boolean",
            "title": "Replace Volume",
            "description": "Restore in place: the restored volume replaces "
            "the original volume on server_id, at the original's device (the "
            "original is detached, never deleted). The original must be "
            "attached to that server. On a failure the original is attached "
            "again where it was. When true, needs server_id.",
            "default": False,
        },
    },
    "required": ["restore_name"],
    "dependencies": {"replace_volume": {
        "if": {"properties": {"replace_volume": {"const": True}}},
        "then": {"required": ["server_id"]},
    }},
    "additionalProperties": False,
}

VERIFY_SCHEMA = {
    "title": "Volume Glance Protection Verify",
    "type": "object",
    "properties": {
        "deep": {
            "type": "boolean",
            "title": "Deep",
            "description": "Decompress every chunk and check its sha256 and "
            "the whole image's; without it, verify reads every stored object "
            "and checks its size.",
            "default": False,
        },
        "read_data_subset": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 100,
            "title": "Read data subset (%)",
            "description": "Check as deep does, but only a random N percent "
            "of the chunks (at least one), different ones each run: a daily "
            "5 covers about all of a year's data. Not with deep.",
        },
        "seed": {
            "type": "integer",
            "minimum": 0,
            "title": "Seed",
            "description": "The seed of read_data_subset's random choice, to "
            "check the same chunks again (default: a new one each run, "
            "reported).",
        },
    },
    "additionalProperties": False,
}

SAVED_INFO_SCHEMA = {
    "title": "Volume Glance Protection Saved Info",
    "type": "object",
    "properties": {
        "volume_id": {"type": "string", "description": "The protected volume."},
        "volume_size": {
            "type": "integer",
            "description": "The protected volume's size in GiB.",
        },
        "image_size": {
            "type": "integer",
            "description": "The bytes of volume data kept in the bank.",
        },
        "chunks_num": {
            "type": "integer",
            "description": "How many data objects hold the volume's data.",
        },
        "backup_name": {"type": "string"},
        "status": {"type": "string", "description": "The backup's status."},
        "data_timestamp": {
            "type": ["string", "null"],
            "description": "The backup's point in time (UTC, ISO 8601).",
        },
        "snapshot_id": {
            "type": ["string", "null"],
            "description": "The user's snapshot that was protected, if any.",
        },
        "incremental": {
            "type": "boolean",
            "description": "Whether the backup references a parent's chunks.",
        },
        "parent_checkpoint_id": {
            "type": ["string", "null"],
            "description": "The checkpoint of the parent backup, if any.",
        },
    },
    "required": [],
}


def _field_of(error):
    """The dotted path of the field an error is about."""
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        missing = [
            name for name in error.validator_value if name not in error.instance
        ]
        path += missing[:1]
    elif error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(name for name in error.instance if name not in allowed)
        path += extra[:1]
    return ".".join(path) or "parameters"


def validate(schema, parameters):
    """Check ``parameters`` against ``schema``; raise InvalidParameters if not.

    ``None`` counts as no parameters. All violations are looked at and the
    most relevant one reported, so the message names one field and one rule.
    """
    instance = {} if parameters is None else parameters
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise exceptions.InvalidParameters(
            _field_of(error), error.message, schema.get("title")
        )
    return instance
