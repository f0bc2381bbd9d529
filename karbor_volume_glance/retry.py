"""Retrying a bank call at its call site: the old way, kept as a thin layer.

The bank now retries by itself (:mod:`karbor_volume_glance.bank.retrying`:
one tenacity policy around every call of a wrapped bank or section). This
module keeps the call-site helper :func:`bank_call` importable while the
operations still call it; it uses the same policy and the same notion of a
transient error (:func:`is_transient`), and it calls ``func`` just once when
``func`` already retries by itself (a method of a wrapped section, or a
helper given a wrapped section), so that retries are never nested::

    data = retry.bank_call(section.get_object, key, retries=settings.bank_retries,
                           what=f"reading {key} of volume {volume_id}")

To be deleted with its last call site (``Operation.bank_call``).
"""

import time

from oslo_log import log as logging

from karbor_volume_glance.bank.retrying import (  # noqa: F401 - re-exported
    FIRST_WAIT,
    MAX_WAIT,
    PERMANENT_ERRORS,
    TRANSIENT_ERRORS,
    Policy,
    is_retrying,
    is_transient,
)

LOG = logging.getLogger(__name__)


def bank_call(func, *args, retries, what, first_wait=FIRST_WAIT,
              max_wait=MAX_WAIT, sleep=time.sleep, **kwargs):
    """``func(*args, **kwargs)``, retried up to ``retries`` times on transient
    errors, unless it already retries by itself (then called once).

    ``what`` says what the call does, for the log ("writing data_7 of volume
    X"). ``first_wait``, ``max_wait`` and ``sleep`` shape the pauses (tests
    make them tiny or record them); the other keyword arguments go to
    ``func``. Returns what ``func`` returns; raises its last error unchanged.
    """
    policy = Policy(retries, first_wait=first_wait, max_wait=max_wait,
                    sleep=sleep, logger=LOG)
    if getattr(func, "retried_by", None) is not None or any(
            is_retrying(arg) for arg in args):
        return func(*args, **kwargs)
    return policy.call(func, *args, what=what, **kwargs)
