"""An encrypted bank through the command line, as an operator turns it on:
``encrypt = true`` and a passphrase at site A, another wrapped copy (a key
file) added for site B, a cross-site restore there with the key file alone,
byte-exact; without a key, or with a wrong one, every command fails first,
naming what is missing, and nothing is made in the cloud."""

import hashlib
import json
import os

import pytest

from karbor_volume_glance.operations import keys
from tests.functional.sites import OBJECT_SIZE, cli

pytestmark = pytest.mark.usefixtures("fast_kdfs")


def _bank_files(root):
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as stream:
                yield os.path.join(folder, name), stream.read()


def test_encrypt_at_a_and_restore_at_b_with_another_wrapped_copy(
        sites, tmp_path, config_file, monkeypatch):
    bank = tmp_path / "bank"
    encrypted = tmp_path / "site-a.conf"
    encrypted.write_text(open(config_file).read() + "encrypt = true\n")
    site_a = ["--os-cloud", "site-a", "--config-file", str(encrypted),
              "--bank", f"file://{bank}"]
    data = os.urandom(2 * OBJECT_SIZE) + bytes(OBJECT_SIZE) + b"tail" * 1000
    volume_id = sites.a.create_volume(data)

    before = sites.a.inventory()
    _, err = cli(*site_a, "protect", volume_id, "--name", "secret-name",
                 expect=1)  # encrypt = true and no key source: refused first
    assert "no passphrase in KARBOR_VOLUME_GLANCE_PASSPHRASE" in err
    assert sites.a.inventory() == before
    assert cli(*site_a, "list")[0] == []

    monkeypatch.setenv(keys.ENV_PASSPHRASE, "site A's passphrase")
    protected, _ = cli(*site_a, "protect", volume_id, "--name", "secret-name")
    checkpoint_id = protected["checkpoint_id"]
    incremental, _ = cli(*site_a, "protect", volume_id, "--name", "n2",
                         "--incremental")
    # the bank holds no plain name, hash or data of the volume
    sha = hashlib.sha256(data).hexdigest()
    for path, content in _bank_files(bank):
        assert b"secret-name" not in content, path
        assert sha.encode() not in content, path
        assert data[:4096] not in content, path
    manifests = [json.loads(content.split(b"\n", 1)[1])
                 for path, content in _bank_files(bank)
                 if path.endswith(f"{volume_id}/metadata~obj")]
    assert manifests and all(m["format_version"] == 4 and m["sealed"]
                             for m in manifests)

    key_file = tmp_path / "site-b.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o600)
    added, _ = cli(*site_a, "key", "add", "--new-key-file", str(key_file),
                   "--label", "site B")
    assert added["kind"] == "key_file"

    monkeypatch.delenv(keys.ENV_PASSPHRASE)
    plain = tmp_path / "site-b-nokey.conf"
    plain.write_text(open(config_file).read())
    before_b = sites.b.inventory()
    _, err = cli("--os-cloud", "site-b", "--config-file", str(plain), "--bank",
                 f"file://{bank}", "restore", checkpoint_id, expect=1)
    assert "is encrypted" in err and "MAC" not in err
    assert sites.b.inventory() == before_b

    keyed = tmp_path / "site-b.conf"
    keyed.write_text(open(config_file).read() + f"key_file = {key_file}\n")
    site_b = ["--os-cloud", "site-b", "--config-file", str(keyed), "--bank",
              f"file://{bank}"]
    verified, _ = cli(*site_b, "verify", incremental["checkpoint_id"], "--deep")
    assert verified["ok"] is True
    for point in (checkpoint_id, incremental["checkpoint_id"]):
        restored, _ = cli(*site_b, "restore", point)
        new_id = restored["new_volume_ids"][volume_id]
        assert sites.b.volume_bytes(new_id)[:len(data)] == data

    # the checkpoint record holds its plan's name sealed: site B's key
    # unseals it (after checking the record's MAC)
    record = json.loads(next(
        content for path, content in _bank_files(bank)
        if path.endswith(f"{checkpoint_id}/index.json~obj")).split(b"\n", 1)[1])
    assert record["protection_plan"]["name"] == "(sealed)"
    assert record["encryption"]["mac"]
    shown, _ = cli(*site_b, "show", checkpoint_id)
    assert shown["plan"] == "karbor-volume-glance" and "sealed" not in shown
