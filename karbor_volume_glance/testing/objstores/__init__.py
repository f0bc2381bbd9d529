"""Real object stores on 127.0.0.1 for tests: SeaweedFS (S3) and Swift.

The one place that starts and stops them, for this project's functional
tests and benchmark and for users' own tests of S3 or Swift banks::

    from karbor_volume_glance.testing import objstores

    with objstores.SeaweedFS(tmp_path / "weed") as server:
        bucket = server.new_bucket()  # S3 at server.endpoint_url, in
        ...  # objstores.REGION, as objstores.ACCESS_KEY / SECRET_KEY

    with objstores.SwiftServer(tmp_path / "swift") as server:
        ...  # server.auth_url, server.user, server.key

Both come from ``tools/install-test-services`` (in a checkout of this
project), found under ``$KVG_TEST_SERVICES`` (:mod:`.common`); a server that
is not installed raises :class:`ServiceError` saying so, and a test should
then fail, never skip: a skipped test is not a passing one. Every server binds
127.0.0.1 only, on free ports, keeps its data under the directory it is given
and runs in process groups of its own, which ``stop()`` (or leaving the
``with``) kills. :mod:`.seaweedfs` and :mod:`.swift` say more.
"""

from karbor_volume_glance.testing.objstores import common, seaweedfs, swift
from karbor_volume_glance.testing.objstores.common import (
    ServiceError,
    filesystem_type,
    services_root,
)
from karbor_volume_glance.testing.objstores.seaweedfs import (
    ACCESS_KEY,
    READER_ACCESS_KEY,
    READER_SECRET_KEY,
    REGION,
    SECRET_KEY,
    SeaweedFS,
    weed_binary,
)
from karbor_volume_glance.testing.objstores.swift import (
    SWIFT_KEY,
    SWIFT_USER,
    SwiftServer,
)


def missing_services(banks):
    """Why the servers of ``banks`` (``s3``, ``swift``; others need none)
    cannot start: one message each; [] if they can."""
    needs = {"s3": (seaweedfs.weed_binary,),
             "swift": (swift.swift_venv, swift.memcached_binary)}
    messages = []
    for bank in banks:
        for find in needs.get(bank, ()):
            try:
                find()
            except ServiceError as exc:
                messages.append(str(exc))
    return messages


__all__ = [
    "ACCESS_KEY",
    "READER_ACCESS_KEY",
    "READER_SECRET_KEY",
    "REGION",
    "SECRET_KEY",
    "SWIFT_KEY",
    "SWIFT_USER",
    "SeaweedFS",
    "ServiceError",
    "SwiftServer",
    "common",
    "filesystem_type",
    "missing_services",
    "seaweedfs",
    "services_root",
    "swift",
    "weed_binary",
]
