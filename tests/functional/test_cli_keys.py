"""``key`` and ``check`` of the command line against a local cloud's
Keystone, with the bank's key in a key manager: castellan's in-process
MockKeyManager (:mod:`tests.unit.keymanager`, named by ``[key_manager]
backend`` in the config file as a real deployment names barbican), asked
as the caller with a castellan KeystoneToken of the clouds.yaml session."""

import os

import pytest

from karbor_volume_glance.operations import keys
from tests.functional.sites import cli
from tests.unit import keymanager

pytestmark = pytest.mark.usefixtures("fast_kdfs")


def _encryption(found):
    [line] = [c for c in found["components"] if c["name"] == "encryption"]
    return line


def test_a_bank_keyed_in_the_key_manager(sites, tmp_path, config_file,
                                          monkeypatch):
    secret_id = keymanager.new_secret(os.urandom(32))
    config = tmp_path / "encrypted.conf"
    config.write_text(open(config_file).read()
                      + f"encrypt = true\nkey_manager_secret_id = {secret_id}\n"
                      f"[key_manager]\nbackend = {keymanager.BACKEND}\n")
    common = ["--os-cloud", "site-a", "--config-file", str(config), "--bank",
              f"file://{tmp_path}/bank"]
    keymanager.SharedKeyManager.asked_as.clear()
    found, _ = cli(*common, "check")
    assert _encryption(found)["ready"] is True
    # asked as the caller: a castellan credential of its Keystone token
    assert keymanager.SharedKeyManager.asked_as == ["KeystoneToken"]
    assert f"key manager secret {secret_id}" in _encryption(found)["detail"]
    # key add makes the bank encrypted (a copy for the key manager's secret),
    # then wraps its key for a passphrase too
    monkeypatch.setenv(keys.ENV_NEW_PASSPHRASE, "a passphrase for site B")
    added, _ = cli(*common, "key", "add", "--label", "site B")
    listed, _ = cli(*common, "key", "list")
    assert sorted((r["kind"], r["label"]) for r in listed["keys"]) == [
        ("key_manager", f"key manager secret {secret_id}"),
        ("passphrase", "site B")]
    found, _ = cli(*common, "check")
    assert "opened by key manager secret" in _encryption(found)["detail"]
    # site B: no key manager, the passphrase only
    plain = tmp_path / "site-b.conf"
    plain.write_text(open(config_file).read())
    site_b = ["--os-cloud", "site-b", "--config-file", str(plain), "--bank",
              f"file://{tmp_path}/bank"]
    found, _ = cli(*site_b, "check", expect=1)
    assert "is encrypted: no passphrase in" in _encryption(found)["detail"]
    monkeypatch.setenv(keys.ENV_PASSPHRASE, "a passphrase for site B")
    found, _ = cli(*site_b, "check")
    assert "opened by the passphrase" in _encryption(found)["detail"]
    monkeypatch.setenv(keys.ENV_PASSPHRASE, "a wrong guess")
    _, err = cli(*site_b, "key", "remove", added["id"], expect=1)
    assert (f"opens none of the bank's 1 passphrase wrapped keys (ids "
            f"{added['id']})") in err
    assert "a wrong guess" not in err
    # site A removes its key manager copy, once the passphrase one is there
    [kms] = [r["id"] for r in listed["keys"] if r["kind"] == "key_manager"]
    removed, _ = cli(*common, "key", "remove", kms)
    assert removed == {"id": kms, "removed": True, "remaining": 1}


def test_key_add_has_the_key_manager_make_a_secret(sites, tmp_path,
                                                   config_file, monkeypatch):
    backend = tmp_path / "km.conf"
    backend.write_text(open(config_file).read() + "encrypt = true\n"
                       f"[key_manager]\nbackend = {keymanager.BACKEND}\n")
    common = ["--os-cloud", "site-a", "--config-file", str(backend), "--bank",
              f"file://{tmp_path}/bank"]
    _, err = cli(*common, "key", "add", "--create-key-manager-secret",
                 expect=1)
    assert "is to be encrypted" in err and "no passphrase in" in err
    monkeypatch.setenv(keys.ENV_PASSPHRASE, "site A's passphrase")
    added, _ = cli(*common, "key", "add", "--create-key-manager-secret")
    assert added["kind"] == "key_manager"
    secret_id = added["secret_id"]
    assert added["label"] == f"key manager secret {secret_id}"
    assert len(keymanager.SharedKeyManager.shared[secret_id].get_encoded()) == 32
    # another site keyed by that secret alone
    monkeypatch.delenv(keys.ENV_PASSPHRASE)
    site_b = tmp_path / "site-b.conf"
    site_b.write_text(open(config_file).read()
                      + f"key_manager_secret_id = {secret_id}\n"
                      f"[key_manager]\nbackend = {keymanager.BACKEND}\n")
    found, _ = cli("--os-cloud", "site-b", "--config-file", str(site_b),
                   "--bank", f"file://{tmp_path}/bank", "check")
    assert f"opened by key manager secret {secret_id}" in _encryption(
        found)["detail"]
