"""Reading a bank section with only the methods Karbor's BankSection has,
and reaching other sections of the same bank from it.

Karbor's banks signal a missing object with their own exception classes, and
list at most a page of keys at a time in some backends; these helpers work the
same on our sections and on a section Karbor hands the plugin.
"""

import re

PAGE_SIZE = 1000
#: An absolute section prefix: ``/`` + parts of Karbor's key characters + ``/``.
SECTION_PATTERN = re.compile(r"^/(?:(?!\.{1,2}/)[A-Za-z0-9_.\-@]+/)+$")


def list_all(section, prefix=None, page_size=PAGE_SIZE):
    """Every key in ``section`` starting with ``prefix``, sorted, page by page."""
    keys = []
    marker = None
    while True:
        page = section.list_objects(prefix=prefix, limit=page_size, marker=marker)
        keys.extend(page)
        if len(page) < page_size:
            return keys
        marker = page[-1]


def exists(section, key):
    """Whether ``key`` is an object of ``section``."""
    return key in section.list_objects(prefix=key)


def read_optional(section, key):
    """The object at ``key``, or None when there is none (also when it is
    deleted between the listing and the read: index entries are)."""
    if not exists(section, key):
        return None
    try:
        return section.get_object(key)
    except Exception:
        if exists(section, key):
            raise
        return None


def delete_if_present(section, key):
    """Delete ``key``; 1 if it was deleted, 0 if it was already gone.

    Banks differ in what they raise for a missing key, so a failed delete is
    forgiven only when a listing shows the key is indeed gone.
    """
    try:
        section.delete_object(key)
        return 1
    except Exception:
        if exists(section, key):
            raise
        return 0


def bank_of(section):
    """The bank a section belongs to (ours: ``bank``; Karbor's: ``_bank``)."""
    bank = getattr(section, "bank", None)
    return bank if bank is not None else section._bank


def prefix_of(section):
    """A section's absolute prefix, starting and ending with ``/``."""
    prefix = getattr(section, "prefix", None)
    prefix = prefix if isinstance(prefix, str) else section._prefix
    return prefix if prefix.endswith("/") else prefix + "/"


def section_at(section, prefix):
    """Another section of the same bank, of the same class as ``section``.

    Karbor's BankSection and ours both take ``(bank, prefix)``; Karbor's
    has no public way to reach its bank, hence :func:`bank_of`.
    """
    return type(section)(bank_of(section), prefix)
