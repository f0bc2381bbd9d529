"""The banks a run measures (``--bank file,s3,swift``): where each case's
checkpoints go, and what the parent measures and removes there.

A *site* is one kind of bank for the whole run: ``file`` is a directory in the
work directory (one bank for every case, as the benchmark has always had);
``s3`` is a SeaweedFS and ``swift`` a one-node Swift, each started once per
run (:mod:`karbor_volume_glance.testing.objstores`). ``site.place(number)``
gives a case its *place*: the bank URL its child opens, the environment that
child needs (the credentials, which never go into a URL or onto a command
line), and the parent's side of it: the bank opened with the credentials, the
bytes of the chunk objects a checkpoint stored, the raw write, and the removal
of the place. For ``s3`` and ``swift`` each case gets a bucket or container of
its own, created before it runs and removed (with everything in it) after it,
unless ``--keep``.

The raw write is measured against the case's own bank: for ``file``, files in
a scratch directory written as the file bank writes them (:func:`.measure.raw_write`);
for ``s3`` and ``swift``, one PUT per ``backup_image_object_size`` object, one
at a time, with the MD5 the banks send (computed outside the timing), to the
same server, under a scratch prefix removed afterwards. So it is the speed of
one stream of writes into that store, without the plugin.

A child with an S3 bank gets the credentials as ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, the region, ``AWS_EC2_METADATA_DISABLED=true``,
and no other ``AWS_*`` variable or configuration file, so boto3 never looks
further (an instance metadata service, a profile) than the server on
127.0.0.1. The parent passes credentials, region and endpoint to boto3
itself.
"""

import base64
import contextlib
import hashlib
import io
import os
import time
import urllib.parse
import uuid

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.bank.section import Bank
from karbor_volume_glance.testing import objstores
from tools.bench import measure

#: The banks ``--bank`` takes; ``file`` is the default.
BANKS = ("file", "s3", "swift")
DEFAULT_BANK = "file"
#: The bank's prefix inside a case's bucket or container.
PREFIX = "bench"
#: Where the raw write puts its objects, beside the bank's prefix.
RAW_PREFIX = "raw-write/"
CHUNK_PREFIX = measure.CHUNK_PREFIX
#: Attempts per request of the parent's own S3 and Swift clients.
ATTEMPTS = 5
#: What each bank's raw write is, for the report's notes.
RAW_WRITE_NOTES = {
    "file": "files in the work directory, one per object, fsync'd as the file "
            "bank writes them",
    "s3": "one PUT (Content-MD5) per object, one at a time, to the same "
          "SeaweedFS",
    "swift": "one PUT (ETag) per object, one at a time, to the same Swift",
}


def section_prefix(checkpoint_id, volume_id):
    """The bank keys' path (no leading ``/``) of a volume's section of a
    checkpoint, as the standalone checkpoints lay them out."""
    return f"checkpoints/{checkpoint_id}/resource-data/{volume_id}/"


def chunk_bytes(listing):
    """The sizes summed of the chunk objects (``data_*``) among ``(name,
    size)`` pairs."""
    return sum(size for name, size in listing
               if name.rsplit("/", 1)[-1].startswith(CHUNK_PREFIX))


def place_name(number):
    """A new bucket or container name for the case numbered ``number``."""
    return f"kvg-bench-{number}-{uuid.uuid4().hex[:10]}"


def content_md5(data):
    """The ``Content-MD5`` header of ``data``, as the S3 bank sends it."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()
                            ).decode("ascii")


def timed_object_writes(source_path, object_size, write):
    """``(seconds, bytes)`` of ``write(index, data)`` for each ``object_size``
    piece of the file; only the calls to ``write`` are timed."""
    seconds = size = 0
    with open(source_path, "rb") as source:
        for index, data in enumerate(iter(lambda: source.read(object_size), b"")):
            start = time.perf_counter()
            write(index + 1, data)
            seconds += time.perf_counter() - start
            size += len(data)
    return seconds, size


def aws_environment(base, access_key, secret_key, region):
    """``base`` without any ``AWS_*`` variable, plus the credentials, the
    region, no configuration files and no instance metadata service."""
    environment = {name: value for name, value in base.items()
                   if not name.upper().startswith("AWS_")}
    environment.update(
        AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION=region, AWS_REGION=region,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return environment


def swift_environment(base, key):
    return {**base, "KVG_SWIFT_KEY": key}


# --- file ----------------------------------------------------------------------


class FileSite:
    """The file bank: one directory in the work directory for every case."""

    name = "file"

    def __init__(self, workdir):
        self.path = os.path.join(workdir, "bank")
        self.url = f"file://{self.path}"

    def place(self, number):
        return FilePlace(self.path, self.url)

    def notes(self):
        kind = objstores.filesystem_type(os.path.dirname(self.path))
        return [f"file: {self.url} ({kind})"]


class FilePlace:
    env = None  # the child inherits the parent's environment

    def __init__(self, path, url):
        self.path = path
        self.url = url

    def open_bank(self):
        return open_bank(self.url)

    def stored_bytes(self, checkpoint_id, volume_id):
        return measure.stored_chunk_bytes(measure.section_directory(
            self.path, checkpoint_id, volume_id))

    def raw_write(self, source_path, scratch, object_size):
        return measure.raw_write(source_path, scratch, object_size)

    def remove(self):
        """Nothing: the bank is the run's (its checkpoints are deleted)."""


# --- S3 --------------------------------------------------------------------------


class S3Site:
    """Buckets in one SeaweedFS; ``client`` is the parent's boto3 client."""

    name = "s3"

    def __init__(self, server, client=None, environ=None):
        from karbor_volume_glance.bank import s3

        self.server = server
        self.client = client or s3.build_client(
            server.endpoint_url, objstores.REGION, objstores.ACCESS_KEY,
            objstores.SECRET_KEY, max_attempts=ATTEMPTS)
        self.env = aws_environment(os.environ if environ is None else environ,
                                   objstores.ACCESS_KEY,
                                   objstores.SECRET_KEY, objstores.REGION)

    def place(self, number):
        bucket = place_name(number)
        self.client.create_bucket(Bucket=bucket)
        return S3Place(self, bucket)

    def notes(self):
        return [f"s3: {self.server.name} {self.server.version()} (weed mini) at "
                f"{self.server.endpoint_url}, data in "
                f"{self.server.data_directory} "
                f"({objstores.filesystem_type(self.server.data_directory)}); "
                "a bucket per case"]


class S3Place:
    def __init__(self, site, bucket):
        self.site = site
        self.bucket = bucket
        self.client = site.client
        self.env = site.env
        query = urllib.parse.urlencode({"endpoint": site.server.endpoint_url,
                                        "region": objstores.REGION}, safe=":/")
        self.url = f"s3://{bucket}/{PREFIX}?{query}"

    def open_bank(self):
        from karbor_volume_glance.bank.s3 import S3Backend

        return Bank(S3Backend(self.bucket, prefix=PREFIX,
                              endpoint_url=self.site.server.endpoint_url,
                              region=objstores.REGION, client=self.client))

    def _names(self, prefix):
        """``(name, size)`` of every object whose name starts with ``prefix``."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for entry in page.get("Contents", ()):
                yield entry["Key"], entry["Size"]

    def stored_bytes(self, checkpoint_id, volume_id):
        return chunk_bytes(self._names(
            f"{PREFIX}/{section_prefix(checkpoint_id, volume_id)}"))

    def raw_write(self, source_path, scratch, object_size):
        def put(index, data):
            self.client.put_object(Bucket=self.bucket,
                                   Key=f"{RAW_PREFIX}{CHUNK_PREFIX}{index}",
                                   Body=data, ContentMD5=digests[index])

        digests = _digests(source_path, object_size, content_md5)
        try:
            return timed_object_writes(source_path, object_size, put)
        finally:
            self._delete_all(RAW_PREFIX)

    def _delete_all(self, prefix=""):
        for name, _size in list(self._names(prefix)):
            self.client.delete_object(Bucket=self.bucket, Key=name)

    def remove(self):
        """Delete every object of the bucket, then the bucket."""
        self._delete_all()
        self.client.delete_bucket(Bucket=self.bucket)


def _digests(source_path, object_size, digest):
    """``{index: digest(piece)}`` of the file's ``object_size`` pieces (from 1)."""
    with open(source_path, "rb") as source:
        return {index + 1: digest(data) for index, data in
                enumerate(iter(lambda: source.read(object_size), b""))}


# --- Swift -----------------------------------------------------------------------


class SwiftSite:
    """Containers in one Swift; ``connection`` is the parent's swiftclient one."""

    name = "swift"

    def __init__(self, server, connection=None, environ=None):
        self.server = server
        if connection is None:
            from swiftclient import client as swift_client

            connection = swift_client.Connection(
                authurl=server.auth_url, user=objstores.SWIFT_USER,
                key=objstores.SWIFT_KEY, auth_version="1.0", retries=ATTEMPTS,
                timeout=120)
        self.connection = connection
        self.env = swift_environment(os.environ if environ is None else environ,
                                     objstores.SWIFT_KEY)

    def place(self, number):
        container = place_name(number)
        place = SwiftPlace(self, container)
        for name in place.containers:
            self.connection.put_container(name)
        return place

    def notes(self):
        return [f"swift: {self.server.name} {self.server.version()} (one node, "
                f"tempauth) at {self.server.auth_url}, "
                f"{self.server.devices_note}; a container per case"]


class SwiftPlace:
    def __init__(self, site, container):
        self.site = site
        self.container = container
        self.segment_container = f"{container}_segments"
        self.containers = (container, self.segment_container)
        self.connection = site.connection
        self.env = site.env
        query = urllib.parse.urlencode(
            {"auth_url": site.server.auth_url, "user": objstores.SWIFT_USER,
             "create_container": "false"}, safe=":/")
        self.url = f"swift://{container}/{PREFIX}?{query}"

    def open_bank(self):
        from karbor_volume_glance.bank.swift import SwiftBackend

        return Bank(SwiftBackend(
            self.container, prefix=PREFIX, auth_url=self.site.server.auth_url,
            user=objstores.SWIFT_USER, key=objstores.SWIFT_KEY,
            create_container=False))

    def _names(self, container, prefix=None):
        _headers, listing = self.connection.get_container(
            container, prefix=prefix, full_listing=True)
        return [(entry["name"], entry["bytes"]) for entry in listing]

    def stored_bytes(self, checkpoint_id, volume_id):
        return chunk_bytes(self._names(
            self.container, f"{PREFIX}/{section_prefix(checkpoint_id, volume_id)}"))

    def raw_write(self, source_path, scratch, object_size):
        def put(index, data):
            self.connection.put_object(
                self.container, f"{RAW_PREFIX}{CHUNK_PREFIX}{index}",
                io.BytesIO(data), content_length=len(data), etag=digests[index],
                content_type="application/octet-stream")

        digests = _digests(source_path, object_size, _md5_hex)
        try:
            return timed_object_writes(source_path, object_size, put)
        finally:
            self._delete_all(self.container, RAW_PREFIX)

    def _delete_all(self, container, prefix=None):
        for name, _size in self._names(container, prefix):
            self.connection.delete_object(container, name)

    def remove(self):
        """Delete every object of both containers, then the containers."""
        from swiftclient.exceptions import ClientException

        for container in reversed(self.containers):
            try:
                self._delete_all(container)
            except ClientException as exc:
                if exc.http_status != 404:
                    raise
                continue
            self.connection.delete_container(container)


def _md5_hex(data):
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --- the run's sites ---------------------------------------------------------------


def banks_of(cases):
    """The banks the cases use, in the order :data:`BANKS` names them."""
    used = {case.bank for case in cases}
    return [bank for bank in BANKS if bank in used]


def start_sites(banks, workdir, stack, keep=False):
    """``{bank: site}`` for ``banks``, their servers started and registered in
    ``stack`` (an ExitStack) to be stopped.

    The servers' data is under ``workdir`` (Swift's devices may go to
    /dev/shm, see :mod:`karbor_volume_glance.testing.objstores.swift`; kept
    there with ``keep``).
    """
    sites = {}
    for bank in banks:
        if bank == "file":
            sites[bank] = FileSite(workdir)
        elif bank == "s3":
            server = stack.enter_context(objstores.SeaweedFS(
                os.path.join(workdir, "seaweedfs")))
            sites[bank] = S3Site(server)
        elif bank == "swift":
            # no large object is written (the objects are at most
            # backup_image_object_size, far below the Swift bank's threshold),
            # so the devices can stay on the work directory's disk, beside the
            # file bank and SeaweedFS's data: the banks are measured alike
            server = stack.enter_context(objstores.SwiftServer(
                os.path.join(workdir, "swift"), keep_devices=keep,
                xattr_room=objstores.swift.PLAIN_XATTR_ROOM))
            sites[bank] = SwiftSite(server)
        else:
            raise ValueError(f"unknown bank {bank!r}")
    return sites


def notes(sites):
    """Lines that say where each bank is and what its raw write measured."""
    lines = []
    for site in sites.values():
        lines.extend(site.notes())
    lines.append("raw read: the image from the local Glance, the same for "
                 "every bank")
    for name in sites:
        lines.append(f"raw write ({name}): {RAW_WRITE_NOTES[name]}")
    return lines


@contextlib.contextmanager
def no_instance_metadata():
    """``AWS_EC2_METADATA_DISABLED=true`` in this process while it runs."""
    previous = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        else:
            os.environ["AWS_EC2_METADATA_DISABLED"] = previous
