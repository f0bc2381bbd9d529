"""The bank's key rules: which keys are valid and how they are normalised.

A key is a ``str`` made of letters, digits and ``/ _ . - @``. It is a path:
``/`` separates its parts, repeated slashes fold into one (``/a//b`` is
``/a/b``) and it is always absolute once normalised (``a/b`` is ``/a/b``). No
part may be ``.`` or ``..``, anywhere in the key, so that a key can never climb
out of the section it is joined to. An object key names something and so does
not end in ``/``; a section prefix always ends in ``/``; a listing prefix is a
plain string prefix and keeps a trailing ``/`` if it has one.

Every violation raises :class:`~karbor_volume_glance.exceptions.InvalidBankKey`
with the offending key as given and a reason a person can act on.
"""

import re

from karbor_volume_glance.exceptions import InvalidBankKey

#: Every character a key may contain. ``~`` is deliberately absent: backends
#: use it for their own markers (the file backend's ``~obj`` and ``~tmp``).
ALLOWED_CHARACTERS = re.compile(r"[A-Za-z0-9/_.\-@]+")
_FORBIDDEN_CHARACTER = re.compile(r"[^A-Za-z0-9/_.\-@]")
_DOT_PARTS = frozenset({".", ".."})


def is_valid_part(part):
    """Whether ``part`` could be one slash-free part of a valid key."""
    return (
        bool(part)
        and "/" not in part
        and part not in _DOT_PARTS
        and ALLOWED_CHARACTERS.fullmatch(part) is not None
    )


def _split_parts(key, what):
    """Check ``key`` against the character and dot rules; return its parts.

    ``what`` names the kind of key ("key", "section" …) in error reasons.
    Empty parts (from leading, trailing or repeated slashes) are dropped.
    """
    if not isinstance(key, str):
        raise InvalidBankKey(
            key, f"a bank {what} must be a str, not {type(key).__name__}"
        )
    if not key:
        raise InvalidBankKey(key, f"a bank {what} must not be empty")
    if not ALLOWED_CHARACTERS.fullmatch(key):
        bad = sorted(set(_FORBIDDEN_CHARACTER.findall(key)))
        raise InvalidBankKey(
            key,
            f"a bank {what} may contain only letters, digits and / _ . - @ "
            f"(found {', '.join(repr(c) for c in bad)})",
        )
    parts = [part for part in key.split("/") if part]
    if any(part in _DOT_PARTS for part in parts):
        raise InvalidBankKey(
            key,
            f"a bank {what} must not have '.' or '..' parts "
            "(keys cannot refer to other places in the bank)",
        )
    return parts


def _object_parts(key):
    """The parts of an object key, which must name something."""
    parts = _split_parts(key, "key")
    if not parts:
        raise InvalidBankKey(key, "an object key must name something, not only '/'")
    if key.endswith("/"):
        raise InvalidBankKey(key, "an object key must not end with '/'")
    return parts


def normalize_key(key):
    """The absolute, normalised form of object key ``key``: ``a//b`` -> ``/a/b``."""
    return "/" + "/".join(_object_parts(key))


def normalize_section(section):
    """The absolute section prefix for ``section``: ``a/b`` -> ``/a/b/``.

    ``/`` is the whole bank.
    """
    parts = _split_parts(section, "section")
    return "/" + "".join(part + "/" for part in parts)


def _relative_prefix(prefix, what):
    """Normalised relative listing prefix, without a leading slash.

    ``None``, ``""`` and ``/`` give ``""`` (everything); a trailing slash is
    kept because a listing prefix is a plain string prefix.
    """
    if prefix is None or prefix == "":
        return ""
    parts = _split_parts(prefix, what)
    if not parts:
        return ""
    trailing = "/" if prefix.endswith("/") else ""
    return "/".join(parts) + trailing


def normalize_prefix(prefix):
    """The absolute, normalised listing prefix; ``None``/``""`` -> ``/``.

    A trailing ``/`` is kept: ``/a/b`` also matches ``/a/bc`` while ``/a/b/``
    matches only what lies under ``/a/b/``.
    """
    return "/" + _relative_prefix(prefix, "prefix")


def normalize_marker(marker):
    """The absolute, normalised listing marker, or ``None`` for none.

    A marker is a position in key order, not necessarily an existing key, so
    it follows the listing prefix rules.
    """
    if marker is None or marker == "":
        return None
    return "/" + _relative_prefix(marker, "marker")


def join_key(section_prefix, relative_key):
    """The absolute key of ``relative_key`` inside ``section_prefix``.

    ``section_prefix`` is a normalised section prefix (``/a/``). A leading
    ``/`` on ``relative_key`` is allowed and still relative. Because no part
    may be ``.`` or ``..``, the result always lies inside the section.
    """
    return section_prefix + "/".join(_object_parts(relative_key))


def join_section(section_prefix, relative_section):
    """The absolute prefix of sub-section ``relative_section``: ``/a/`` + ``b``."""
    return section_prefix + normalize_section(relative_section)[1:]


def join_prefix(section_prefix, relative_prefix):
    """The absolute listing prefix of ``relative_prefix`` inside the section.

    ``None``/``""`` give the section prefix itself (everything in it).
    """
    return section_prefix + _relative_prefix(relative_prefix, "prefix")


def join_marker(section_prefix, relative_marker):
    """The absolute listing marker of ``relative_marker``, or ``None``."""
    if relative_marker is None or relative_marker == "":
        return None
    return section_prefix + _relative_prefix(relative_marker, "marker")
