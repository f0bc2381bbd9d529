"""``karbor-volume-glance-localcloud``: it starts, serves, and stops on a signal."""

import os
import signal
import subprocess
import sys
import threading

import pytest
import requests
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from karbor_volume_glance.testing.localcloud import __main__ as console

SCRIPT = os.path.join(os.path.dirname(sys.executable),
                      "karbor-volume-glance-localcloud")


def _command():
    if os.path.exists(SCRIPT):
        return [SCRIPT]
    return [sys.executable, "-m", "karbor_volume_glance.testing.localcloud"]


def _start(*args):
    process = subprocess.Popen([*_command(), "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    watchdog = threading.Timer(30, process.kill)
    watchdog.start()
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    return process, watchdog, lines


def _stop(process, watchdog, signum):
    process.send_signal(signum)
    try:
        rest = process.stdout.read()
        assert process.wait(timeout=20) == 0
    finally:
        watchdog.cancel()
        process.stdout.close()
    return rest


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_serves_until_a_signal(tmp_path, signum):
    process, watchdog, lines = _start("--data-dir", str(tmp_path / "data"),
                                      "--status-delay", "0.01")
    try:
        assert lines and lines[0].startswith("localcloud serving at http://127.0.0.1:")
        url = lines[0].split()[-1]
        snippet = yaml.safe_load("\n".join(lines[lines.index("clouds.yaml:") + 1:-1]))
        admin = snippet["clouds"]["localcloud-admin"]
        assert admin["auth"]["auth_url"] == f"{url}/identity/v3"
        assert snippet["clouds"]["localcloud-demo"]["auth"]["project_name"] == "demo"
        session = ks_session.Session(auth=v3.Password(**admin["auth"]))
        assert session.get_token()
        armed = requests.post(f"{url}/_localcloud/faults",
                              json={"step": "volume.get", "fault": "slow"})
        assert armed.status_code == 201
    except BaseException:
        process.kill()
        raise
    assert "localcloud stopped" in _stop(process, watchdog, signum)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_without_a_data_dir_the_data_is_temporary():
    process, watchdog, lines = _start()
    data_dir = next(line.split()[-1] for line in lines
                    if line.strip().startswith("data "))
    assert os.path.isdir(os.path.join(data_dir, "volumes"))
    _stop(process, watchdog, signal.SIGTERM)
    assert not os.path.exists(data_dir)


def test_the_options(capsys):
    with pytest.raises(SystemExit):
        console.main(["--help"])
    usage = capsys.readouterr().out
    for option in ("--port", "--data-dir", "--host", "--status-delay"):
        assert option in usage
    assert console._parser().parse_args([]).host == "127.0.0.1"
