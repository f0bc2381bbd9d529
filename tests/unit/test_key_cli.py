"""``karbor-volume-glance key add|list|remove`` and ``check``'s encryption
line, in this process; and the test that no key material, passphrase or
key-encryption key appears in any log line at DEBUG, in what the command line
prints, or in the bank's objects."""

import base64
import json
import logging
import os

import pytest

from karbor_volume_glance.cli import commands
from karbor_volume_glance.format import keyring
from karbor_volume_glance.format import keys as master_keys
from karbor_volume_glance.operations import keys

pytestmark = pytest.mark.usefixtures("fast_kdfs")
PASSPHRASE = "correct horse battery staple"
NEW_PASSPHRASE = "Tr0ub4dor&3 and more"


@pytest.fixture(autouse=True)
def no_cloud_from_the_environment(monkeypatch):
    for name in ("OS_CLOUD", "KARBOR_VOLUME_GLANCE_BANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def site(tmp_path):
    """A file bank, a key file, and a config file turning encryption on."""
    key_file = tmp_path / "bank.key"
    key_file.write_bytes(os.urandom(32))
    config = tmp_path / "kvg.conf"
    config.write_text("[volume_glance_plugin]\nencrypt = true\n")
    bank = f"file://{tmp_path}/bank"
    return bank, str(config), str(key_file)


def run(capsys, *argv, expect=0):
    status = commands.main(list(argv))
    out, err = capsys.readouterr()
    assert status == expect, err
    return out, err


def test_key_add_list_remove_from_the_command_line(site, capsys, monkeypatch):
    bank, config, key_file = site
    common = ["--bank", bank, "--config-file", config, "--format", "json"]
    monkeypatch.setenv(keys.ENV_PASSPHRASE, PASSPHRASE)
    out, _ = run(capsys, "key", "list", *common)
    assert json.loads(out) == {"keys": [], "encrypted": False,
                               "bank": _bank(bank).get_owner_id()}
    # a new bank with encrypt = true: key add makes it encrypted first
    out, _ = run(capsys, "key", "add", *common, "--new-key-file", key_file,
                 "--label", "site B")
    added = json.loads(out)
    assert (added["kind"], added["label"]) == ("key_file", "site B")
    out, _ = run(capsys, "key", "list", *common)
    listed = json.loads(out)
    assert (listed["encrypted"], listed["cipher_suite"]) == (
        True, keyring.CIPHER_SUITE)
    rows = listed["keys"]
    assert {r["fingerprint"] for r in rows} == {listed["fingerprint"]}
    assert sorted(r["kind"] for r in rows) == ["key_file", "passphrase"]
    [old] = [r["id"] for r in rows if r["kind"] == "passphrase"]
    # a passphrase change: add the new one, remove the old one
    monkeypatch.setenv(keys.ENV_NEW_PASSPHRASE, NEW_PASSPHRASE)
    run(capsys, "key", "add", *common)
    out, _ = run(capsys, "key", "remove", *common, old)
    assert json.loads(out)["removed"] is True
    monkeypatch.setenv(keys.ENV_PASSPHRASE, NEW_PASSPHRASE)
    out, _ = run(capsys, "key", "list", "--bank", bank)
    assert "| id " in out and "passphrase" in out and "key_file" in out
    assert f"master key {listed['fingerprint']}" in out.splitlines()[0]
    # the old passphrase opens nothing any more, and says so
    monkeypatch.setenv(keys.ENV_PASSPHRASE, PASSPHRASE)
    _, err = run(capsys, "key", "remove", *common, "0" * 16, expect=1)
    assert "opens none of the bank's 1 passphrase wrapped keys" in err
    assert "MAC" not in err


def test_key_remove_refuses_the_last_copy(site, capsys, monkeypatch):
    bank, config, _ = site
    common = ["--bank", bank, "--config-file", config]
    monkeypatch.setenv(keys.ENV_PASSPHRASE, PASSPHRASE)
    monkeypatch.setenv(keys.ENV_NEW_PASSPHRASE, NEW_PASSPHRASE)
    out, _ = run(capsys, "key", "add", *common, "--format", "json")
    added = json.loads(out)["id"]
    run(capsys, "key", "remove", *common, added)
    [last] = [r["id"] for r in keys.list_copies(_bank(bank))]
    _, err = run(capsys, "key", "remove", *common, last, expect=1)
    assert f"wrapped key {last} is its last" in err


def test_key_add_takes_one_new_source(site, capsys, monkeypatch):
    bank, config, key_file = site
    monkeypatch.setenv(keys.ENV_NEW_PASSPHRASE, NEW_PASSPHRASE)
    _, err = run(capsys, "key", "add", "--bank", bank, "--config-file", config,
                 "--new-key-file", key_file, expect=1)
    assert "needs exactly one new key source" in err


def _bank(url):
    from karbor_volume_glance.bank import open_bank

    return open_bank(url)


def test_check_has_an_encryption_line(site, capsys, monkeypatch, tmp_path):
    bank, config, _ = site
    common = ["--bank", bank, "--config-file", config, "--format", "json",
              "--os-cloud", "no-such-cloud"]
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "none.yaml"))
    out, _ = run(capsys, "check", *common, expect=1)
    [line] = [c for c in json.loads(out)["components"]
              if c["name"] == "encryption"]
    assert line["ready"] is False and "no passphrase in" in line["detail"]
    monkeypatch.setenv(keys.ENV_PASSPHRASE, PASSPHRASE)
    out, _ = run(capsys, "check", *common, expect=1)  # keystone is not there
    [line] = [c for c in json.loads(out)["components"]
              if c["name"] == "encryption"]
    assert line["ready"] is True and "not encrypted yet" in line["detail"]
    keys.open_master_key(_bank(bank), keys.conf_module.Settings(encrypt=True),
                         {keys.ENV_PASSPHRASE: PASSPHRASE}, create=True)
    out, _ = run(capsys, "check", *common, expect=1)
    [line] = [c for c in json.loads(out)["components"]
              if c["name"] == "encryption"]
    assert line["ready"] is True and "opened by the passphrase" in line["detail"]
    monkeypatch.setenv(keys.ENV_PASSPHRASE, "wrong")
    out, _ = run(capsys, "check", *common, expect=1)
    [line] = [c for c in json.loads(out)["components"]
              if c["name"] == "encryption"]
    assert line["ready"] is False and "opens none" in line["detail"]


# --- no key material anywhere --------------------------------------------------


def _forms(secret):
    """How a secret could show: raw, hex, base64 (standard, URL-safe,
    unpadded), as bytes."""
    encoded = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for b64 in (base64.b64encode(secret), base64.urlsafe_b64encode(secret)):
        encoded += [b64, b64.rstrip(b"=")]
    return [form for form in encoded if len(form) >= 8]


def _bank_bytes(root):
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as stream:
                yield os.path.join(folder, name), stream.read()


def test_no_key_material_in_logs_output_or_bank(site, capsys, monkeypatch,
                                                caplog, tmp_path):
    bank, config, key_file = site
    secrets = [PASSPHRASE.encode(), NEW_PASSPHRASE.encode(),
               open(key_file, "rb").read()]
    real_derive, real_generate = keyring.derive_kek, master_keys.MasterKey.generate

    def derive(kdf, secret):
        kek = real_derive(kdf, secret)
        secrets.append(kek)
        return kek

    def generate():
        master = real_generate()
        secrets.append(master.material)
        secrets.extend(master.derive(p) for p in ("encryption-record",))
        return master

    monkeypatch.setattr(keyring, "derive_kek", derive)
    monkeypatch.setattr(master_keys.MasterKey, "generate", staticmethod(generate))
    common = ["--bank", bank, "--config-file", config]
    printed = []
    # an earlier main() without --debug in this process left our loggers at
    # WARNING (a command line runs main once): as a fresh process would be
    package_logger = logging.getLogger("karbor_volume_glance")
    monkeypatch.setattr(package_logger, "level", logging.NOTSET)
    with caplog.at_level(logging.DEBUG):
        monkeypatch.setenv(keys.ENV_PASSPHRASE, PASSPHRASE)
        for fmt in ("json", "table"):
            printed += run(capsys, "--debug", "key", "add", *common,
                           "--format", fmt, "--new-key-file", key_file)
            printed += run(capsys, "--debug", "key", "list", *common,
                           "--format", fmt)
        monkeypatch.setenv(keys.ENV_NEW_PASSPHRASE, NEW_PASSPHRASE)
        printed += run(capsys, "--debug", "key", "add", *common)
        [first] = [r["id"] for r in keys.list_copies(_bank(bank))
                   if r["kind"] == "passphrase"][:1]
        printed += run(capsys, "--debug", "key", "remove", *common, first)
        # failures: a wrong passphrase, no passphrase, a short key file
        monkeypatch.setenv(keys.ENV_PASSPHRASE, "not " + PASSPHRASE)
        printed += run(capsys, "key", "remove", *common, first, expect=1)
        monkeypatch.delenv(keys.ENV_PASSPHRASE)
        printed += run(capsys, "key", "list", *common)
        printed += run(capsys, "key", "remove", *common, first, expect=1)
        short = tmp_path / "short.key"
        short.write_bytes(open(key_file, "rb").read()[:20])
        bad = tmp_path / "bad.conf"
        bad.write_text(f"[volume_glance_plugin]\nkey_file = {short}\n")
        printed += run(capsys, "key", "remove", "--bank", bank,
                       "--config-file", str(bad), first, expect=1)
        printed += run(capsys, "check", *common, "--os-cloud", "nope",
                       expect=1)
    logged = [record.getMessage() for record in caplog.records]
    # DEBUG was on: oslo.log's lines went to stderr (and to caplog, if any)
    assert any(" DEBUG karbor_volume_glance" in chunk for chunk in printed)
    assert any("master key" in chunk for chunk in printed + logged)
    text = "\n".join(printed + logged).encode("utf-8", "surrogateescape")
    objects = list(_bank_bytes(tmp_path / "bank"))
    assert len(objects) >= 4
    assert len(secrets) >= 6
    for secret in secrets:
        for form in _forms(secret):
            assert form not in text
            for name, data in objects:
                assert form not in data, name
