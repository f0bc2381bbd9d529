"""What SeaweedFS and Swift share: where they are installed, ports, processes.

The servers come from ``tools/install-test-services`` (in a checkout of this
project), which installs them under ``$KVG_TEST_SERVICES``, by default
``.test-services`` in the directory it is run from (the checkout's root).
:func:`services_root` reads the same variable, with the same default taken
from the current directory.

Every server binds 127.0.0.1 only, on free ports, and runs in a process group
of its own: :func:`stop_processes` signals the group, so the workers a server
forks are stopped with it.
"""

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

SERVICES_VARIABLE = "KVG_TEST_SERVICES"
#: Where tools/install-test-services puts the servers unless told otherwise.
DEFAULT_SERVICES = ".test-services"
INSTALL_HINT = "run tools/install-test-services"
#: Seconds a server gets to answer after it is started.
START_TIMEOUT = 60.0
#: Seconds a server gets to stop cleanly before it is killed.
STOP_TIMEOUT = 5.0
#: Seconds between two checks of whether a starting server answers.
POLL_INTERVAL = 0.1


class ServiceError(RuntimeError):
    """A server is not installed, or did not start."""


def services_root():
    """Where tools/install-test-services put the servers:
    ``$KVG_TEST_SERVICES``, else ``.test-services`` in the current directory."""
    return pathlib.Path(os.environ.get(SERVICES_VARIABLE)
                        or DEFAULT_SERVICES).absolute()


def not_installed(what, path):
    """The ServiceError of a server whose ``path`` is missing."""
    return ServiceError(f"{what} is not installed ({path} is missing): "
                        f"{INSTALL_HINT}, or set {SERVICES_VARIABLE} to where "
                        "it installed the servers")


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


def spawn(command, log_path, cwd):
    """Start ``command`` in a session (process group) of its own, its output
    appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(word) for word in command], cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


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


def wait_until_ready(what, processes, ready, logs, timeout=START_TIMEOUT):
    """Return once ``ready()`` is true; ServiceError (with ``logs()``) if one
    of ``processes`` (``{name: Popen}``) exits or ``timeout`` s pass first."""
    deadline = time.monotonic() + timeout
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                raise ServiceError(f"the {what} {name} process exited with status "
                                   f"{process.returncode}:\n{logs()}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} did not answer within {timeout:g} s:\n"
                               f"{logs()}")
        time.sleep(POLL_INTERVAL)


def http_get(url, headers=None, timeout=2):
    """``(status, headers)`` of a GET of ``url``; ``(None, {})`` when
    nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers
    except OSError:
        return None, {}


def log_tail(path, limit=3000):
    """The end of a server's log (at most ``limit`` characters)."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return text if len(text) <= limit else "[…]" + text[-limit:]


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
