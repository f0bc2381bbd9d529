"""Who owns a checkpoint, and whom it is shared with: the on-bank records.

A checkpoint's ``index.json`` (:mod:`.checkpoint`) holds, beside Karbor's
fields, ``owner``: ``{"project_id", "project_name", "domain_name",
"user_id"}`` (the caller that made it, as Keystone named it in the token),
and ``shared_with``: a list of ``{"project", "domain"}`` (a project name or
id, and a domain name; ``domain`` is None for a project given by id).
Checkpoints made before owners were recorded have neither (only Karbor's
``project_id``).

:func:`matches_owner` and :func:`matches_share` are the matching rules, on
plain values: a caller is a checkpoint's owner when it has the owner's
project id, or, at another site (whose Keystone gives the same tenant
another id), the owner's project *and* domain names. Nothing here reads
the bank or asks Keystone.
"""

OWNER = "owner"
SHARED_WITH = "shared_with"
#: The domain a ``--share-with PROJECT`` without ``@DOMAIN`` is in when the
#: owner's domain is unknown: Keystone's default domain.
DEFAULT_DOMAIN = "Default"


def new_owner(project_id, project_name=None, domain_name=None, user_id=None):
    """An owner record."""
    return {"project_id": project_id, "project_name": project_name,
            "domain_name": domain_name, "user_id": user_id}


def owner_of(record):
    """The owner record of a checkpoint record, or None (an old checkpoint,
    or a damaged record whose owner is not a mapping)."""
    owner = record.get(OWNER) if isinstance(record, dict) else None
    return owner if isinstance(owner, dict) else None


def shares_of(record):
    """The well-formed share entries of a checkpoint record (maybe [])."""
    shares = record.get(SHARED_WITH) if isinstance(record, dict) else None
    if not isinstance(shares, list):
        return []
    return [entry for entry in shares if isinstance(entry, dict)
            and isinstance(entry.get("project"), str) and entry["project"]
            and (entry.get("domain") is None or isinstance(entry["domain"], str))]


def _text(value):
    return value if isinstance(value, str) and value else None


def matches_owner(owner, project_id, project_name=None, domain_name=None):
    """Whether a caller of ``project_id`` (and names) is the ``owner``."""
    if not isinstance(owner, dict):
        return False
    if _text(project_id) and owner.get("project_id") == project_id:
        return True
    names = (_text(owner.get("project_name")), _text(owner.get("domain_name")))
    return (None not in names and names == (_text(project_name),
                                            _text(domain_name)))


def matches_share(entry, project_id, project_name=None, domain_name=None):
    """Whether a share entry names the caller's project (by id, or by its
    project and domain names)."""
    project = entry.get("project")
    if _text(project_id) and project == project_id:
        return True
    return (_text(project_name) is not None and project == project_name
            and entry.get("domain") == _text(domain_name))


def parse_share(text, default_domain=DEFAULT_DOMAIN):
    """``PROJECT[@DOMAIN]`` as a share entry; ValueError when malformed."""
    if not isinstance(text, str):
        raise ValueError("expected PROJECT[@DOMAIN]")
    project, sep, domain = text.rpartition("@")
    if not sep:
        project, domain = text, default_domain
    if not project or not domain or any(c.isspace() or not c.isprintable()
                                        for c in text):
        raise ValueError(f"expected PROJECT[@DOMAIN], got {text!r}")
    return {"project": project, "domain": domain}


def format_share(entry):
    """A share entry as ``PROJECT@DOMAIN`` (``PROJECT`` without a domain)."""
    domain = entry.get("domain")
    return f"{entry['project']}@{domain}" if domain else entry["project"]


def add_share(record, entry):
    """Record ``entry`` in ``record``'s shares (once); True when added."""
    shares = shares_of(record)
    if entry in shares:
        return False
    record[SHARED_WITH] = [*shares, entry]
    return True


def remove_share(record, entry):
    """Remove ``entry`` from ``record``'s shares; True when it was there."""
    shares = shares_of(record)
    if entry not in shares:
        return False
    record[SHARED_WITH] = [s for s in shares if s != entry]
    return True
