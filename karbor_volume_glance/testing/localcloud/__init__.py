"""A local OpenStack for functional tests: the real clients over HTTP.

:class:`LocalCloud` serves Keystone v3, Cinder v3 (with microversions),
Glance v2 and Nova v2.1 on one port of 127.0.0.1, in devstack's path layout
(``/identity``, ``/volume``, ``/image``, ``/compute``). It keeps volumes,
snapshots and images as sparse files, makes status changes take time so
clients must poll, keeps each project's resources to itself and fails on
demand (:meth:`LocalCloud.inject`). ``karbor-volume-glance-localcloud`` runs
one from the command line. Its domain layer (:mod:`.identity`,
:mod:`.blockstorage`, :mod:`.imagestore`, :mod:`.compute`, :mod:`.faults`,
:mod:`.pacing`) is the only model of these services in the package:
:class:`~karbor_volume_glance.testing.FakeCloud` serves the same application
in process (:mod:`.inprocess`), with statuses moving per poll.
"""

from karbor_volume_glance.testing.localcloud.cloud import CloudContext, LocalCloud

__all__ = ["CloudContext", "LocalCloud"]
