"""Clock and the timestamp formats each faked OpenStack service returns.

Cinder writes ``2024-05-01T12:00:00.000000`` (no zone), Glance and Nova write
``2024-05-01T12:00:00Z``; the fakes keep :class:`datetime` values and format
them only when building an API response.
"""

import datetime


def now():
    """The current UTC time, the moment a fake resource changed."""
    return datetime.datetime.now(datetime.UTC)


def cinder_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def glance_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def nova_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
