"""The local cloud in its own process, so its memory is not the benchmark's.

Runs ``karbor-volume-glance-localcloud --port 0 --data-dir DIR`` (with
``--stream-cap`` when the run caps each answer's rate) and reads its
banner: the first line says where it serves, then comes a clouds.yaml snippet
ending before ``Press Ctrl-C to stop.``. Its log goes to a file. Stopping
sends SIGTERM and, if it does not end in time, SIGKILL.
"""

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

import yaml

CONSOLE_COMMAND = "karbor-volume-glance-localcloud"
ADMIN_CLOUD = "localcloud-admin"
_SERVING = re.compile(r"localcloud serving at (\S+)")
_CLOUDS_START = "clouds.yaml:"
_BANNER_END = "Press Ctrl-C to stop."


class CloudProcessError(RuntimeError):
    """The local cloud's process did not start as expected."""


def localcloud_command():
    """The console command beside this Python, or the module it runs."""
    script = shutil.which(CONSOLE_COMMAND, path=os.path.dirname(sys.executable))
    if script:
        return [script]
    return [sys.executable, "-m", "karbor_volume_glance.testing.localcloud"]


def parse_banner(lines):
    """``(url, clouds)`` from the banner's lines: where it serves, clouds.yaml's dict.

    Raises CloudProcessError when the lines are not a whole banner.
    """
    serving = _SERVING.fullmatch(lines[0].strip()) if lines else None
    if not serving:
        raise CloudProcessError(
            f"the local cloud's first line is not 'localcloud serving at URL': "
            f"{lines[0] if lines else ''!r}")
    try:
        start = [line.strip() for line in lines].index(_CLOUDS_START) + 1
        end = [line.strip() for line in lines].index(_BANNER_END)
    except ValueError:
        raise CloudProcessError("the local cloud printed no clouds.yaml snippet") \
            from None
    clouds = yaml.safe_load("\n".join(lines[start:end]))
    if not isinstance(clouds, dict) or ADMIN_CLOUD not in clouds.get("clouds", {}):
        raise CloudProcessError(f"the local cloud's clouds.yaml has no {ADMIN_CLOUD}")
    return serving.group(1), clouds


def _forward_lines(stream, lines):
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


class LocalCloudProcess:
    """A local cloud in a child process; a context manager that always stops it."""

    def __init__(self, data_dir, log_path, status_delay=0.05, start_timeout=60.0,
                 stop_timeout=30.0, stream_cap=None):
        self.data_dir = data_dir
        self.stream_cap = stream_cap
        self.log_path = log_path
        self.status_delay = status_delay
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.url = None
        self.clouds = None
        self._process = None

    def command(self):
        cap = [] if self.stream_cap is None else ["--stream-cap",
                                                  str(self.stream_cap)]
        return [*localcloud_command(), "--port", "0", "--data-dir", self.data_dir,
                "--status-delay", str(self.status_delay), *cap]

    def start(self):
        """Start the process and wait (bounded) for its banner; returns self."""
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=subprocess.PIPE, stderr=log,
                stdin=subprocess.DEVNULL, text=True)
        lines = queue.Queue()
        threading.Thread(target=_forward_lines, args=(self._process.stdout, lines),
                         daemon=True).start()
        try:
            self.url, self.clouds = parse_banner(self._read_banner(lines))
        except BaseException:
            self.stop()
            raise
        return self

    def _read_banner(self, lines):
        banner, deadline = [], time.monotonic() + self.start_timeout
        while not banner or banner[-1].strip() != _BANNER_END:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise CloudProcessError(
                    f"the local cloud printed no banner within "
                    f"{self.start_timeout:.0f} s (log: {self.log_path})") from None
            if line is None:
                raise CloudProcessError(
                    f"the local cloud exited before serving (log: {self.log_path})")
            banner.append(line)
        return banner

    @property
    def pid(self):
        """The cloud's process id (None when it is not running)."""
        return None if self._process is None else self._process.pid

    def write_clouds_yaml(self, path, api_timeout):
        """Write its clouds.yaml, each HTTP call bounded by ``api_timeout`` s."""
        clouds = {name: {**entry, "api_timeout": api_timeout}
                  for name, entry in self.clouds["clouds"].items()}
        with open(path, "w") as stream:
            yaml.safe_dump({"clouds": clouds}, stream)
        return path

    def volume_path(self, volume_id):
        """The file holding a volume's bytes (LocalCloud's layout)."""
        return os.path.join(self.data_dir, "volumes", volume_id)

    def stop(self):
        """SIGTERM, then SIGKILL if it has not ended in time (idempotent)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=self.stop_timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
