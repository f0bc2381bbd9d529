"""Whose checkpoints a caller sees and may change, outside Karbor.

The caller (:class:`Caller`) is what Keystone said of the request's token:
its project id, project and domain names, user id, and whether it holds the
``admin`` role (:func:`caller_of` reads them from a request context: the
CLI's, made from keystoneauth's access info, or Karbor's own). The rules:

- a checkpoint's *owner* (:func:`owns`) is a caller of the recorded project
  id, or, at another site, of the recorded project and domain names
  (:mod:`karbor_volume_glance.format.owner`); a checkpoint made before
  owners were recorded is owned by its ``project_id`` alone (so at its own
  site only);
- a caller *reads* (list, show, restore, verify) its own checkpoints, those
  shared with its project, and, with the admin role, every checkpoint;
- a caller *changes* (delete, share, unshare) its own checkpoints, or any
  with the admin role; it must be authenticated (a project id).

Everything else is "not found" (:class:`~karbor_volume_glance.exceptions.
CheckpointNotFound`), worded as for a checkpoint that does not exist, as
Cinder answers for another project's backup.

Inside Karbor none of this applies: Karbor's API checks the project of
every checkpoint itself before the plugin is called.
"""

import dataclasses

from karbor_volume_glance.format import owner as owner_format

ADMIN_ROLE = "admin"


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who asks: as Keystone reported it in the token."""

    project_id: str | None
    project_name: str | None = None
    domain_name: str | None = None
    user_id: str | None = None
    is_admin: bool = False

    @property
    def authenticated(self):
        return bool(self.project_id)

    def owner_record(self):
        return owner_format.new_owner(self.project_id, self.project_name,
                                      self.domain_name, self.user_id)

    def describe(self):
        if self.project_name:
            return f"project {self.project_name}@{self.domain_name}"
        return f"project {self.project_id}"


def caller_of(context):
    """The Caller of a request context (any object with ``project_id``, and
    perhaps ``project_name``, ``project_domain_name``, ``user_id``,
    ``roles`` and ``is_admin``)."""
    if context is None:
        return Caller(None)
    if isinstance(context, Caller):
        return context
    roles = getattr(context, "roles", None) or ()
    is_admin = getattr(context, "is_admin", False) is True or ADMIN_ROLE in roles
    return Caller(
        project_id=getattr(context, "project_id", None),
        project_name=getattr(context, "project_name", None) or None,
        domain_name=(getattr(context, "project_domain_name", None)
                     or getattr(context, "domain_name", None) or None),
        user_id=getattr(context, "user_id", None),
        is_admin=is_admin,
    )


def owns(record, caller):
    """Whether ``caller`` is the owner of the checkpoint ``record``."""
    if not caller.authenticated:
        return False
    found = owner_format.owner_of(record)
    if found is None:  # an old checkpoint: its project id alone
        return (isinstance(record, dict)
                and record.get("project_id") == caller.project_id)
    return owner_format.matches_owner(found, caller.project_id,
                                      caller.project_name, caller.domain_name)


def shared_with(record, caller):
    """Whether the checkpoint ``record`` is shared with the caller's project."""
    if not caller.authenticated:
        return False
    return any(owner_format.matches_share(entry, caller.project_id,
                                          caller.project_name, caller.domain_name)
               for entry in owner_format.shares_of(record))


def can_read(record, caller):
    return caller.is_admin or owns(record, caller) or shared_with(record, caller)


def can_change(record, caller):
    return caller.authenticated and (caller.is_admin or owns(record, caller))
