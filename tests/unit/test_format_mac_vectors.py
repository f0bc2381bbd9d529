"""Format-compatibility vectors of the MACs of an encrypted bank's records.

The values below are format-compatibility vectors from format 4 as released:
they were captured once by running main's code (commit 28e6db0) on fixed
inputs (a fixed master key, encryption record, wrapped copy, index entry and
checkpoint record), and written here as they came out. Every bank already
written holds MACs made this way, so they must never change: a change to
the canonical JSON or the HMAC (:func:`~karbor_volume_glance.format.keys.mac`)
that moved one byte would leave existing encrypted banks unopenable.
"""

import copy
import json

import pytest
from hypothesis import given

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import checkpoint, index, keyring, keys
from tests.unit.test_decoders_hypothesis import JSON, ODD

#: The fixed master key the vectors were made with.
MASTER = keys.MasterKey(bytes(range(32)))
BANK = "bank-owner-0001"
CREATED = "2026-01-02T03:04:05+00:00"

# --- the encryption record (keyring) -------------------------------------------

RECORD = {'cipher_suite': 'aes-256-gcm+hmac-sha256',
 'created_at': '2026-01-02T03:04:05+00:00',
 'encrypted': True,
 'fingerprint': '034ff79c8ded4221',
 'format': 1,
 'format_version': 4,
 'mac': '005fa0d8db7e13170dc65e8d0c97044a7b9917555fcfcd5c01750722f2db4af5'}

# --- a wrapped copy (its AES-GCM associated data is canonical JSON) ------------

#: A key file's secret the copy below was wrapped for.
KEY_FILE_SECRET = bytes(range(100, 140))
COPY = {'cipher': 'aes-256-gcm',
 'created_at': '2026-01-02T03:04:05+00:00',
 'fingerprint': '034ff79c8ded4221',
 'format': 1,
 'id': '0123456789abcdef',
 'kdf': {'name': 'hkdf-sha256', 'salt': 'AAECAwQFBgcICQoLDA0ODw=='},
 'kind': 'key_file',
 'label': 'site B — Zürich',
 'nonce': '2Mg95MskhrYjUkGs',
 'wrapped_key': 'UryZurmt5Us5AHZpG1dlJgz/qrHN94QvL2FSleRCYjcuK8H9syf2mU8jNcFFz4Kx'}

# --- an index entry ------------------------------------------------------------

ENTRY_MAC = "efaf4dfaef0e18dbd0e9419fc6ab18c719cbcdc141ca818a8fa9f3eec6ea08b3"
ENTRY_USES_MAC = "bf0590150838a874ff7fd2ebfd627562a964f4090cebc33f625c696c7a697299"

# --- a checkpoint record, sealed, and what it opens to -------------------------

PROVIDER = "5a01ae91-af99-5b10-9fb1-49311694b9df"
VOLUME = "OS::Cinder::Volume"
#: The fields of the checkpoint record that hold no name: stored as they are.
NAMELESS = {"created_at": "2026-01-02", "id": "cp-2",
            "owner": {"project_id": "proj-1", "project_name": "proj \u00e9"},
            "owner_id": "owner-1", "project_id": "proj-1",
            "provider_id": PROVIDER, "status": "protecting",
            "timestamp": 1767323045, "version": "0.9"}


def named(plan, volume_1, volume_2):
    """The fields of the checkpoint record that hold the plan's and the two
    volumes' names."""
    graph = [{"0x0": [VOLUME, "vol-1", volume_1, None],
              "0x1": [VOLUME, "vol-2", volume_2, {"k": "v"}]}, []]
    return {"extra_info": {"plan": {"id": "plan-1", "name": plan}},
            "protection_plan": {
                "id": "plan-1", "name": plan, "provider_id": PROVIDER,
                "resources": [{"id": "vol-1", "name": volume_1, "type": VOLUME},
                              {"id": "vol-2", "name": volume_2, "type": VOLUME}]},
            "resource_graph": json.dumps(graph)}


RECORD_PLAIN = {**NAMELESS, **named("nightly", "data disk", "logs \u00e9")}
SEALED_RECORD = {
    **NAMELESS, **named("(sealed)", "(sealed)", "(sealed)"),
    "encryption": {
        "aead": "AES-256-GCM", "key": "034ff79c8ded4221",
        "mac": "c502d375cea63d4709b9278dfab049194b7409a8976d42cd0a0f6e0f"
               "5ab2c547",
        "names": "KnjpmTsTYA2JBHkz/fNj9ymqV1yNIXNlxA1y0B4HvLsy8Ab4sqfOQ6Nv"
                 "t/V79RKEOl7eoExH2cVyDQD3uptJvgktXaN0j4GS60hZ0/ZsWnS0FfyX"
                 "PHCiUCRVLbzW0EKaVZvIxlykabTQhvSrsIS+bcuW6NCEix0HS557JX2O"
                 "/TObyz3U+XZrmdCJ6Eoq6lHUZ/QJYsg="}}


def test_the_fingerprint_of_the_vectors_master_key():
    assert MASTER.fingerprint() == "034ff79c8ded4221"


def test_an_encryption_record_s_mac_is_format_4_s():
    made = keyring.new_record(MASTER, BANK, created_at=CREATED)
    assert made == RECORD
    parsed = keyring.parse_record(RECORD)
    keyring.check_record(parsed, MASTER, BANK)  # raises unless it holds


def test_an_encryption_record_s_mac_covers_the_bank():
    parsed = keyring.parse_record(RECORD)
    with pytest.raises(exceptions.InvalidKeyRecord, match="MAC"):
        keyring.check_record(parsed, MASTER, "another-bank")


def test_a_wrapped_copy_of_format_4_opens():
    parsed = keyring.parse_copy(COPY, keyring.copy_key(COPY["id"]))
    assert keyring.unwrap(parsed, KEY_FILE_SECRET, BANK) == MASTER


def test_a_wrapped_copy_s_associated_data_covers_its_label():
    changed = {**COPY, "label": "site B"}
    parsed = keyring.parse_copy(changed, keyring.copy_key(COPY["id"]))
    assert keyring.unwrap(parsed, KEY_FILE_SECRET, BANK) is None


def vector_entry():
    return index.Entry(
        checkpoint_id="cp-2", volume_id="vol-1",
        section="/checkpoints/cp-2/resource-data/vol-1/", status="available",
        data_timestamp=CREATED, chunk_size=4194304, parent_checkpoint_id="cp-1",
        uses={"cp-1": [3, 0, 2], "cp-0": [1]})


def test_an_index_entry_s_macs_are_format_4_s():
    entry = index.authenticate(vector_entry(), index.mac_key(MASTER, "vol-1"),
                               "vol-1")
    assert (entry.mac, entry.uses_mac) == (ENTRY_MAC, ENTRY_USES_MAC)
    index.check(entry, index.mac_key(MASTER, "vol-1"),
                index.entries_prefix("vol-1") + "cp-2", "vol-1")


def test_a_sealed_checkpoint_record_of_format_4_opens():
    stored = copy.deepcopy(SEALED_RECORD)
    assert checkpoint.open_record(stored, MASTER, "cp-2") == RECORD_PLAIN
    assert stored == SEALED_RECORD  # opening changes nothing


def test_a_sealed_checkpoint_record_s_mac_covers_its_fields():
    stored = copy.deepcopy(SEALED_RECORD)
    stored["owner"]["project_name"] = "proj e"
    with pytest.raises(exceptions.CheckpointNotAuthentic, match="MAC"):
        checkpoint.open_record(stored, MASTER, "cp-2")


def test_sealing_a_checkpoint_record_again_keeps_its_stored_fields():
    stored = checkpoint.seal_record(RECORD_PLAIN, MASTER)
    seal = stored.pop(checkpoint.SEAL_FIELD)
    expected = copy.deepcopy(SEALED_RECORD)
    del expected[checkpoint.SEAL_FIELD]
    assert stored == expected
    assert checkpoint.open_record({**stored, checkpoint.SEAL_FIELD: seal},
                                  MASTER, "cp-2") == RECORD_PLAIN


# --- the helper all of them use ---------------------------------------------------

def test_canonical_json_is_sorted_compact_and_ascii():
    assert keys.canonical({"b": "\u00e9", "a": [1, None]}) == \
        b'{"a":[1,null],"b":"\\u00e9"}'


@given(value=JSON, found=ODD)
def test_hypothesis_same_mac_holds_for_the_mac_alone(value, found):
    """A MAC as read may be any JSON value: same_mac says whether it is
    the value's, and never raises."""
    key = MASTER.derive("test-vectors")
    expected = keys.mac(key, value)
    assert keys.same_mac(expected, expected)
    assert keys.same_mac(found, expected) is (found == expected)
