"""A real one-node OpenStack Swift on 127.0.0.1, for the Swift bank's tests.

Swift comes from PyPI, installed by ``tools/install-test-services`` into
``${KVG_TEST_SERVICES:-<repo>/.test-services}/swift-venv``; memcached comes
from Debian. :class:`SwiftServer` starts a proxy (with tempauth: user
``test:tester``, key ``kvg-swift-test-key``), an account, a container and an object
server and a memcached, each on a free port and in a process group of its
own, with every file under one directory. No updater daemons run: with one
replica on one node, container and account updates are made synchronously
during each request, which is all the bank's listings need.

Swift keeps object metadata in extended attributes. ext4 caps one file's at
about 4 KiB, too little for a large object's manifest, so when the base
directory's filesystem refuses 8 KiB of attributes the devices go to a fresh
directory under /dev/shm (a tmpfs; kernels from 6.6 on have user xattrs there),
removed again by :meth:`SwiftServer.stop`.
"""

import errno
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
USER = "test:tester"
KEY = "kvg-swift-test-key"
SERVERS = ("account", "container", "object")
#: Attribute bytes a device file must hold (ext4 holds about 4 KiB).
XATTR_ROOM = 8192
START_TIMEOUT = 60.0


class SwiftServerError(RuntimeError):
    """The Swift server could not be found or started."""


def services_directory():
    return pathlib.Path(os.environ.get("KVG_TEST_SERVICES")
                        or REPO_ROOT / ".test-services")


def swift_venv():
    """The venv Swift is installed in; SwiftServerError saying how if none."""
    venv = services_directory() / "swift-venv"
    if not (venv / "bin" / "swift-proxy-server").exists():
        raise SwiftServerError(
            f"Swift is not installed in {venv}: run tools/install-test-services "
            "(it installs Swift from PyPI there, and memcached)"
        )
    return venv


def memcached_binary():
    found = shutil.which("memcached") or (
        "/usr/bin/memcached" if os.access("/usr/bin/memcached", os.X_OK) else None)
    if not found:
        raise SwiftServerError(
            "memcached is not installed: run tools/install-test-services")
    return found


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


def has_xattr_room(directory, room=XATTR_ROOM):
    """Whether files in ``directory`` can hold ``room`` bytes of user xattrs."""
    probe = pathlib.Path(directory) / f".xattr-probe-{os.getpid()}"
    probe.touch()
    try:
        for index in range(room // 1024):
            os.setxattr(probe, f"user.probe.{index}", b"x" * 1000)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.E2BIG, errno.ENOTSUP, errno.EPERM,
                         errno.EOPNOTSUPP):
            return False
        raise
    finally:
        probe.unlink()


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


class SwiftServer:
    """A one-node Swift under ``base``; :meth:`start` it, then :meth:`stop` it."""

    def __init__(self, base):
        self.base = pathlib.Path(base)
        self.venv = swift_venv()
        self.memcached = memcached_binary()
        self.etc = self.base / "etc"
        self.logs = self.base / "log"
        self.devices = None
        self._own_devices = None  # a /dev/shm directory to remove at stop
        (self.proxy_port, self.memcached_port,
         *server_ports) = free_ports(2 + len(SERVERS))
        self.ports = dict(zip(SERVERS, server_ports, strict=True))
        self.processes = {}

    @property
    def auth_url(self):
        return f"http://127.0.0.1:{self.proxy_port}/auth/v1.0"

    user = USER
    key = KEY

    # --- configuration ------------------------------------------------------

    def _choose_devices(self):
        local = self.base / "devices"
        local.mkdir(parents=True)
        if has_xattr_room(local):
            return local
        if os.path.isdir("/dev/shm") and has_xattr_room("/dev/shm"):
            self._own_devices = pathlib.Path(
                tempfile.mkdtemp(prefix="kvg-swift-", dir="/dev/shm"))
            return self._own_devices
        raise SwiftServerError(
            f"neither {local} nor /dev/shm can hold {XATTR_ROOM} bytes of "
            "extended attributes per file, which Swift needs")

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

    def _write_configuration(self):
        self.etc.mkdir(parents=True)
        self.logs.mkdir()
        (self.base / "cache").mkdir()
        (self.devices / "d1").mkdir()
        (self.etc / "swift.conf").write_text(
            "[swift-hash]\n"
            "swift_hash_path_prefix = kvg-test\n"
            "swift_hash_path_suffix = kvg-test\n"
            "[storage-policy:0]\n"
            "name = Policy-0\n"
            "default = yes\n"
        )
        for server, port in self.ports.items():
            (self.etc / f"{server}-server.conf").write_text(
                self._common(port)
                + "[pipeline:main]\n"
                f"pipeline = healthcheck {server}-server\n"
                f"[app:{server}-server]\n"
                f"use = egg:swift#{server}\n"
                "[filter:healthcheck]\n"
                "use = egg:swift#healthcheck\n"
            )
        (self.etc / "proxy-server.conf").write_text(
            self._common(self.proxy_port)
            + "[pipeline:main]\n"
            "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache "
            "listing_formats tempauth copy slo dlo proxy-logging proxy-server\n"
            "[filter:catch_errors]\nuse = egg:swift#catch_errors\n"
            "[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n"
            "[filter:healthcheck]\nuse = egg:swift#healthcheck\n"
            "[filter:proxy-logging]\nuse = egg:swift#proxy_logging\n"
            "[filter:cache]\nuse = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{self.memcached_port}\n"
            "[filter:listing_formats]\nuse = egg:swift#listing_formats\n"
            "[filter:tempauth]\nuse = egg:swift#tempauth\n"
            f"user_test_tester = {KEY} .admin\n"
            "[filter:copy]\nuse = egg:swift#copy\n"
            "[filter:slo]\nuse = egg:swift#slo\n"
            "rate_limit_segments_per_sec = 0\n"  # default: 1/s after 10
            "[filter:dlo]\nuse = egg:swift#dlo\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\n"
            "allow_account_management = true\n"
            "account_autocreate = true\n"
        )

    def _build_rings(self):
        specs = [f"{server}:{port}" for server, port in self.ports.items()]
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", _RING_SCRIPT,
             str(self.etc), *specs],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if result.returncode != 0:
            raise SwiftServerError(f"building the rings failed:\n{result.stderr}")

    # --- processes ----------------------------------------------------------

    def _spawn(self, name, *command):
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115
        try:
            self.processes[name] = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.base,
            )
        finally:
            log.close()

    def start(self):
        started = time.monotonic()
        try:
            self.devices = self._choose_devices()
            self._write_configuration()
            self._spawn("memcached", self.memcached, "-l", "127.0.0.1",
                        "-p", str(self.memcached_port), "-U", "0", "-m", "64",
                        "-u", _current_user())
            self._build_rings()
            bin_directory = self.venv / "bin"
            for server in (*SERVERS, "proxy"):
                self._spawn(server, str(bin_directory / f"swift-{server}-server"),
                            str(self.etc / f"{server}-server.conf"), "-v")
            self._wait_until_ready(started)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def _wait_until_ready(self, started):
        deadline = started + START_TIMEOUT
        ready = set()
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise SwiftServerError(
                        f"the Swift {name} process exited with status "
                        f"{process.returncode}:\n{self.log_tail(name)}")
            for server, port in (*self.ports.items(), ("proxy", self.proxy_port)):
                if server not in ready and _answers(
                    f"http://127.0.0.1:{port}/healthcheck"
                ):
                    ready.add(server)
            if len(ready) == len(self.ports) + 1 and self._authenticates():
                return
            if time.monotonic() > deadline:
                raise SwiftServerError(
                    f"Swift did not answer within {START_TIMEOUT:g} s "
                    f"(ready: {sorted(ready)}):\n"
                    + "\n".join(self.log_tail(name) for name in self.processes))
            time.sleep(0.1)

    def _authenticates(self):
        request = urllib.request.Request(
            self.auth_url, headers={"X-Auth-User": USER, "X-Auth-Key": KEY})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200 and bool(
                    response.headers.get("X-Storage-Url"))
        except (OSError, urllib.error.URLError):
            return False

    def log_tail(self, name, lines=30):
        path = self.logs / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return f"[{name}: no log]"
        return f"[{name}]\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self):
        """Kill every process group started here, and remove /dev/shm devices."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)  # workers left behind, too
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()
        if self._own_devices is not None:
            shutil.rmtree(self._own_devices, ignore_errors=True)
            self._own_devices = None


def _signal_group(process, signum):
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _current_user():
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
