"""A plan as the code uses it: read from its YAML file, checked, merged.

:func:`load` reads a plan file (the layout is in :mod:`.schema`) and returns
a :class:`Plan`:

- ``name``: the plan's name, kept in each checkpoint's ``protection_plan``.
- ``id``: the plan's id, given in the file (``id:``), or else derived from
  the name *and* the owner (:func:`owned_plan_id`: a UUID 5 of the caller's
  domain and project names and the plan's name, so the same tenant gets the
  same id at every site, and two projects' plans of one name are two
  plans). :meth:`Plan.for_caller` binds a loaded plan to its caller. Plans
  made before plans had owners used :func:`plan_id` (the name alone):
  :attr:`Plan.ids` includes it so their checkpoints are still found (and
  still filtered by owner). Renaming a plan without ``id:`` starts a new
  series of checkpoints.
- ``bank``: the bank URL every command of the plan uses (``--bank`` and
  ``$KARBOR_VOLUME_GLANCE_BANK`` are not used by plan commands).
- ``sites``: site name -> :class:`Site` (the clouds.yaml cloud name, and a
  ``[volume_glance_plugin]`` config file, relative to the plan file's
  directory; without one, ``--config-file`` applies).
- ``resources``: the volumes, in order, each with its merged protect options
  (the plan's ``options``, then the resource's; ``backup_name`` defaults to
  the plan's name) and restore options (the plan's ``restore``, then the
  resource's; without ``restore_name`` the plugin names the new volume
  ``<checkpoint id>@<volume id>``).
- ``parallelism``: how many volumes run at once (default
  :data:`DEFAULT_PARALLELISM`).
- ``bank_options``: the ``[volume_glance_plugin]`` options of the plan's
  bank given in its ``options`` (``encrypt``), and each site's ``key_file``:
  :meth:`Plan.config_overrides` maps them onto the site's config (they win
  over its config file; what neither gives is the option's default, in
  ``conf.py`` alone).
"""

import dataclasses
import os
import uuid

import yaml

from karbor_volume_glance import schemas
from karbor_volume_glance.plans import schema
from karbor_volume_glance.plans.errors import PlanError

DEFAULT_PARALLELISM = 2
#: The UUID 5 namespace of plan ids, so they cannot collide with the plain
#: CLI's (``uuid5(NAMESPACE_URL, plan name)``) for the same name.
PLAN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "karbor-volume-glance:plan")
#: A restore name to check restore options with when none is given.
_NAME_PLACEHOLDER = "<checkpoint id>@<volume id>"


def plan_id(name):
    """The id plans called ``name`` had before plans had owners."""
    return str(uuid.uuid5(PLAN_ID_NAMESPACE, name))


def owned_plan_id(name, owner):
    """The id of the plan called ``name`` of ``owner`` (a text naming the
    project: ``project@domain``, or the project id when names are unknown)."""
    return str(uuid.uuid5(PLAN_ID_NAMESPACE, f"{owner}\n{name}"))


@dataclasses.dataclass(frozen=True)
class Site:
    """Where a plan runs: a clouds.yaml cloud, and the plugin's config file."""

    name: str
    cloud: str
    config_file: str | None = None
    #: ``[volume_glance_plugin] key_file`` at this site (absolute), or None.
    key_file: str | None = None


@dataclasses.dataclass(frozen=True)
class PlanResource:
    """One volume of a plan with its merged protect and restore options."""

    volume_id: str
    options: dict
    restore: dict


@dataclasses.dataclass(frozen=True)
class Plan:
    name: str
    bank: str
    sites: dict
    resources: tuple
    parallelism: int = DEFAULT_PARALLELISM
    restore_defaults: dict = dataclasses.field(default_factory=dict)
    description: str | None = None
    source: str | None = None
    #: ``id:`` from the file, or None.
    given_id: str | None = None
    #: Whose plan it is (:meth:`for_caller`): ``project@domain`` or a
    #: project id; None until bound.
    owner: str | None = None
    #: ``[volume_glance_plugin]`` options of the plan's bank from its
    #: ``options`` (:data:`.schema.PER_BANK_OPTIONS`: ``encrypt``).
    bank_options: dict = dataclasses.field(default_factory=dict)

    def config_overrides(self, site):
        """The ``[volume_glance_plugin]`` options the plan sets at ``site``
        (``conf.make_config(config_file, **overrides)``): its bank's options
        and the site's ``key_file``; the site's config file gives the rest."""
        overrides = dict(self.bank_options)
        if site is not None and site.key_file is not None:
            overrides["key_file"] = site.key_file
        return overrides

    @property
    def id(self):
        """The plan's id: ``id:``, else from its name and owner."""
        if self.given_id:
            return self.given_id
        if self.owner is None:
            raise PlanError("the plan's id depends on its owner: bind it to "
                            "the caller first (Plan.for_caller)", self.source)
        return owned_plan_id(self.name, self.owner)

    @property
    def ids(self):
        """Every id the plan's checkpoints may be filed under: :attr:`id`,
        and the name-only id of plans made before plans had owners."""
        return list(dict.fromkeys([self.id, plan_id(self.name)]))

    def for_caller(self, caller):
        """This plan, owned by ``caller`` (a tenancy Caller)."""
        if caller.project_name and caller.domain_name:
            owner = f"{caller.project_name}@{caller.domain_name}"
        elif caller.project_id:
            owner = caller.project_id
        else:
            raise PlanError("a plan needs an authenticated caller", self.source)
        return dataclasses.replace(self, owner=owner)

    @property
    def volume_ids(self):
        return [resource.volume_id for resource in self.resources]

    def site(self, name=None):
        """The site called ``name``; without one, the plan's only site."""
        names = ", ".join(self.sites)
        if name is None:
            if len(self.sites) == 1:
                return next(iter(self.sites.values()))
            raise PlanError(f"the plan has several sites ({names}): give --site",
                            self.source)
        try:
            return self.sites[name]
        except KeyError:
            raise PlanError(f"no site {name!r} in the plan (sites: {names})",
                            self.source) from None

    def resource(self, volume_id):
        """The plan's resource of ``volume_id``, or None."""
        return next((r for r in self.resources if r.volume_id == volume_id),
                    None)

    def protect_parameters(self, volume_ids):
        """Protect options per volume id; every one must be in the plan."""
        parameters = {}
        for volume_id in volume_ids:
            resource = self.resource(volume_id)
            if resource is None:
                raise PlanError(f"volume {volume_id} is not in the plan any "
                                "more; its options are unknown", self.source)
            parameters[volume_id] = dict(resource.options)
        return parameters

    def restore_parameters(self, volume_ids):
        """Restore options per volume id; the plan's defaults for a volume
        the plan no longer lists."""
        parameters = {}
        for volume_id in volume_ids:
            resource = self.resource(volume_id)
            parameters[volume_id] = dict(
                resource.restore if resource else self.restore_defaults)
        return parameters

    def to_dict(self):
        return {
            "name": self.name,
            "id": self.id,
            "bank": self.bank,
            "parallelism": self.parallelism,
            "sites": {name: dataclasses.asdict(site)
                      for name, site in self.sites.items()},
            "resources": [dataclasses.asdict(r) for r in self.resources],
            **({"options": dict(self.bank_options)} if self.bank_options
               else {}),
        }


def load(path):
    """Read, check and merge the plan file at ``path``; PlanError if it cannot."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as exc:
        raise PlanError(f"cannot read the plan file: {exc.strerror or exc}",
                        source) from exc
    except yaml.YAMLError as exc:
        raise PlanError(f"not valid YAML: {_yaml_problem(exc)}", source) from exc
    return from_document(document, source,
                         os.path.dirname(os.path.abspath(source)))


def _yaml_problem(exc):
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return problem
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def from_document(document, source=None, base_dir=None):
    """A Plan from a parsed plan file; ``base_dir`` anchors relative paths."""
    schema.check(document, source)
    name = document["name"]
    bank_options, defaults = schema.bank_options(document.get("options", {}))
    restore_defaults = document.get("restore", {})
    resources = []
    for position, item in enumerate(document["resources"]):
        item = {"id": item} if isinstance(item, str) else item
        options = {"backup_name": name, **defaults, **item.get("options", {})}
        restore = {**restore_defaults, **item.get("restore", {})}
        prefix = ["resources", position]
        schema.check_merged(schemas.OPTIONS_SCHEMA, options, source,
                            [*prefix, "options"])
        schema.check_merged(schemas.RESTORE_SCHEMA,
                            {"restore_name": _NAME_PLACEHOLDER, **restore},
                            source, [*prefix, "restore"])
        resources.append(PlanResource(item["id"], options, restore))
    return Plan(
        name=name,
        bank=document["bank"],
        sites={site_name: _site(site_name, value, base_dir)
               for site_name, value in document["sites"].items()},
        resources=tuple(resources),
        parallelism=document.get("parallelism", DEFAULT_PARALLELISM),
        restore_defaults=dict(restore_defaults),
        description=document.get("description"),
        source=source,
        given_id=document.get("id"),
        bank_options=bank_options,
    )


def _path(path, base_dir):
    """A path of the plan file, relative to its directory (or None)."""
    if path is None:
        return None
    path = os.path.expanduser(path)
    if base_dir is not None and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return path


def _site(name, value, base_dir):
    if isinstance(value, str):
        return Site(name, value)
    return Site(name, value["cloud"], _path(value.get("config_file"), base_dir),
                _path(value.get("key_file"), base_dir))
