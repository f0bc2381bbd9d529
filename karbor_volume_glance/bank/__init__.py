"""The bank: where protected data and its metadata are kept.

:func:`open_bank` opens a bank by URL; a :class:`Bank` gives out
:class:`BankSection` objects, each confined to one prefix. Storage is done by
a :class:`BankBackend` found by name with :func:`load_backend`.
"""

from karbor_volume_glance.bank.base import BankBackend
from karbor_volume_glance.bank.loader import load_backend, open_bank
from karbor_volume_glance.bank.section import Bank, BankSection

__all__ = ["Bank", "BankBackend", "BankSection", "load_backend", "open_bank"]
