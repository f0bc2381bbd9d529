"""Opening an encrypted bank's master key, and its wrapped copies: which
source opens which copy, the bank turning encrypted, plain and encrypted
never mixing, key add/list/remove, and failures named before anything is
made (operations/keys.py)."""

import json
import logging
import os
import threading

import pytest
from castellan import options as castellan_options

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.bank import capabilities, compat, open_bank
from karbor_volume_glance.format import keyring
from karbor_volume_glance.operations import keys
from tests.unit import keymanager

pytestmark = pytest.mark.usefixtures("fast_kdfs")
PW = {keys.ENV_PASSPHRASE: "correct horse battery staple"}


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "bank.key"
    path.write_bytes(os.urandom(32))
    return str(path)


def settings(**options):
    return conf.Settings(**options)


def key_objects(bank):
    return bank.list_objects(keyring.KEYRING_ROOT)


def test_a_plain_bank_stays_plain_and_untouched(bank):
    assert keys.open_master_key(bank, settings(), PW) is None
    assert keys.open_master_key(bank, settings(), PW, create=True) is None
    assert keys.open_master_key(bank, settings(encrypt=True), PW) is None
    assert bank.list_objects("/") == []


def test_the_first_protect_encrypts_a_new_bank_and_later_ones_open_it(bank):
    made = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    assert made is not None
    [record, copy_key] = sorted(
        k.removeprefix(keyring.KEYRING_ROOT) for k in key_objects(bank))
    assert (record, copy_key.split("/")[0]) == ("encryption", "wrapped")
    again = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    assert again == made
    # restore, verify, delete at another site: create is false, still opens
    assert keys.open_master_key(bank.get_sub_section("/checkpoints/x/"),
                                settings(encrypt=True), PW) == made
    assert len(key_objects(bank)) == 2


def test_an_encrypted_bank_stays_encrypted_with_encrypt_false(bank, caplog):
    keys._FOLLOWED.clear()
    made = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    with caplog.at_level(logging.WARNING):
        assert keys.open_master_key(bank, settings(), PW, create=True) == made
    assert "encrypt is false" in caplog.text
    with pytest.raises(exceptions.KeyMissing):
        keys.open_master_key(bank, settings(), {}, create=True)


def test_a_missing_key_is_named(bank):
    with pytest.raises(exceptions.KeyMissing) as info:
        keys.open_master_key(bank, settings(encrypt=True), {}, create=True)
    assert "no passphrase in KARBOR_VOLUME_GLANCE_PASSPHRASE, no key_file, " \
        "no key manager secret configured" in str(info.value)
    assert key_objects(bank) == []
    keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    with pytest.raises(exceptions.KeyMissing) as info:
        keys.open_master_key(bank, settings(), {"OTHER": "x"})
    assert str(info.value) == (
        f"bank {bank.get_owner_id()} is encrypted: no passphrase in "
        "KARBOR_VOLUME_GLANCE_PASSPHRASE, no key_file, no key manager "
        "secret configured")


def test_a_wrong_passphrase_names_the_copies_it_does_not_open(bank):
    keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    [row] = keys.list_copies(bank)
    wrong = {keys.ENV_PASSPHRASE: "Tr0ub4dor&3"}
    with pytest.raises(exceptions.WrongKey) as info:
        keys.open_master_key(bank, settings(encrypt=True), wrong)
    text = str(info.value)
    assert ("the passphrase in KARBOR_VOLUME_GLANCE_PASSPHRASE opens none of "
            f"the bank's 1 passphrase wrapped keys (ids {row['id']})") in text
    assert "MAC" not in text and "Tag" not in text
    assert "Tr0ub4dor" not in text and "horse" not in text


def test_a_key_file_opens_its_copies_and_a_bad_one_is_named(bank, key_file,
                                                           tmp_path):
    made = keys.open_master_key(bank, settings(encrypt=True, key_file=key_file),
                                {}, create=True)
    assert keys.list_copies(bank)[0]["kind"] == keyring.KEY_FILE
    assert keys.open_master_key(bank, settings(key_file=key_file), {}) == made
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    with pytest.raises(exceptions.KeySourceError) as info:
        keys.open_master_key(bank, settings(key_file=str(short)), {})
    assert str(short) in str(info.value) and "31 bytes" in str(info.value)
    gone = tmp_path / "gone.key"
    with pytest.raises(exceptions.KeySourceError) as info:
        keys.open_master_key(bank, settings(key_file=str(gone)), {})
    assert f"key file {gone}: cannot be read" in str(info.value)
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(40))
    with pytest.raises(exceptions.WrongKey) as info:
        keys.open_master_key(bank, settings(key_file=str(other)), PW)
    assert f"key file {other} opens none" in str(info.value)
    assert "no passphrase wrapped key for the passphrase" in str(info.value)


def test_a_bank_with_plain_backups_is_not_turned_encrypted(bank):
    bank.update_object("/volume_glance/by-volume/v1/backups/c1", {"x": 1})
    with pytest.raises(exceptions.EncryptionMismatch) as info:
        keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    assert "plain backups" in str(info.value)
    assert key_objects(bank) == []


def test_an_older_backup_without_index_entry_counts_as_plain(bank):
    bank.update_object("/checkpoints/c1/index.json", {"id": "c1"})
    assert keys.open_master_key(bank, settings(encrypt=True), PW,
                                create=True) is not None  # only a record
    other = open_bank("memory://")
    other.update_object("/checkpoints/c1/resource-data/v1/metadata", {})
    with pytest.raises(exceptions.EncryptionMismatch):
        keys.open_master_key(other, settings(encrypt=True), PW, create=True)


def test_a_key_manager_secret_through_castellan(bank):
    secret_id = keymanager.new_secret(os.urandom(32))
    options = settings(encrypt=True, key_manager_secret_id=secret_id)
    manager = keymanager.SharedKeyManager()
    made = keys.open_master_key(bank, options, {}, create=True,
                                context=keymanager.CONTEXT, manager=manager)
    assert keys.list_copies(bank)[0]["kind"] == keyring.KEY_MANAGER
    # castellan's own API(conf), with its [key_manager] backend option
    config = conf.make_config(key_manager_secret_id=secret_id)
    castellan_options.set_defaults(config, backend=keymanager.BACKEND)
    assert keys.open_master_key(bank, config, {},
                                context=keymanager.CONTEXT) == made
    with pytest.raises(exceptions.KeySourceError) as info:
        keys.open_master_key(bank, config, {}, context=None)
    assert f"key manager secret {secret_id}: cannot be fetched: Forbidden" \
        == str(info.value)


def test_key_add_list_remove_and_a_passphrase_change(bank, key_file):
    options = settings(encrypt=True)
    made = keys.open_master_key(bank, options, PW, create=True)
    [old] = keys.list_copies(bank)
    new_pw = {keys.ENV_NEW_PASSPHRASE: "a new passphrase", **PW}
    added = keys.add_copy(bank, options, keys.new_source(new_pw), environ=PW)
    assert added["kind"] == keyring.PASSPHRASE and added["id"] != old["id"]
    file_copy = keys.add_copy(bank, options, keys.new_source(key_file=key_file),
                              label="site B", environ=PW)
    rows = keys.list_copies(bank)
    assert [r["id"] for r in rows] == [old["id"], added["id"], file_copy["id"]]
    assert {r["label"] for r in rows} >= {"site B"}
    assert all(set(r) == {"id", "kind", "label", "created_at", "kdf",
                          "fingerprint"} for r in rows)
    assert rows[0]["kdf"] == "scrypt n=1024 p=1 r=8"
    # the change: add the new, remove the old; the new one opens alone
    keys.remove_copy(bank, options, old["id"], PW)
    after = {keys.ENV_PASSPHRASE: "a new passphrase"}
    assert keys.open_master_key(bank, options, after) == made
    with pytest.raises(exceptions.WrongKey):
        keys.open_master_key(bank, options, PW)
    # site B with the key file only
    assert keys.open_master_key(bank, settings(key_file=key_file), {}) == made
    with pytest.raises(exceptions.KeyringRefused, match="has no wrapped key"):
        keys.remove_copy(bank, options, old["id"], after)
    keys.remove_copy(bank, options, added["id"], after)
    with pytest.raises(exceptions.KeyringRefused, match="is its last"):
        keys.remove_copy(bank, settings(key_file=key_file), file_copy["id"], {})
    assert [r["id"] for r in keys.list_copies(bank)] == [file_copy["id"]]


def test_key_add_needs_exactly_one_new_source_and_an_encrypted_bank(bank,
                                                                    key_file):
    with pytest.raises(exceptions.KeySourceError, match="exactly one"):
        keys.new_source({})
    with pytest.raises(exceptions.KeySourceError, match="got 2"):
        keys.new_source({keys.ENV_NEW_PASSPHRASE: "x"}, key_file=key_file)
    with pytest.raises(exceptions.KeyringRefused, match="not encrypted"):
        keys.add_copy(bank, settings(), keys.new_source(key_file=key_file),
                      environ=PW)
    # with encrypt true, key add makes a new bank encrypted first
    keys.add_copy(bank, settings(encrypt=True),
                  keys.new_source(key_file=key_file), environ=PW)
    assert sorted(r["kind"] for r in keys.list_copies(bank)) == [
        keyring.KEY_FILE, keyring.PASSPHRASE]


def test_copies_of_another_bank_open_nothing_here(bank):
    keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    other = open_bank("memory://")
    for key in key_objects(bank):
        other.update_object(key, bank.get_object(key))
    with pytest.raises(exceptions.WrongKey, match="opens none"):
        keys.open_master_key(other, settings(), PW)


def test_a_damaged_copy_does_not_hide_the_others(bank, key_file, caplog):
    made = keys.open_master_key(bank, settings(encrypt=True, key_file=key_file),
                                PW, create=True)
    first = keys.list_copies(bank)[0]["id"]
    bank.update_object(f"{keyring.KEYRING_ROOT}wrapped/{first}", {"format": 1})
    with caplog.at_level(logging.WARNING):
        assert keys.open_master_key(bank, settings(key_file=key_file), PW) == made
    assert f"wrapped key wrapped/{first} skipped" in caplog.text
    rows = keys.list_copies(bank)
    assert any(r["id"] == first and "missing fields" in r["damage"] for r in rows)


def test_a_damaged_or_forged_record_is_named(bank):
    keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    key = keyring.KEYRING_ROOT + keyring.RECORD
    raw = bank.get_object(key)
    bank.update_object(key, dict(raw, cipher_suite="rot13"))
    with pytest.raises(exceptions.InvalidKeyRecord, match="cipher_suite"):
        keys.open_master_key(bank, settings(), PW)
    bank.update_object(key, dict(raw, created_at="2001-01-01T00:00:00"))
    with pytest.raises(exceptions.InvalidKeyRecord, match="MAC"):
        keys.open_master_key(bank, settings(), PW)


def test_a_record_lost_after_the_copies_is_written_again(bank):
    made = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    key = keyring.KEYRING_ROOT + keyring.RECORD
    bank.delete_object(key)
    assert keys.open_master_key(bank, settings(), PW) == made
    assert bank.list_objects(key) == []  # readers do not write
    assert keys.open_master_key(bank, settings(), PW, create=True) == made
    keyring.check_record(keyring.parse_record(bank.get_object(key)), made,
                         bank.get_owner_id())


def test_all_copies_gone_is_named(bank):
    keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    for key in key_objects(bank):
        if "/wrapped/" in key:
            bank.delete_object(key)
    with pytest.raises(exceptions.KeyMissing, match="no readable wrapped key"):
        keys.open_master_key(bank, settings(encrypt=True), PW, create=True)


def test_two_first_protects_at_once_end_with_one_key(bank, monkeypatch):
    """On a bank without conditional create (the record is written, not
    created): the other writer's record lands between ours and our re-read,
    so we give our copy up and open theirs."""
    from karbor_volume_glance.format.keys import MasterKey

    theirs = MasterKey.generate()
    bank_id = bank.get_owner_id()
    real_put = keys.Keyring.put_record

    def racing_put(self, raw):
        real_put(self, raw)
        their_copy = keyring.new_copy(theirs, PW[keys.ENV_PASSPHRASE].encode(),
                                      keyring.PASSPHRASE, bank_id)
        self.put_copy(their_copy)
        real_put(self, keyring.new_record(theirs, bank_id))

    def unconditional_create(self, raw):
        racing_put(self, raw)

    monkeypatch.setattr(keys.Keyring, "create_record", unconditional_create)
    opened = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    assert opened == theirs
    assert [r["fingerprint"] for r in keys.list_copies(bank)] == [
        theirs.fingerprint()]


@pytest.mark.parametrize("setup, options, env, ready, words", [
    ("none", {"encrypt": True}, PW, True, "not encrypted yet"),
    ("none", {"encrypt": True}, {}, False, "no passphrase in"),
    ("plain", {"encrypt": True}, PW, False, "plain backups"),
    ("encrypted", {}, PW, True, "opened by the passphrase"),
    ("encrypted", {}, {keys.ENV_PASSPHRASE: "no"}, False, "opens none"),
    ("encrypted", {}, {}, False, "is encrypted: no passphrase"),
])
def test_readiness_says_whether_the_key_opens_the_bank(bank, setup, options,
                                                       env, ready, words):
    if setup == "plain":
        bank.update_object("/volume_glance/by-volume/v/backups/c", {})
    if setup == "encrypted":
        keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    before = sorted(bank.list_objects("/"))
    found_ready, detail = keys.readiness(bank, settings(**options), env)
    assert (found_ready, words in detail) == (ready, True), detail
    assert sorted(bank.list_objects("/")) == before  # check writes nothing
    assert keys.readiness(open_bank("memory://"), settings(), env) is None


def test_no_source_repr_shows_its_secret(key_file):
    source = keys.passphrase_source(PW)
    assert "horse" not in repr(source) and "horse" not in str(source)
    assert json.dumps(keys.key_file_source(key_file).name).find(key_file) > 0


def test_a_passphrase_is_stretched_once_per_process_and_copy(bank, monkeypatch):
    keys.OPENED.clear()
    calls = []
    real = keyring.derive_kek
    monkeypatch.setattr(keyring, "derive_kek",
                        lambda kdf, secret: calls.append(1) or real(kdf, secret))
    made = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    calls.clear()
    for _ in range(3):
        assert keys.open_master_key(bank, settings(), PW) == made
    assert len(calls) == 1
    with pytest.raises(exceptions.WrongKey):  # a wrong one is never cached
        keys.open_master_key(bank, settings(), {keys.ENV_PASSPHRASE: "no"})
    assert len(calls) == 2
    # a copy changed in the bank is opened again (and here opens nothing)
    [row] = keys.list_copies(bank)
    key = f"{keyring.KEYRING_ROOT}wrapped/{row['id']}"
    bank.update_object(key, dict(bank.get_object(key), label="changed"))
    with pytest.raises(exceptions.WrongKey):
        keys.open_master_key(bank, settings(), PW)
    assert len(calls) == 3


def test_a_copy_of_another_master_key_is_skipped(bank, caplog):
    from karbor_volume_glance.format.keys import MasterKey

    made = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    stray = keyring.new_copy(MasterKey.generate(), PW[keys.ENV_PASSPHRASE]
                             .encode(), keyring.PASSPHRASE, bank.get_owner_id(),
                             copy_id="0" * 16)
    bank.update_object(f"{keyring.KEYRING_ROOT}wrapped/{'0' * 16}", stray)
    with caplog.at_level(logging.WARNING):
        assert keys.open_master_key(bank, settings(), PW) == made
    assert f"wrapped key {'0' * 16} skipped: it holds master key" in caplog.text


def test_passphrase_kdf_argon2id_makes_argon2id_copies(bank):
    options = settings(encrypt=True, passphrase_kdf=keyring.ARGON2ID)
    made = keys.open_master_key(bank, options, PW, create=True)
    [row] = keys.list_copies(bank)
    assert row["kdf"] == "argon2id iterations=1 lanes=1 memory_cost=8"
    assert keys.open_master_key(bank, settings(), PW) == made
    with pytest.raises(exceptions.InvalidConfiguration):
        settings(passphrase_kdf="pbkdf2")


def test_a_read_only_section_of_another_site_opens_the_key(bank):
    """A restore at another site may hold a read-only section only: opening
    the key (create false) reads, never writes."""
    made = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    section = bank.get_sub_section("/checkpoints/c1/resource-data/v1/",
                                   is_writable=False)
    assert keys.open_master_key(section, settings(), PW) == made


def _first_protect_that_waits(bank, env, reached, go):
    """A first encrypted protect in a thread that, having found the bank new,
    says so (``reached``) and waits for ``go`` before making its key."""
    results = {}
    real = keys.Keyring.plain_backup
    me = threading.current_thread

    def plain_backup(self):
        found = real(self)
        if me().name == "late":
            reached.set()
            assert go.wait(30), "the first creator never finished"
        return found

    def run():
        try:
            results["key"] = keys.open_master_key(
                bank, settings(encrypt=True), env, create=True)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results["error"] = exc

    return threading.Thread(target=run, name="late"), plain_backup, results


@pytest.mark.parametrize("env", [PW, {keys.ENV_PASSPHRASE: "another one"}],
                         ids=["same-passphrase", "other-passphrase"])
def test_two_concurrent_first_creators_make_exactly_one_master_key(
        bank, monkeypatch, env):
    """Both find the bank new; the other finishes (copy, record) before the
    late one writes anything. The bank's conditional create keeps the first
    record: the late one gives its copy up and opens the first key, or,
    holding no source that opens it, fails naming the copies; never a
    second master key."""
    reached, go = threading.Event(), threading.Event()
    late, hook, results = _first_protect_that_waits(bank, env, reached, go)
    monkeypatch.setattr(keys.Keyring, "plain_backup", hook)
    late.start()
    assert reached.wait(30)
    first = keys.open_master_key(bank, settings(encrypt=True), PW, create=True)
    go.set()
    late.join(30)
    assert not late.is_alive()
    record = keys.encryption_record(bank)
    assert record["fingerprint"] == first.fingerprint()
    assert {row["fingerprint"] for row in keys.list_copies(bank)} == {
        first.fingerprint()}
    if env is PW:
        assert results == {"key": first}
    else:
        assert isinstance(results.get("error"), exceptions.WrongKey)
        assert "another run" not in str(results["error"])
        [copy] = keys.list_copies(bank)
        assert copy["id"] in str(results["error"])
    assert keys.open_master_key(bank, settings(), PW) == first


def test_create_if_absent_keeps_the_first_value(bank):
    section = bank.get_sub_section("/x/")
    assert compat.create_if_absent(section, "k", {"v": 1}) is True
    assert compat.create_if_absent(section, "k", {"v": 2}) is False
    assert section.get_object("k") == {"v": 1}
    with pytest.raises(exceptions.BankReadOnly):
        bank.get_sub_section("/x/", is_writable=False).create_object("j", 1)


def test_create_if_absent_writes_where_the_bank_cannot(bank, monkeypatch):
    monkeypatch.setattr(bank.backend, "CAPABILITIES",
                        capabilities.ALL - {capabilities.CONDITIONAL_CREATE})
    assert compat.create_if_absent(bank, "/k", 1) is None
    assert compat.create_if_absent(bank, "/k", 2) is None
    assert bank.get_object("/k") == 2
