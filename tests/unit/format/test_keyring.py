"""The key records of an encrypted bank: wrapped copies and the encryption
record round-trip, open only with their secret, in their bank, under their
id, and any damage fails with InvalidKeyRecord naming the record (hypothesis
too: the ``ci`` profile of tests/unit/conftest.py)."""

import base64
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import keyring
from karbor_volume_glance.format.keys import MasterKey
from tests.conftest import FAST_KDFS
from tests.unit.test_decoders_hypothesis import ODD, mutated

BANK = "0b1c2d3e-bank"
pytestmark = pytest.mark.usefixtures("fast_kdfs")


MASTER = MasterKey(bytes(range(32)))


def _fast(kind, name=keyring.SCRYPT):
    kdf = keyring.new_kdf(kind, name)
    if kdf["name"] in FAST_KDFS:
        kdf.update(FAST_KDFS[kdf["name"]])
    return kdf


def _copy(kind=keyring.PASSPHRASE, secret=b"correct horse", name=keyring.SCRYPT,
          **kwargs):
    return keyring.new_copy(MASTER, secret, kind, BANK, label="site A",
                            kdf=_fast(kind, name), **kwargs)


def _parsed(raw):
    return keyring.parse_copy(json.loads(json.dumps(raw)),
                              keyring.copy_key(raw["id"]))


@pytest.mark.parametrize("kind, name", [
    (keyring.PASSPHRASE, keyring.SCRYPT),
    (keyring.PASSPHRASE, keyring.ARGON2ID),
    (keyring.KEY_FILE, None),
    (keyring.KEY_MANAGER, None),
])
def test_a_copy_opens_with_its_secret_only(kind, name):
    secret = b"s" * 32
    raw = _copy(kind, secret, name or keyring.SCRYPT)
    parsed = _parsed(raw)
    assert keyring.unwrap(parsed, secret, BANK) == MASTER
    assert keyring.unwrap(parsed, b"t" * 32, BANK) is None
    assert keyring.unwrap(parsed, secret, "another-bank") is None
    summary = parsed.summary()
    assert summary["kind"] == kind and summary["fingerprint"] == MASTER.fingerprint()
    assert MASTER.material.hex() not in json.dumps(raw)
    assert base64.b64encode(MASTER.material).decode() not in json.dumps(raw)


def test_default_parameters_are_the_documented_ones(monkeypatch):
    monkeypatch.undo()
    kdf = keyring.new_kdf(keyring.PASSPHRASE)
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", 2**17, 8, 1)
    assert len(base64.b64decode(kdf["salt"])) == keyring.SALT_BYTES
    assert keyring.new_kdf(keyring.KEY_FILE)["name"] == keyring.HKDF
    argon = keyring.new_kdf(keyring.PASSPHRASE, keyring.ARGON2ID)
    assert keyring.describe_kdf(argon) == (
        "argon2id iterations=3 lanes=4 memory_cost=65536")


@pytest.mark.parametrize("field, value", [
    ("label", "site B"), ("created_at", "2020-01-01T00:00:00+00:00"),
    ("kind", keyring.KEY_FILE), ("fingerprint", "0" * 16),
])
def test_any_changed_field_makes_a_copy_open_to_nothing(field, value):
    raw = _copy(keyring.PASSPHRASE, b"pw")
    changed = dict(raw, **{field: value})
    try:
        parsed = _parsed(changed)
    except exceptions.InvalidKeyRecord:
        return  # refused by its shape: fine as well
    assert keyring.unwrap(parsed, b"pw", BANK) is None


def test_a_copy_moved_to_another_id_is_refused_or_opens_to_nothing():
    raw = _copy()
    with pytest.raises(exceptions.InvalidKeyRecord, match="not its key's"):
        keyring.parse_copy(raw, keyring.copy_key("0" * 16))
    moved = dict(raw, id="0" * 16)
    assert keyring.unwrap(_parsed(moved), b"correct horse", BANK) is None


@pytest.mark.parametrize("change, words", [
    (lambda r: r["kdf"].update(n=2**40), "kdf n"),
    (lambda r: r["kdf"].update(n=3000), "power of two"),
    (lambda r: r["kdf"].update(n=2**20, r=32), "1 GiB"),
    (lambda r: r["kdf"].update(name="pbkdf2"), "kdf 'pbkdf2'"),
    (lambda r: r["kdf"].update(salt="short"), "kdf salt"),
    (lambda r: r.update(nonce=base64.b64encode(b"x" * 11).decode()), "nonce"),
    (lambda r: r.update(cipher="aes-128-cbc"), "cipher"),
    (lambda r: r.update(format=2), "format"),
    (lambda r: r.update(extra=1), "unknown fields"),
    (lambda r: r.pop("label"), "missing fields"),
    (lambda r: r.update(label="a\nb"), "label"),
    (lambda r: r.update(created_at="yesterday"), "created_at"),
])
def test_damaged_copies_are_named(change, words):
    raw = copy.deepcopy(_copy())
    change(raw)
    with pytest.raises(exceptions.InvalidKeyRecord, match=words) as info:
        keyring.parse_copy(raw, keyring.copy_key(raw["id"]))
    assert info.value.key == keyring.copy_key(raw["id"])


def test_a_key_file_copy_never_takes_a_slow_kdf_and_a_passphrase_no_hkdf():
    raw = _copy(keyring.KEY_FILE, b"k" * 32)
    raw["kdf"] = _fast(keyring.PASSPHRASE)
    with pytest.raises(exceptions.InvalidKeyRecord, match="key_file copy"):
        _parsed(raw)


def test_the_encryption_record_is_the_master_keys_and_the_banks():
    raw = keyring.new_record(MASTER, BANK)
    record = keyring.parse_record(json.loads(json.dumps(raw)))
    keyring.check_record(record, MASTER, BANK)
    with pytest.raises(exceptions.InvalidKeyRecord, match="another bank"):
        keyring.check_record(record, MASTER, "another-bank")
    with pytest.raises(exceptions.InvalidKeyRecord, match="names master key"):
        keyring.check_record(record, MasterKey.generate(), BANK)
    forged = keyring.parse_record(dict(raw, created_at="2001-01-01T00:00:00"))
    with pytest.raises(exceptions.InvalidKeyRecord, match="MAC"):
        keyring.check_record(forged, MASTER, BANK)


# --- hypothesis ---------------------------------------------------------------

COPIES = st.builds(
    lambda kind, secret, label: keyring.new_copy(
        MASTER, secret, kind, BANK, label=label, kdf=_fast(kind)),
    st.sampled_from(keyring.KINDS), st.binary(min_size=1, max_size=64),
    st.text(st.characters(categories=("L", "N", "P"), include_characters=" "),
            max_size=40))


@given(COPIES)
def test_hypothesis_copies_round_trip(raw):
    parsed = _parsed(raw)
    assert parsed.raw == raw
    assert parsed.summary()["id"] == raw["id"]


@given(COPIES, st.data())
def test_hypothesis_a_mutated_copy_fails_named_or_opens_to_nothing(raw, draw):
    changed = draw.draw(mutated(raw))
    try:
        parsed = keyring.parse_copy(changed, keyring.copy_key(raw["id"]))
    except exceptions.InvalidKeyRecord as exc:
        assert exc.key == keyring.copy_key(raw["id"])
        return
    # only a change that keeps every checked field can parse: it either is
    # the very same record, or opens to nothing
    if parsed.raw != raw:
        for secret in (b"s" * 32, b"x"):
            assert keyring.unwrap(parsed, secret, BANK) is None


@given(ODD)
def test_hypothesis_random_copies_fail_only_named(raw):
    with pytest.raises(exceptions.InvalidKeyRecord):
        keyring.parse_copy(raw, keyring.copy_key("0" * 16))


@given(st.data())
def test_hypothesis_a_mutated_record_fails_named_or_its_mac(draw):
    raw = keyring.new_record(MASTER, BANK)
    changed = draw.draw(mutated(raw))
    try:
        record = keyring.parse_record(changed)
    except exceptions.InvalidKeyRecord as exc:
        assert exc.key == keyring.RECORD
        return
    if record.raw != raw:
        with pytest.raises(exceptions.InvalidKeyRecord):
            keyring.check_record(record, MASTER, BANK)


@given(ODD)
def test_hypothesis_random_records_fail_only_named(raw):
    with pytest.raises(exceptions.InvalidKeyRecord):
        keyring.parse_record(raw)
