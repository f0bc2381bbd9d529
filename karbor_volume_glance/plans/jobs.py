"""The payload of one volume's job on a taskflow jobboard (pure, no I/O).

``plan protect|restore PLAN --jobboard URL`` posts one job per volume; a
conductor on any host claims it and runs that one volume
(:mod:`.jobboard`). The job's ``details`` (taskflow stores them as JSON in
the posting) are a :class:`JobPayload`: everything the conductor needs that
is not a secret, so that a conductor needs neither the plan file nor the
poster's state:

- ``kind`` (:data:`KIND`) and ``version`` (:data:`VERSION`);
- ``action``: ``protect`` or ``restore``;
- ``batch``: the id of the posting (one ``plan protect`` or ``plan
  restore``), which the restore's outcomes are filed under;
- ``plan``: the plan's ``name`` and ``id``;
- ``bank``: the plan's bank URL (the bank's credentials come from the
  conductor's environment or config file, as for every command);
- ``site``: the site's ``name``, its clouds.yaml ``cloud`` and its plugin
  ``config_file`` (or null): the conductor's host must have both, with its
  own credentials for that cloud;
- ``config``, only when the plan sets any: the ``[volume_glance_plugin]``
  options the plan gives its bank and site (``encrypt``, ``key_file``:
  :meth:`.model.Plan.config_overrides`), set over the conductor's config
  file for this job;
- ``checkpoint_id`` and ``volume_id``;
- ``parameters``: the volume's merged protect (or restore) options from the
  plan, checked again by the operation when it runs.

:func:`decode` checks a payload against :data:`SCHEMA` (jsonschema) and
raises :class:`JobPayloadError` for anything else, never another error, so a
conductor can trash a malformed posting and go on.
"""

import dataclasses

import jsonschema

from karbor_volume_glance import exceptions

KIND = "karbor-volume-glance/plan-volume"
VERSION = 1
PROTECT = "protect"
RESTORE = "restore"
ACTIONS = (PROTECT, RESTORE)

_ID = {"type": "string", "minLength": 1, "maxLength": 255}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "version", "action", "batch", "plan", "bank", "site",
                 "checkpoint_id", "volume_id", "parameters"],
    "properties": {
        "kind": {"const": KIND},
        "version": {"const": VERSION},
        "action": {"enum": list(ACTIONS)},
        "batch": _ID,
        "plan": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "id"],
            "properties": {"name": _ID, "id": _ID},
        },
        "bank": {"type": "string", "minLength": 1, "maxLength": 4096},
        "site": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "cloud", "config_file"],
            "properties": {
                "name": _ID, "cloud": _ID,
                "config_file": {"anyOf": [{"type": "null"}, {
                    "type": "string", "minLength": 1, "maxLength": 4096}]},
            },
        },
        # Only a job with overrides carries "config" (encode writes none
        # when there are none), so an empty one is not a payload we write.
        "config": {
            "type": "object", "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "encrypt": {"type": "boolean"},
                "key_file": {"type": "string", "minLength": 1,
                             "maxLength": 4096},
            },
        },
        "checkpoint_id": _ID,
        "volume_id": _ID,
        "parameters": {"type": "object"},
    },
}
_VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


class JobPayloadError(exceptions.VolumeGlanceError):
    """A job's details that are not a payload of ours."""


@dataclasses.dataclass(frozen=True)
class JobPayload:
    action: str
    batch: str
    plan_name: str
    plan_id: str
    bank: str
    site_name: str
    cloud: str
    config_file: str | None
    checkpoint_id: str
    volume_id: str
    parameters: dict
    #: The plan's ``[volume_glance_plugin]`` options for this job.
    config_overrides: dict = dataclasses.field(default_factory=dict)

    @property
    def name(self):
        """The job's name on the board (taskflow shows it; not parsed)."""
        return f"{self.action}:{self.checkpoint_id}:{self.volume_id}"

    def encode(self):
        """The job's details: a JSON-able dict that :func:`decode` accepts."""
        document = {
            "kind": KIND, "version": VERSION, "action": self.action,
            "batch": self.batch,
            "plan": {"name": self.plan_name, "id": self.plan_id},
            "bank": self.bank,
            "site": {"name": self.site_name, "cloud": self.cloud,
                     "config_file": self.config_file},
            "checkpoint_id": self.checkpoint_id, "volume_id": self.volume_id,
            "parameters": dict(self.parameters),
        }
        if self.config_overrides:
            document["config"] = dict(self.config_overrides)
        decode(document)  # never post what a conductor would refuse
        return document


def decode(details):
    """The :class:`JobPayload` of a job's ``details``; JobPayloadError if
    they are not one."""
    try:
        error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(details))
    except Exception as exc:  # an object jsonschema cannot even walk
        raise JobPayloadError(f"not a job payload: {type(exc).__name__}") from exc
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "payload"
        raise JobPayloadError(f"not a job payload: {where}: {error.message}")
    return JobPayload(
        action=details["action"], batch=details["batch"],
        plan_name=details["plan"]["name"], plan_id=details["plan"]["id"],
        bank=details["bank"], site_name=details["site"]["name"],
        cloud=details["site"]["cloud"],
        config_file=details["site"]["config_file"],
        checkpoint_id=details["checkpoint_id"], volume_id=details["volume_id"],
        parameters=dict(details["parameters"]),
        config_overrides=dict(details.get("config", {})))
