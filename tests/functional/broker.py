"""A real RabbitMQ broker on 127.0.0.1 for the notification tests.

Started from Debian's ``rabbitmq-server`` package (README's test command
installs it with ``tools/install-test-services``) as a node of its own: free
ports, its own data, log and cookie directories under the test's temporary
directory, so it never meets a system broker.
Stopped by killing its process group.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

SERVER_PATHS = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
START_TIMEOUT = 90.0


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command():
    """The broker's own start script (not Debian's wrapper, which su's to a
    user of its own and leaves its own session behind)."""
    for path in SERVER_PATHS:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise RuntimeError("rabbitmq-server is not installed: run "
                           "tools/install-test-services")
    return found


class Broker:
    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.url = f"rabbit://guest:guest@127.0.0.1:{self.port}/"
        self.process = None

    def _environment(self):
        paths = {name: os.path.join(self.directory, name)
                 for name in ("home", "mnesia", "log")}
        for path in paths.values():
            os.makedirs(path, exist_ok=True)
        return {
            **os.environ,
            "HOME": paths["home"],
            "RABBITMQ_NODENAME": f"kvg{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": paths["mnesia"],
            "RABBITMQ_LOG_BASE": paths["log"],
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self):
        self.log_path = os.path.join(self.directory, "broker.out")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [server_command()], env=self._environment(), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {self._tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"rabbitmq-server did not listen in {START_TIMEOUT} s: "
                           f"{self._tail()}")

    def _tail(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()[-2000:]

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
