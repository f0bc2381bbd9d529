"""Moved to :mod:`karbor_volume_glance.bank.compat`; this re-export lives only
until its last importer is changed (delete it then)."""

from karbor_volume_glance.bank.compat import (  # noqa: F401 - re-exported
    PAGE_SIZE,
    SECTION_PATTERN,
    bank_of,
    delete_if_present,
    exists,
    list_all,
    prefix_of,
    read_optional,
    section_at,
)
