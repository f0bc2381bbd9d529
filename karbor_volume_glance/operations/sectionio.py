"""Reading a bank section with only the methods Karbor's BankSection has.

Karbor's banks signal a missing object with their own exception classes, and
list at most a page of keys at a time in some backends; these helpers work the
same on our sections and on a section Karbor hands the plugin.
"""

PAGE_SIZE = 1000


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
    """The object at ``key``, or None when there is none."""
    if not exists(section, key):
        return None
    return section.get_object(key)
