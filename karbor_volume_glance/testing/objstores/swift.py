"""A real one-node OpenStack Swift on 127.0.0.1, for tests of Swift banks.

Swift comes from PyPI, installed by ``tools/install-test-services`` into
``$KVG_TEST_SERVICES/swift-venv``; memcached comes from Debian.
:class:`SwiftServer` starts a proxy (with tempauth: user :data:`SWIFT_USER`,
key :data:`SWIFT_KEY`), an account, a container and an object server of one
worker each and a memcached, each on a free port and in a process group of
its own, with every file under one directory. No updater daemons run: with
one replica on one node, container and account updates are made
synchronously during each request, which is all a bank's listings need.

Swift keeps an object's metadata in extended attributes, and ext4 caps one
file's at about 4 KiB: enough for a plain object's, too little for a Static
Large Object manifest's. The devices stay on the base directory's own
filesystem when its files can hold ``xattr_room`` bytes of attributes
(:data:`XATTR_ROOM` unless given; :data:`PLAIN_XATTR_ROOM` is enough when no
large object is written); otherwise they go to a fresh directory under
/dev/shm (a tmpfs: memory, where an fsync costs nothing; kernels from 6.6 on
have user xattrs there), which :attr:`SwiftServer.devices_note` says and
:meth:`SwiftServer.stop` removes.
"""

import errno
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile

from karbor_volume_glance.testing.objstores import common

SWIFT_USER = "test:tester"
SWIFT_KEY = "kvg-swift-test-key"
SWIFT_SERVERS = ("account", "container", "object")
#: Attribute bytes a device file must hold for a large object's manifest.
XATTR_ROOM = 8192
#: Attribute bytes of a plain object's metadata (name, timestamps, ETag,
#: type, length and a bank's headers): well under 1 KiB.
PLAIN_XATTR_ROOM = 2048


def swift_venv():
    """The venv Swift is installed in; else ServiceError."""
    venv = common.services_root() / "swift-venv"
    if not (venv / "bin" / "swift-proxy-server").exists():
        raise common.not_installed("Swift", venv / "bin" / "swift-proxy-server")
    return venv


def memcached_binary():
    found = shutil.which("memcached") or (
        "/usr/bin/memcached" if os.access("/usr/bin/memcached", os.X_OK) else None)
    if not found:
        raise common.ServiceError(
            f"memcached (for Swift) is not installed: {common.INSTALL_HINT}")
    return found


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
    user = SWIFT_USER
    key = SWIFT_KEY

    def __init__(self, base, ports=None, keep_devices=False,
                 xattr_room=XATTR_ROOM):
        self.base = pathlib.Path(base)
        self.keep_devices = keep_devices
        self.xattr_room = xattr_room
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
        """The base directory's ``devices`` if it holds the attributes Swift
        needs, else a new directory under /dev/shm."""
        local = self.base / "devices"
        local.mkdir(parents=True, exist_ok=True)
        if has_xattr_room(local, self.xattr_room):
            return local
        if os.path.isdir("/dev/shm") and has_xattr_room("/dev/shm",
                                                        self.xattr_room):
            self._own_devices = pathlib.Path(
                tempfile.mkdtemp(prefix="kvg-swift-", dir="/dev/shm"))
            return self._own_devices
        raise common.ServiceError(
            f"neither {local} nor /dev/shm can hold {self.xattr_room} bytes of "
            "extended attributes per file, which Swift needs")

    @property
    def devices_note(self):
        kind = common.filesystem_type(self.devices) if self.devices else "?"
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
            "swift_hash_path_prefix = kvg-test\n"
            "swift_hash_path_suffix = kvg-test\n"
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
            "rate_limit_segments_per_sec = 0\n"  # default: 1/s after 10
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
            raise common.ServiceError(
                f"building Swift's rings failed:\n{result.stderr}")

    def start(self):
        """Start memcached and the four servers, wait until Swift authenticates."""
        venv, memcached = swift_venv(), memcached_binary()
        if self.ports is None:
            names = ("proxy", "memcached", *SWIFT_SERVERS)
            self.ports = dict(zip(names, common.free_ports(len(names)),
                                  strict=True))
        try:
            self.devices = self.choose_devices()
            self.write_configuration()
            self.processes["memcached"] = common.spawn(
                [memcached, "-l", "127.0.0.1", "-p", self.ports["memcached"],
                 "-U", "0", "-m", "64", "-u", _current_user()],
                self.logs / "memcached.log", self.base)
            self._build_rings(venv)
            for server in (*SWIFT_SERVERS, "proxy"):
                self.processes[server] = common.spawn(
                    [venv / "bin" / f"swift-{server}-server",
                     self.etc / f"{server}-server.conf", "-v"],
                    self.logs / f"{server}.log", self.base)
            common.wait_until_ready("Swift", self.processes, self._ready,
                                    self._log_tails)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        """Every server's healthcheck answers and tempauth gives a token."""
        for server in (*SWIFT_SERVERS, "proxy"):
            status, _headers = common.http_get(
                f"http://127.0.0.1:{self.ports[server]}/healthcheck")
            if status != 200:
                return False
        status, headers = common.http_get(
            self.auth_url, {"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_KEY},
            timeout=5)
        return status == 200 and bool(headers.get("X-Storage-Url"))

    def _log_tails(self):
        return "\n".join(f"[{name}]\n"
                         + common.log_tail(self.logs / f"{name}.log", 1000)
                         for name in self.processes)

    def stop(self):
        """Kill every process group started here; remove /dev/shm devices."""
        common.stop_processes(list(self.processes.values()))
        self.processes.clear()
        if self._own_devices is not None and not self.keep_devices:
            shutil.rmtree(self._own_devices, ignore_errors=True)
            self._own_devices = None

    def version(self):
        """The installed Swift's version, from its dist-info, or "?"."""
        try:
            found = sorted(swift_venv().glob("lib/python*/site-packages/"
                                             "swift-*.dist-info"))
        except common.ServiceError:
            return "?"
        return found[-1].name[len("swift-"):-len(".dist-info")] if found else "?"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
