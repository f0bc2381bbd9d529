"""Object-store servers of the benchmark's own: SeaweedFS (S3) and Swift.

Both come from ``tools/install-test-services``, which installs them under
``$KVG_TEST_SERVICES`` (``<repo>/.test-services`` by default): SeaweedFS's
``weed`` binary in ``seaweedfs-venv``, OpenStack Swift in ``swift-venv``, and
memcached from Debian. This is the part of the functional tests' helpers
(``tests/functional/objstores.py`` and ``swift_server.py``) that starts and
stops the servers, without pytest, since the benchmark ships in the package.

Every server binds 127.0.0.1 only, on free ports chosen when it starts, keeps
its data under the directory it is given and runs in process groups of its
own, which :meth:`stop` kills. SeaweedFS runs ``weed mini`` (master, volume
server, filer and S3 gateway in one process) with telemetry off and one S3
identity (:data:`S3_ACCESS_KEY`). Swift is one node with tempauth (user
:data:`SWIFT_USER`, key :data:`SWIFT_KEY`), a proxy, an account, a container
and an object server of one worker each, and a memcached.

Swift keeps an object's metadata in extended attributes. The benchmark's
objects are at most ``backup_image_object_size`` (32 MiB), far below the Swift
bank's large-object threshold (512 MiB), so no Static Large Object manifest
(whose metadata outgrows ext4's 4 KiB of attributes) is ever written, and
:data:`SWIFT_XATTR_ROOM` is enough: the devices are kept on the work
directory's own filesystem, beside the file bank and SeaweedFS, so that the
banks are measured on the same disk. Only a filesystem without that room
sends them to a fresh directory under /dev/shm (a tmpfs: memory, where an
fsync costs nothing), which :attr:`SwiftServer.devices_note` says.
"""

import contextlib
import errno
import glob
import json
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES_VARIABLE = "KVG_TEST_SERVICES"
INSTALL_HINT = "run tools/install-test-services"
START_TIMEOUT = 60.0
#: Seconds a server gets to stop cleanly before it is killed.
STOP_TIMEOUT = 5.0

REGION = "us-east-1"
S3_ACCESS_KEY = "kvg-bench"
S3_SECRET_KEY = "kvg-bench-secret"

SWIFT_USER = "test:tester"
SWIFT_KEY = "kvg-bench-swift-key"
SWIFT_SERVERS = ("account", "container", "object")
#: Attribute bytes a Swift device file must hold: a plain object's metadata
#: (name, timestamps, ETag, type, length and the bank's two headers) is well
#: under 1 KiB.
SWIFT_XATTR_ROOM = 2048


class ServiceError(RuntimeError):
    """A server is not installed, or did not start."""


# --- where the servers are ----------------------------------------------------


def services_root():
    """Where tools/install-test-services put the servers."""
    return pathlib.Path(os.environ.get(SERVICES_VARIABLE)
                        or REPO_ROOT / ".test-services")


def weed_binary():
    """The ``weed`` that tools/install-test-services installed; else ServiceError."""
    path = services_root() / "seaweedfs-venv" / "bin" / "weed"
    if not os.access(path, os.X_OK):
        raise ServiceError(f"SeaweedFS is not installed ({path} is missing): "
                           f"{INSTALL_HINT}, or set {SERVICES_VARIABLE}")
    return path


def swift_venv():
    """The venv Swift is installed in; else ServiceError."""
    venv = services_root() / "swift-venv"
    if not (venv / "bin" / "swift-proxy-server").exists():
        raise ServiceError(f"Swift is not installed in {venv}: {INSTALL_HINT}, "
                           f"or set {SERVICES_VARIABLE}")
    return venv


def memcached_binary():
    found = shutil.which("memcached") or (
        "/usr/bin/memcached" if os.access("/usr/bin/memcached", os.X_OK) else None)
    if not found:
        raise ServiceError(f"memcached (for Swift) is not installed: {INSTALL_HINT}")
    return found


#: What each bank needs installed.
_NEEDS = {"s3": (weed_binary,), "swift": (swift_venv, memcached_binary)}


def missing_services(banks):
    """Why the servers of ``banks`` cannot start: one message each; [] if they can."""
    messages = []
    for bank in banks:
        for find in _NEEDS.get(bank, ()):
            try:
                find()
            except ServiceError as exc:
                messages.append(str(exc))
    return messages


def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _kill_group(process, signum):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_processes(processes, timeout=STOP_TIMEOUT):
    """SIGTERM each process's group, then SIGKILL what is left of them."""
    processes = [process for process in processes if process is not None]
    for process in processes:
        _kill_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
    for process in processes:
        _kill_group(process, signal.SIGKILL)  # workers left behind, too
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)


def _spawn(command, log_path, cwd):
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def log_tail(path, limit=3000):
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return text if len(text) <= limit else "[…]" + text[-limit:]


# --- SeaweedFS ----------------------------------------------------------------


def s3_identities():
    """SeaweedFS's ``-s3.config``: the one identity the benchmark uses."""
    return {"identities": [
        {"name": "bench",
         "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
    ]}


class SeaweedFS:
    """A ``weed mini`` of its own in ``directory``, its S3 gateway on 127.0.0.1.

    ``ports`` (``{"s3.port": …, …}``, every one of :attr:`PORTS`) are chosen
    free when it starts unless given.
    """

    SERVICES = ("master", "volume", "filer", "s3", "admin")
    PORTS = tuple(f"{service}.port{grpc}" for service in SERVICES
                  for grpc in ("", ".grpc"))
    name = "SeaweedFS"

    def __init__(self, directory, ports=None):
        self.directory = pathlib.Path(directory)
        self.ports = dict(ports) if ports else None
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
        config.write_text(json.dumps(s3_identities()))
        ports = [f"-{flag}={self.ports[flag]}" for flag in self.PORTS]
        return [
            str(weed_binary()), "mini", f"-dir={self.data_directory}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", *ports,
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false",
            # as S3 does: writing to a missing bucket fails
            "-s3.autoCreateBucket=false",
            # volumes are sparse (no preallocation), so slots cost no space
            "-volume.max=100",
        ]

    def start(self):
        """Start it and wait (bounded) until its S3 gateway answers; self."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_directory.mkdir(exist_ok=True)
        if self.ports is None:
            self.ports = dict(zip(self.PORTS, free_ports(len(self.PORTS)),
                                  strict=True))
        self.process = _spawn(self.command(), self.log_path, self.directory)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while not self._answers():
                if self.process.poll() is not None:
                    raise ServiceError(
                        f"weed mini exited with status {self.process.returncode}:"
                        f"\n{log_tail(self.log_path)}")
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"SeaweedFS's S3 gateway did not answer on "
                        f"{self.endpoint_url} in {START_TIMEOUT:g} s:\n"
                        f"{log_tail(self.log_path)}")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self):
        """Whether the S3 gateway serves: an unsigned ListBuckets gets 403."""
        try:
            with urllib.request.urlopen(self.endpoint_url + "/", timeout=2):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code == 403
        except OSError:
            return False

    def stop(self):
        """Kill its process group (idempotent) and the sockets weed leaves."""
        process, self.process = self.process, None
        stop_processes([process])
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
        except (OSError, subprocess.SubprocessError, ServiceError):
            return "?"
        return weed_version(completed.stdout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def weed_version(text):
    """The version in ``weed version``'s output (``version 8000GB 4.48 …``)."""
    found = re.search(r"\b\d+\.\d+(?:\.\d+)?\b", text)
    return found.group(0) if found else "?"


# --- Swift --------------------------------------------------------------------


def has_xattr_room(directory, room):
    """Whether files in ``directory`` can hold ``room`` bytes of user xattrs."""
    probe = pathlib.Path(directory) / f".xattr-probe-{os.getpid()}"
    probe.touch()
    try:
        for index in range(-(-room // 512)):
            os.setxattr(probe, f"user.probe.{index}", b"x" * 500)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.E2BIG, errno.ENOTSUP, errno.EPERM,
                         errno.EOPNOTSUPP):
            return False
        raise
    finally:
        probe.unlink()


def filesystem_type(path, mounts=None):
    """The type of the filesystem ``path`` is on, from ``mounts`` (the text of
    /proc/mounts, read unless given), or "?"."""
    if mounts is None:
        try:
            with open("/proc/mounts") as stream:
                mounts = stream.read()
        except OSError:
            return "?"
    path = os.path.realpath(path)
    best, kind = None, "?"
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = path == mount_point or path.startswith(
            mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= len(best)):
            best, kind = mount_point, fields[2]
    return kind


_RING_SCRIPT = """
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for spec in sys.argv[2:]:
    name, port = spec.split(":")
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                     "port": int(port), "device": "d1", "weight": 100,
                     "meta": ""})
    builder.rebalance()
    builder.save(f"{etc}/{name}.builder")
    builder.get_ring().save(f"{etc}/{name}.ring.gz")
"""


def _current_user():
    return pwd.getpwuid(os.getuid()).pw_name


class SwiftServer:
    """A one-node Swift under ``base``; a context manager that always stops it.

    ``ports`` (``{"proxy": …, "memcached": …, "account": …, "container": …,
    "object": …}``) are chosen free when it starts unless given. Devices it
    made under /dev/shm are removed when it stops, unless ``keep_devices``.
    """

    name = "Swift"

    def __init__(self, base, ports=None, keep_devices=False):
        self.base = pathlib.Path(base)
        self.keep_devices = keep_devices
        self.etc = self.base / "etc"
        self.logs = self.base / "log"
        self.ports = dict(ports) if ports else None
        self.devices = None
        self._own_devices = None  # a /dev/shm directory to remove at stop
        self.processes = {}

    @property
    def auth_url(self):
        return f"http://127.0.0.1:{self.ports['proxy']}/auth/v1.0"

    def choose_devices(self):
        """The work directory's ``devices`` if it holds the attributes Swift
        needs, else a new directory under /dev/shm."""
        local = self.base / "devices"
        local.mkdir(parents=True, exist_ok=True)
        if has_xattr_room(local, SWIFT_XATTR_ROOM):
            return local
        if os.path.isdir("/dev/shm") and has_xattr_room("/dev/shm",
                                                        SWIFT_XATTR_ROOM):
            self._own_devices = pathlib.Path(
                tempfile.mkdtemp(prefix="kvg-bench-swift-", dir="/dev/shm"))
            return self._own_devices
        raise ServiceError(f"neither {local} nor /dev/shm can hold "
                           f"{SWIFT_XATTR_ROOM} bytes of extended attributes per "
                           "file, which Swift needs")

    @property
    def devices_note(self):
        kind = filesystem_type(self.devices) if self.devices else "?"
        memory = " (memory: fsync costs nothing)" if kind == "tmpfs" else ""
        return f"devices in {self.devices} ({kind}){memory}"

    def _common(self, port):
        return (
            "[DEFAULT]\n"
            "bind_ip = 127.0.0.1\n"
            f"bind_port = {port}\n"
            "workers = 1\n"
            f"user = {_current_user()}\n"
            f"swift_dir = {self.etc}\n"
            f"devices = {self.devices}\n"
            "mount_check = false\n"
            "disable_fallocate = true\n"
            f"recon_cache_path = {self.base / 'cache'}\n"
            "log_level = WARNING\n"
        )

    def write_configuration(self):
        """swift.conf and the four servers' configuration files under etc/."""
        for directory in (self.etc, self.logs, self.base / "cache",
                          pathlib.Path(self.devices) / "d1"):
            directory.mkdir(parents=True, exist_ok=True)
        (self.etc / "swift.conf").write_text(
            "[swift-hash]\n"
            "swift_hash_path_prefix = kvg-bench\n"
            "swift_hash_path_suffix = kvg-bench\n"
            "[storage-policy:0]\n"
            "name = Policy-0\n"
            "default = yes\n"
        )
        for server in SWIFT_SERVERS:
            (self.etc / f"{server}-server.conf").write_text(
                self._common(self.ports[server])
                + "[pipeline:main]\n"
                f"pipeline = healthcheck {server}-server\n"
                f"[app:{server}-server]\n"
                f"use = egg:swift#{server}\n"
                "[filter:healthcheck]\n"
                "use = egg:swift#healthcheck\n"
            )
        (self.etc / "proxy-server.conf").write_text(
            self._common(self.ports["proxy"])
            + "[pipeline:main]\n"
            "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache "
            "listing_formats tempauth copy slo dlo proxy-logging proxy-server\n"
            "[filter:catch_errors]\nuse = egg:swift#catch_errors\n"
            "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n"
            "[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
            "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n"
            "[filter:cache]\nuse = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{self.ports['memcached']}\n"
            "[filter:listing_formats]\nuse = egg:swift#listing_formats\n"
            "[filter:tempauth]\nuse = egg:swift#tempauth\n"
            f"user_test_tester = {SWIFT_KEY} .admin\n"
            "[filter:copy]\nuse = egg:swift#copy\n"
            "[filter:slo]\nuse = egg:swift#slo\n"
            "rate_limit_segments_per_sec = 0\n"
            "[filter:dlo]\nuse = egg:swift#dlo\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\n"
            "allow_account_management = true\n"
            "account_autocreate = true\n"
        )

    def _build_rings(self, venv):
        specs = [f"{server}:{self.ports[server]}" for server in SWIFT_SERVERS]
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-c", _RING_SCRIPT, str(self.etc),
             *specs], capture_output=True, text=True, timeout=60, check=False,
            stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ServiceError(f"building Swift's rings failed:\n{result.stderr}")

    def start(self):
        """Start memcached and the four servers, wait until Swift authenticates."""
        venv, memcached = swift_venv(), memcached_binary()
        if self.ports is None:
            names = ("proxy", "memcached", *SWIFT_SERVERS)
            self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        try:
            self.devices = self.choose_devices()
            self.write_configuration()
            self.processes["memcached"] = _spawn(
                [memcached, "-l", "127.0.0.1", "-p", str(self.ports["memcached"]),
                 "-U", "0", "-m", "64", "-u", _current_user()],
                self.logs / "memcached.log", self.base)
            self._build_rings(venv)
            for server in (*SWIFT_SERVERS, "proxy"):
                self.processes[server] = _spawn(
                    [str(venv / "bin" / f"swift-{server}-server"),
                     str(self.etc / f"{server}-server.conf"), "-v"],
                    self.logs / f"{server}.log", self.base)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        ready = set()
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise ServiceError(
                        f"the Swift {name} process exited with status "
                        f"{process.returncode}:\n"
                        f"{log_tail(self.logs / f'{name}.log')}")
            for server in (*SWIFT_SERVERS, "proxy"):
                if server not in ready and _healthy(self.ports[server]):
                    ready.add(server)
            if len(ready) == len(SWIFT_SERVERS) + 1 and self._authenticates():
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"Swift did not answer within {START_TIMEOUT:g} s (ready: "
                    f"{sorted(ready)}):\n" + "\n".join(
                        log_tail(self.logs / f"{name}.log", 1000)
                        for name in self.processes))
            time.sleep(0.1)

    def _authenticates(self):
        request = urllib.request.Request(
            self.auth_url, headers={"X-Auth-User": SWIFT_USER,
                                    "X-Auth-Key": SWIFT_KEY})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200 and bool(
                    response.headers.get("X-Storage-Url"))
        except OSError:
            return False

    def stop(self):
        """Kill every process group started here; remove /dev/shm devices."""
        stop_processes(list(self.processes.values()))
        self.processes.clear()
        if self._own_devices is not None and not self.keep_devices:
            shutil.rmtree(self._own_devices, ignore_errors=True)
            self._own_devices = None

    def version(self):
        """The installed Swift's version, from its dist-info, or "?"."""
        try:
            found = sorted(swift_venv().glob("lib/python*/site-packages/"
                                             "swift-*.dist-info"))
        except ServiceError:
            return "?"
        return found[-1].name[len("swift-"):-len(".dist-info")] if found else "?"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def _healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck",
                                    timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
