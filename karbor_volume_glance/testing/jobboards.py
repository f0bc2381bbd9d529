"""A Redis server on 127.0.0.1 for tests of plans on a jobboard.

The jobboard tests and the benchmark's distributed measurement start a
``redis-server`` of their own: Debian's ``redis-server`` package, which
``tools/install-test-services`` installs (``tools/services/redis.sh``); no
system service is used. It listens on a free loopback port with no
persistence (no RDB, no AOF) and its directory under the test's, runs in a
process group of its own and is stopped by its PID::

    with jobboards.RedisServer(tmp_path / "redis") as server:
        ...  # server.url == "redis://127.0.0.1:PORT/0"

A server that is not installed raises :class:`~.objstores.ServiceError`
saying to run ``tools/install-test-services``: a test then fails, never
skips.
"""

import os
import pathlib
import shutil
import socket

from karbor_volume_glance.testing.objstores import common

#: Where Debian's package puts the server.
SERVER_PATHS = ("/usr/bin/redis-server",)


def server_command():
    for path in SERVER_PATHS:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("redis-server")
    if found is None:
        raise common.not_installed("redis-server", SERVER_PATHS[0])
    return found


class RedisServer:
    """One redis-server on 127.0.0.1, its files under ``directory``."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.port = None
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self):
        return self.directory / "redis.log"

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self):
        command = server_command()
        self.directory.mkdir(parents=True, exist_ok=True)
        [self.port] = common.free_ports(1)
        self.process = common.spawn(
            [command, "--bind", "127.0.0.1", "--port", self.port,
             "--dir", self.directory, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--protected-mode", "yes"],
            self.log_path, self.directory)
        try:
            common.wait_until_ready(
                "redis-server", {"server": self.process}, self._answers,
                lambda: common.log_tail(self.log_path))
        except common.ServiceError:
            self.stop()
            raise
        return self

    def stop(self):
        common.stop_processes([self.process])
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
