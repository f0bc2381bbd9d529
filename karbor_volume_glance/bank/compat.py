"""Reading a bank section with only the methods Karbor's BankSection has,
and reaching other sections of the same bank from it.

These helpers work the same on our sections, on a section Karbor hands the
plugin, and on either wrapped by :mod:`.retrying`. They make as few round
trips as they can:

* :func:`read_optional` is one ``get_object``: our banks' not-found
  (:class:`~karbor_volume_glance.exceptions.BankObjectNotFound`, also when
  it is the cause of a Karbor ``BankGetObjectFailed``) is ``None``. Karbor's
  own banks say nothing more precise than ``BankGetObjectFailed`` for a
  missing object, so only after a get that failed otherwise does one listing
  tell "missing" from "failed".
* :func:`read_bounded` reads at most about ``max_size`` bytes of an object
  from our banks (``get_object(max_size=…)``); Karbor's own banks read
  whole, so there the bound is checked after the read.
* :func:`read_into` reads an object's bytes into buffers the caller gives
  (a pooled buffer, reused from chunk to chunk), on a bank that
  ``reads_into`` (the file and memory banks); elsewhere
  (S3, Swift, Karbor's own banks) it says it cannot, and the caller gets
  bytes from :func:`read_bounded`.
* :func:`delete_if_present` is one ``delete_object``, likewise.
* :func:`create_if_absent` creates an object only if it is not there where
  the bank can (:data:`~.capabilities.CONDITIONAL_CREATE`), and says when
  it cannot.
* :func:`write_buffer` stores a reused buffer: as it is on our banks, as a
  bytes copy on Karbor's, which may keep what they are given.
* :func:`section_at` reaches another section through the bank's public
  ``get_sub_section`` (Karbor's ``Bank`` has it since 1.0, as ours does),
  never through a section class's constructor.
"""

import re

from karbor_volume_glance.exceptions import BankObjectNotFound, check_object_size

PAGE_SIZE = 1000
#: An absolute section prefix: ``/`` + parts of Karbor's key characters + ``/``.
SECTION_PATTERN = re.compile(r"^/(?:(?!\.{1,2}/)[A-Za-z0-9_.\-@]+/)+$")
#: How deep :func:`_is_not_found` follows ``__cause__``.
_CAUSE_DEPTH = 3


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
    """Whether ``key`` is an object of ``section`` (one listing)."""
    return key in section.list_objects(prefix=key)


def _is_not_found(error):
    """Whether ``error`` is, or was raised for, our banks' not-found."""
    for _ in range(_CAUSE_DEPTH):
        if error is None:
            return False
        if isinstance(error, BankObjectNotFound):
            return True
        error = error.__cause__
    return False


def read_bounded(section, key, max_size):
    """The object at ``key``; BankObjectTooLarge, naming it, when its payload
    (bytes, or the UTF-8 of a str or of JSON) is longer than ``max_size``.
    Our banks stop reading past the bound; Karbor's read whole first."""
    if getattr(section, "bounded_reads", False):
        return section.get_object(key, max_size=max_size)
    value = section.get_object(key)
    if isinstance(value, bytes | bytearray):
        check_object_size(key, value, max_size)
    elif isinstance(value, str):
        check_object_size(key, value.encode("utf-8"), max_size)
    return value


def reads_into(section):
    """Whether :func:`read_into` can read from ``section`` (ours, on a
    backend that reads into buffers; Karbor's do not)."""
    return getattr(section, "reads_into", False) is True


def read_into(section, key, buffers):
    """Read the bytes of the object at ``key`` into ``buffers`` (writable
    bytes-like objects, filled in order); the number of bytes read, fewer
    than the buffers hold when the object is shorter. An object longer than
    they hold is BankObjectTooLarge, naming it, and is not read further.
    None, reading nothing, when the bank cannot (:func:`reads_into`)."""
    if not reads_into(section):
        return None
    return section.get_object_into(key, buffers)


def write_buffer(section, key, buffer):
    """Store bytes-like ``buffer`` at ``key``, keeping no reference to it (the
    caller may reuse it): our banks write a bytearray as it is; Karbor's
    own are given a bytes copy."""
    if isinstance(buffer, bytes) or (
            isinstance(buffer, bytearray)
            and getattr(section, "buffer_writes", False)):
        section.update_object(key, buffer)
    else:
        section.update_object(key, bytes(buffer))


def read_optional(section, key):
    """The object at ``key``, or None when there is none (also when it is
    deleted while it is read: index entries are)."""
    try:
        return section.get_object(key)
    except Exception as exc:
        if _is_not_found(exc) or not exists(section, key):
            return None
        raise


def delete_if_present(section, key):
    """Delete ``key``; 1 if it was deleted, 0 if it was already gone.

    A failed delete is forgiven when it is our not-found, or (banks differ in
    what they raise for a missing key) when a listing shows the key is gone.
    """
    try:
        section.delete_object(key)
        return 1
    except Exception as exc:
        if _is_not_found(exc) or not exists(section, key):
            return 0
        raise


def create_if_absent(section, key, value):
    """Store ``value`` at ``key`` unless an object is there.

    True: this call created it; False: one was there already, and stays.
    None: the bank cannot create conditionally (Karbor's own banks, S3,
    whose servers differ, :mod:`.capabilities`), so ``value`` was written
    over whatever was there. Callers that must know who won read the object
    back either way (a retried create that did create answers False).
    """
    from karbor_volume_glance.bank import capabilities

    create = getattr(section, "create_object", None)
    if create is not None and capabilities.CONDITIONAL_CREATE in (
            capabilities.of(section)):
        return bool(create(key, value))
    section.update_object(key, value)
    return None


def bank_of(section):
    """The bank a section belongs to (ours, and a retrying wrapper: ``bank``;
    Karbor's: ``_bank``, as it has no public way to reach its bank)."""
    bank = getattr(section, "bank", None)
    return bank if bank is not None else section._bank


def prefix_of(section):
    """A section's absolute prefix, starting and ending with ``/``."""
    prefix = getattr(section, "prefix", None)
    prefix = prefix if isinstance(prefix, str) else section._prefix
    return prefix if prefix.endswith("/") else prefix + "/"


def section_at(section, prefix, is_writable=True):
    """Another section of the same bank, at absolute ``prefix``, through the
    bank's public ``get_sub_section`` (a section wrapped by :mod:`.retrying`
    gives a wrapped one)."""
    return bank_of(section).get_sub_section(prefix, is_writable=is_writable)


def backend_of(section):
    """The backend under one of our sections (through a retrying wrapper),
    or None for a section of Karbor's own banks."""
    from karbor_volume_glance.bank import retrying

    try:
        bank = retrying.unwrap(bank_of(section))
    except AttributeError:
        return None
    return getattr(retrying.unwrap(bank), "backend", None)


def temporary_files(section, prefix):
    """The backend's temporary files of unfinished writes under absolute
    ``prefix`` (``[(name, age seconds)]``); [] for a backend without any."""
    backend = backend_of(section)
    finder = getattr(backend, "temporary_files", None)
    return [] if finder is None else finder(prefix)


def remove_temporary_file(section, path):
    return backend_of(section).remove_temporary_file(path)
