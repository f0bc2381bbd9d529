"""The bank as callers see it: :class:`Bank` and :class:`BankSection`.

:class:`Bank` checks and normalises keys (see :mod:`.keys`) and hands them to
a :class:`~karbor_volume_glance.bank.base.BankBackend`. :class:`BankSection`
is a part of a bank under one prefix, addressed with keys relative to it, that
cannot reach outside it and may be read-only -- what a protection plugin is
given for one resource. Both have the methods of Karbor's classes of the same
names.
"""

from karbor_volume_glance.bank import keys, listing
from karbor_volume_glance.exceptions import BankReadOnly


class Bank:
    """A whole bank over ``backend``, addressed with absolute keys."""

    def __init__(self, backend):
        self._backend = backend

    def __repr__(self):
        return f"{type(self).__name__}({self._backend!r})"

    @property
    def backend(self):
        """The :class:`BankBackend` that stores this bank's objects."""
        return self._backend

    @property
    def capabilities(self):
        """What the backend guarantees (:mod:`.capabilities`)."""
        return self._backend.capabilities

    @property
    def is_writable(self):
        """Always ``True``: read-only access is given through sections."""
        return True

    def update_object(self, key, value, context=None):
        """Store ``value`` (bytes, str or JSON-serialisable) under ``key``."""
        self._backend.update_object(keys.normalize_key(key), value, context=context)

    def create_object(self, key, value, context=None):
        """Store ``value`` under ``key`` only if there is no object yet: True
        if this call created it, False if it was there
        (:meth:`.base.BankBackend.create_object`; backends with
        :data:`~.capabilities.CONDITIONAL_CREATE` only)."""
        return self._backend.create_object(keys.normalize_key(key), value,
                                           context=context)

    #: ``update_object`` takes a bytearray without copying it and keeps no
    #: reference to it (:mod:`.codec`); Karbor's banks want bytes
    #: (:func:`.compat.write_buffer`).
    buffer_writes = True

    #: ``get_object`` takes ``max_size`` (:meth:`.base.BankBackend.get_object`);
    #: Karbor's own Bank and BankSection do not (:func:`.compat.read_bounded`).
    bounded_reads = True

    @property
    def reads_into(self):
        """Whether :meth:`get_object_into` can be called (the backend's
        ``READS_INTO``); Karbor's banks have no such method
        (:func:`.compat.read_into`)."""
        return bool(getattr(self._backend, "READS_INTO", False))

    def get_object(self, key, context=None, max_size=None):
        """The value under ``key``; BankObjectNotFound if there is none, and
        BankObjectTooLarge if its payload is longer than ``max_size``."""
        key = keys.normalize_key(key)
        if max_size is None:  # a backend of another package may not bound
            return self._backend.get_object(key, context=context)
        return self._backend.get_object(key, context=context, max_size=max_size)

    def get_object_into(self, key, buffers, context=None):
        """Read the bytes under ``key`` into ``buffers``; how many were read
        (:meth:`.base.BankBackend.get_object_into`; when
        :attr:`reads_into`)."""
        return self._backend.get_object_into(keys.normalize_key(key), buffers,
                                             context=context)

    def list_objects(
        self, prefix=None, limit=None, marker=None, sort_dir=None, context=None
    ):
        """The absolute keys starting with ``prefix``, in listing order.

        ``prefix`` and ``marker`` are normalised like keys but may end in
        ``/``. See :meth:`BankBackend.list_objects` for the order, ``marker``
        and ``limit``.
        """
        listing.check_listing_arguments(limit, sort_dir)
        return self._backend.list_objects(
            prefix=keys.normalize_prefix(prefix),
            limit=limit,
            marker=keys.normalize_marker(marker),
            sort_dir=sort_dir,
            context=context,
        )

    def delete_object(self, key, context=None):
        """Remove the object under ``key``; BankObjectNotFound if none."""
        self._backend.delete_object(keys.normalize_key(key), context=context)

    def get_sub_section(self, section, is_writable=True):
        """The :class:`BankSection` under absolute ``section``."""
        return BankSection(self, section, is_writable=is_writable)

    def get_owner_id(self, context=None):
        """A string that identifies this bank and never changes."""
        return self._backend.get_owner_id(context=context)


class BankSection:
    """The objects of ``bank`` under ``section``, with keys relative to it.

    A relative key may start with ``/`` and is still relative; no key can name
    anything outside the section. A read-only section (``is_writable=False``)
    refuses updates and deletes with :class:`BankReadOnly`.
    """

    def __init__(self, bank, section, is_writable=True):
        self._bank = bank
        self._prefix = keys.normalize_section(section)
        self._is_writable = bool(is_writable)

    def __repr__(self):
        mode = "" if self._is_writable else ", read-only"
        return f"{type(self).__name__}({self._prefix!r}{mode})"

    @property
    def bank(self):
        """The :class:`Bank` this section is part of."""
        return self._bank

    @property
    def prefix(self):
        """The section's absolute prefix; it starts and ends with ``/``."""
        return self._prefix

    @property
    def is_writable(self):
        return self._is_writable

    def _refuse_if_read_only(self, key):
        if not self._is_writable:
            raise BankReadOnly(key)

    def update_object(self, key, value, context=None):
        """Store ``value`` under relative ``key``; BankReadOnly if read-only."""
        self._refuse_if_read_only(key)
        self._bank.update_object(
            keys.join_key(self._prefix, key), value, context=context
        )

    def create_object(self, key, value, context=None):
        """Store ``value`` under relative ``key`` unless it exists: True if
        created, False if it was there; BankReadOnly if read-only."""
        self._refuse_if_read_only(key)
        return self._bank.create_object(keys.join_key(self._prefix, key), value,
                                        context=context)

    buffer_writes = True
    bounded_reads = True

    @property
    def reads_into(self):
        """Whether :meth:`get_object_into` can be called (its bank's)."""
        return self._bank.reads_into

    def get_object(self, key, context=None, max_size=None):
        """The value under relative ``key``; BankObjectNotFound if none, and
        BankObjectTooLarge if its payload is longer than ``max_size``."""
        return self._bank.get_object(keys.join_key(self._prefix, key),
                                     context=context, max_size=max_size)

    def get_object_into(self, key, buffers, context=None):
        """Read the bytes under relative ``key`` into ``buffers``; how many
        were read (:meth:`Bank.get_object_into`)."""
        return self._bank.get_object_into(keys.join_key(self._prefix, key),
                                          buffers, context=context)

    def list_objects(
        self, prefix=None, limit=None, marker=None, sort_dir=None, context=None
    ):
        """The keys, relative to the section, that start with ``prefix``.

        ``prefix`` and ``marker`` are relative to the section too, so the last
        key of one page is the ``marker`` of the next.
        """
        absolute_keys = self._bank.list_objects(
            prefix=keys.join_prefix(self._prefix, prefix),
            limit=limit,
            marker=keys.join_marker(self._prefix, marker),
            sort_dir=sort_dir,
            context=context,
        )
        return [key[len(self._prefix) :] for key in absolute_keys]

    def delete_object(self, key, context=None):
        """Remove the object under relative ``key``; BankReadOnly if read-only."""
        self._refuse_if_read_only(key)
        self._bank.delete_object(keys.join_key(self._prefix, key), context=context)

    def get_sub_section(self, prefix, is_writable=None):
        """The section under relative ``prefix`` of this one.

        ``is_writable=None`` inherits this section's writability; asking for a
        writable sub-section of a read-only section raises BankReadOnly.
        """
        absolute_prefix = keys.join_section(self._prefix, prefix)
        if is_writable is None:
            is_writable = self._is_writable
        elif is_writable and not self._is_writable:
            raise BankReadOnly(absolute_prefix)
        return BankSection(self._bank, absolute_prefix, is_writable=is_writable)

    def get_owner_id(self, context=None):
        """The owner id of the bank this section is part of."""
        return self._bank.get_owner_id(context=context)
