"""The JSON schema of a plan file, and validation naming the failing field.

A plan file is YAML (see :mod:`.model` for what each field means)::

    name: nightly-db                  # required
    id: 6f1c...                       # optional: the plan's id (default: from
                                      #   the name and the caller's project)
    bank: file:///srv/backups         # required; a bank URL, as --bank
    parallelism: 2                    # optional: volumes at once (1-64)
    sites:                            # required: site name -> clouds.yaml cloud
      site-a: site-a                  #   the cloud's name, or
      site-b: {cloud: dr, config_file: dr.conf}   # with a plugin config file
      site-c: {cloud: c, key_file: c.key}         # the bank's key file there
    options: {incremental: true}      # optional: protect options of every volume
                                      #   and encrypt: true (the plan's bank)
    restore: {restore_description: from nightly-db}   # optional: restore defaults
    resources:                        # required: the volumes, in order
      - 5f0c...                       #   a volume id, or
      - id: 7a1b...
        options: {backup_name: db-logs, compression: zstd}
        restore: {restore_name: db-logs}

The ``options`` and ``restore`` mappings take the plugin's protect and restore
options (:data:`karbor_volume_glance.schemas.OPTIONS_SCHEMA` and
``RESTORE_SCHEMA``); a resource's own options win over the plan's defaults,
and the merged options are checked against the plugin's schemas too (so a
``parent_checkpoint_id`` needs ``incremental`` from either). Per-volume
choices (``snapshot_id``, ``parent_checkpoint_id``, ``server_id``,
``replace_volume``) are refused in the plan-wide defaults: they cannot be
right for every volume. The other way round, ``encrypt`` (a boolean) is
taken only in the plan-wide ``options``: it is ``[volume_glance_plugin]
encrypt`` of the plan's one bank (:data:`PER_BANK_OPTIONS`), never a
volume's; and a site's ``key_file`` is that option where the site runs.
Unknown keys are refused everywhere, so a misspelt field fails loudly.

:func:`check` raises :class:`~.errors.PlanError` naming the file and the
field, e.g. ``plan.yaml: resources[1].options.compression: 'lz4' is not one
of ['none', 'zlib', 'zstd']``.
"""

import copy

import jsonschema

from karbor_volume_glance import exceptions, schemas
from karbor_volume_glance.plans.errors import PlanError

#: The most volumes a plan runs at once.
MAX_PARALLELISM = 64
#: Options that belong to one volume, never to all of a plan's volumes.
PER_VOLUME_OPTIONS = ("snapshot_id", "parent_checkpoint_id")
PER_VOLUME_RESTORE = ("server_id", "replace_volume")
#: Plan options that are ``[volume_glance_plugin]`` options of the plan's
#: bank (one bank per plan), not protect options: their JSON schemas.
PER_BANK_OPTIONS = {"encrypt": {"type": "boolean"}}


def _loose(schema, without=()):
    """``schema`` with no required keys or dependencies (checked once merged),
    and without the properties in ``without``."""
    loose = copy.deepcopy(schema)
    loose.pop("required", None)
    loose.pop("dependencies", None)
    loose.pop("title", None)
    for name in without:
        loose["properties"].pop(name)
    return loose


def _plan_options():
    """The plan-wide options: every volume's protect options, and the
    bank's (:data:`PER_BANK_OPTIONS`)."""
    options = _loose(schemas.OPTIONS_SCHEMA)
    options["properties"].update(copy.deepcopy(PER_BANK_OPTIONS))
    return options


_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_SITE = {
    "type": ["string", "object"],
    "minLength": 1,
    "properties": {
        "cloud": {"type": "string", "minLength": 1},
        "config_file": {"type": "string", "minLength": 1},
        "key_file": {"type": "string", "minLength": 1},
    },
    "required": ["cloud"],
    "additionalProperties": False,
}
_RESOURCE = {
    "type": ["string", "object"],
    "minLength": 1,
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "options": _loose(schemas.OPTIONS_SCHEMA),
        "restore": _loose(schemas.RESTORE_SCHEMA),
    },
    "required": ["id"],
    "additionalProperties": False,
}

PLAN_SCHEMA = {
    "title": "Volume Glance Plan",
    "type": "object",
    "properties": {
        "name": _NAME,
        "id": {"type": "string", "minLength": 1, "maxLength": 64,
               "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
        "description": {"type": "string"},
        "bank": {"type": "string", "minLength": 1},
        "parallelism": {"type": "integer", "minimum": 1,
                        "maximum": MAX_PARALLELISM},
        "sites": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _NAME,
            "additionalProperties": _SITE,
        },
        "options": _plan_options(),
        "restore": _loose(schemas.RESTORE_SCHEMA),
        "resources": {"type": "array", "minItems": 1, "items": _RESOURCE},
    },
    "required": ["name", "bank", "sites", "resources"],
    "additionalProperties": False,
}


def field_name(parts):
    """``["resources", 1, "options"]`` as ``resources[1].options``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _field_of(error):
    """The path of the field a jsonschema error is about, as a list."""
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value
                   if name not in error.instance]
        path += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(
            error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        path += sorted(name for name in error.instance if name not in allowed)[:1]
    return path


def check(document, source=None):
    """Check a parsed plan file; raise PlanError naming the field if not valid."""
    if not isinstance(document, dict):
        raise PlanError("a plan is a mapping with name, bank, sites and "
                        f"resources, not {type(document).__name__}", source)
    _check_bank_options(document, source)
    validator = jsonschema.Draft7Validator(PLAN_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        raise PlanError(error.message, source,
                        field_name(_field_of(error)) or "plan")
    _check_defaults(document, source)
    _check_unique_ids(document, source)
    return document


def _check_bank_options(document, source):
    """A bank option in one resource's options is named, before the schema
    would call it merely unknown."""
    resources = document.get("resources")
    for position, item in enumerate(resources if isinstance(resources, list)
                                    else ()):
        options = item.get("options") if isinstance(item, dict) else None
        for name in PER_BANK_OPTIONS:
            if isinstance(options, dict) and name in options:
                raise PlanError(
                    f"{name} belongs to the plan's bank, not one volume: give "
                    "it in the plan's options", source,
                    field_name(["resources", position, "options", name]))


def bank_options(options):
    """``(the bank's options, the volumes' protect options)`` of the plan's
    ``options`` mapping."""
    return ({name: value for name, value in options.items()
             if name in PER_BANK_OPTIONS},
            {name: value for name, value in options.items()
             if name not in PER_BANK_OPTIONS})


def _check_defaults(document, source):
    for key, refused in (("options", PER_VOLUME_OPTIONS),
                         ("restore", PER_VOLUME_RESTORE)):
        for name in refused:
            if name in document.get(key, {}):
                raise PlanError(f"{name} belongs to one volume: give it in "
                                f"that resource's {key}", source,
                                f"{key}.{name}")


def _check_unique_ids(document, source):
    seen = {}
    for position, item in enumerate(document["resources"]):
        volume_id = item if isinstance(item, str) else item["id"]
        if volume_id in seen:
            raise PlanError(f"volume {volume_id} is already resources"
                            f"[{seen[volume_id]}]", source,
                            field_name(["resources", position, "id"]))
        seen[volume_id] = position


def check_merged(schema, parameters, source, prefix):
    """Check one volume's merged options against the plugin's ``schema``;
    the PlanError names the field under ``prefix`` (a path list)."""
    try:
        return schemas.validate(schema, parameters)
    except exceptions.InvalidParameters as exc:
        raise PlanError(exc.rule, source,
                        field_name([*prefix, exc.field])) from exc
