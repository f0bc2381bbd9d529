"""The CLI's own behaviour against the real cloud: check, and global options
after the subcommand (D7)."""

import json
import subprocess

from tests.realcloud import cloud as rc


def test_check_finds_the_cloud_and_the_bank_ready(kvg):
    result = kvg("check")
    assert result.rc == 0, result
    assert result.json["ready"] is True


def test_d7_global_options_after_the_subcommand(kvg, full):
    # today: a usage error (exit 2)
    completed = subprocess.run(
        [rc.kvg_command(), "show", full.checkpoint, "--format", "json",
         "--os-cloud", rc.ADMIN, "--bank", kvg.bank_url,
         "--config-file", kvg.config_file],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["id"] == full.checkpoint
