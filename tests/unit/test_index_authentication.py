"""Index entries of an encrypted bank are authenticated (issue 15, item 2):
a changed entry, or one moved to another volume or checkpoint, is caught by
every keyed reader and named; a plain bank's entries keep their bytes."""

import copy
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.format import index as index_format
from karbor_volume_glance.format.keys import MasterKey
from karbor_volume_glance.format.status import EntryStatus
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, Harness

MASTER = MasterKey.generate()
VOLUME = "vol-a"
KEY = index_format.mac_key(MASTER, VOLUME)


def entry(**changes):
    fields = dict(checkpoint_id="cp-2", volume_id=VOLUME,
                  section="/checkpoints/cp-2/resource-data/vol-a/",
                  status=EntryStatus.AVAILABLE,
                  data_timestamp="2026-11-30T01:00:00+00:00", chunk_size=4096,
                  parent_checkpoint_id="cp-1", uses={"cp-1": [0, 2]})
    fields.update(changes)
    return index_format.Entry(**fields)


def where(checkpoint_id="cp-2", volume_id=VOLUME):
    return index_format.entries_prefix(volume_id) + checkpoint_id


def authenticated(**changes):
    return index_format.authenticate(entry(**changes), KEY, VOLUME)


def test_an_authenticated_entry_passes_and_round_trips():
    made = authenticated()
    raw = made.to_dict()
    assert set(raw) >= {"mac", "uses_mac"}
    parsed = index_format.parse_entry(raw, "cp-2", VOLUME)
    assert index_format.check(parsed, KEY, where(), VOLUME) == made
    assert parsed.authenticated


def test_a_plain_entry_keeps_its_fields():
    assert set(entry().to_dict()) == {
        "checkpoint_id", "volume_id", "section", "status", "data_timestamp",
        "chunk_size", "parent_checkpoint_id", "uses", "retains", "updated_at"}
    assert not entry().authenticated


@pytest.mark.parametrize("field, value", [
    ("section", "/checkpoints/cp-9/resource-data/vol-a/"),
    ("chunk_size", 8192),
    ("parent_checkpoint_id", "cp-0"),
    ("data_timestamp", "2026-11-29T01:00:00+00:00"),
    ("uses", {"cp-1": [0, 1, 2]}),
    ("uses", {"cp-0": [0, 2]}),
])
def test_a_changed_entry_is_named(field, value):
    changed = authenticated()
    setattr(changed, field, value)
    with pytest.raises(exceptions.RecordNotAuthentic) as info:
        index_format.check(changed, KEY, where(), VOLUME)
    assert info.value.record == f"index entry {where()}"
    assert where() in str(info.value) and "not authentic" in str(info.value)


@pytest.mark.parametrize("volume_id, checkpoint_id", [
    ("vol-b", "cp-2"),   # moved into another volume's index
    (VOLUME, "cp-3"),    # moved to another checkpoint's key
])
def test_an_entry_moved_elsewhere_is_named(volume_id, checkpoint_id):
    moved = authenticated(checkpoint_id=checkpoint_id, volume_id=volume_id)
    moved.mac, moved.uses_mac = authenticated().mac, authenticated().uses_mac
    with pytest.raises(exceptions.RecordNotAuthentic, match="not authentic"):
        index_format.check(moved, index_format.mac_key(MASTER, volume_id),
                           where(checkpoint_id, volume_id), volume_id)


def test_another_masters_entry_is_named():
    other = index_format.mac_key(MasterKey.generate(), VOLUME)
    with pytest.raises(exceptions.RecordNotAuthentic):
        index_format.check(authenticated(), other, where(), VOLUME)


def test_a_keyless_retire_keeps_the_entry_authentic():
    """What a delete or a sweep (no key) changes: the status, the uses
    cleared, retains; the MACs do not cover them."""
    retired = authenticated()
    retired.status, retired.uses, retired.retains = (
        EntryStatus.RETAINED, {}, [1, 3])
    assert index_format.check(retired, KEY, where(), VOLUME) is retired
    revived = copy.copy(retired)
    revived.status = EntryStatus.AVAILABLE  # live again, with no uses: forged
    with pytest.raises(exceptions.RecordNotAuthentic, match="uses"):
        index_format.check(revived, KEY, where(), VOLUME)


def test_an_entry_without_mac_passes_unauthenticated():
    bare = entry()
    assert index_format.check(bare, KEY, where(), VOLUME) is bare
    assert not bare.authenticated


@pytest.mark.parametrize("value", ["", "0" * 63, "g" * 64, 5])
def test_a_malformed_mac_is_refused_by_the_parser(value):
    raw = authenticated().to_dict()
    raw["mac"] = value
    with pytest.raises(exceptions.InvalidBackupMetadata, match="mac"):
        index_format.parse_entry(raw, "cp-2", VOLUME)


@given(st.dictionaries(st.sampled_from(index_format.MAC_FIELDS + ("uses",)),
                       st.integers(0, 9), min_size=1))
def test_any_change_of_a_covered_field_is_caught(changes):
    original = authenticated()
    changed = copy.deepcopy(original)
    for field, value in changes.items():
        if field == "uses":
            changed.uses = {"cp-1": [value]}
        elif field == "chunk_size":
            changed.chunk_size = value + 1
        else:
            setattr(changed, field, f"{getattr(original, field)}{value}")
    if changed.to_dict() == original.to_dict():
        return
    with pytest.raises(exceptions.RecordNotAuthentic):
        index_format.check(changed, KEY, where(), VOLUME)


# --- through the operations ------------------------------------------------


@pytest.fixture
def keyed(cloud, bank):
    return Harness(cloud, bank, master_key=MasterKey.generate())


@pytest.fixture
def chain(keyed):
    """A full backup and an incremental on it, encrypted."""
    volume_id = keyed.cloud.add_volume(data=os.urandom(4 * OBJECT_SIZE))
    first = chains.protect_point(keyed, volume_id)
    keyed.cloud.write_volume(volume_id, 0, os.urandom(OBJECT_SIZE))
    second = chains.protect_point(keyed, volume_id, INCREMENTAL)
    assert second.manifest["incremental"] is True
    return volume_id, first, second


def entry_key(volume_id, checkpoint_id):
    return index_format.entries_prefix(volume_id) + checkpoint_id


def edit(bank, key, **changes):
    raw = bank.get_object(key)
    raw.update(changes)
    bank.update_object(key, raw)


def restore_failure(harness, volume_id, point):
    with pytest.raises(exceptions.RestoreFailed) as info:
        harness.restore(volume_id, checkpoint=point.checkpoint)
    return info.value.cause


def test_a_keyed_protect_writes_authenticated_entries(keyed, chain):
    volume_id, first, second = chain
    for point in (first, second):
        raw = keyed.bank.get_object(entry_key(volume_id, point.id))
        assert set(raw) >= {"mac", "uses_mac"}


def test_a_plain_protects_entries_have_no_mac(harness, cloud):
    volume_id = cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    point = chains.protect_point(harness, volume_id)
    raw = harness.bank.get_object(entry_key(volume_id, point.id))
    assert "mac" not in raw and "uses_mac" not in raw


def test_an_edited_entry_fails_the_restore_naming_it(keyed, chain):
    volume_id, first, second = chain
    key = entry_key(volume_id, first.id)
    edit(keyed.bank, key, chunk_size=2 * OBJECT_SIZE)
    cause = restore_failure(keyed, volume_id, second)
    assert isinstance(cause, exceptions.RecordNotAuthentic)
    assert key in str(cause)
    made = len(keyed.cloud.created())
    with pytest.raises(exceptions.VerifyFailed) as info:
        keyed.verify(volume_id, checkpoint=second.checkpoint)
    assert isinstance(info.value.cause, exceptions.RecordNotAuthentic)
    assert len(keyed.cloud.created()) == made


def test_an_edited_entry_makes_the_next_protect_full_naming_it(keyed, chain):
    volume_id, first, second = chain
    key = entry_key(volume_id, second.id)
    edit(keyed.bank, key, uses={first.id: [0]})
    third = chains.protect_point(keyed, volume_id, INCREMENTAL)
    assert third.manifest["incremental"] is False
    assert key in third.manifest["full_reason"]
    assert "not authentic" in third.manifest["full_reason"]


def test_an_entry_moved_to_another_volume_is_named(keyed, chain):
    volume_id, first, second = chain
    other_id = keyed.cloud.add_volume(data=os.urandom(2 * OBJECT_SIZE))
    other = chains.protect_point(keyed, other_id)
    moved = entry_key(other_id, first.id)
    keyed.bank.update_object(
        moved, keyed.bank.get_object(entry_key(volume_id, first.id)))
    chains.assert_restores(keyed, other_id, other)  # full: no source read
    third = chains.protect_point(keyed, other_id, INCREMENTAL)
    assert moved in third.manifest["full_reason"]


def test_an_entry_moved_to_another_checkpoint_is_named(keyed, chain):
    volume_id, first, second = chain
    original = keyed.bank.get_object(entry_key(volume_id, first.id))
    forged = dict(original, checkpoint_id=second.id)
    key = entry_key(volume_id, second.id)
    keyed.bank.update_object(key, forged)
    cause = restore_failure(keyed, volume_id, second)
    assert isinstance(cause, exceptions.RecordNotAuthentic)
    assert key in str(cause)


def test_stripped_macs_are_never_built_on(keyed, chain):
    volume_id, first, second = chain
    key = entry_key(volume_id, second.id)
    raw = keyed.bank.get_object(key)
    del raw["mac"], raw["uses_mac"]
    keyed.bank.update_object(key, raw)
    third = chains.protect_point(keyed, volume_id, INCREMENTAL)
    assert third.manifest["incremental"] is False
    assert "has no MAC" in third.manifest["full_reason"]
    chains.assert_restores(keyed, volume_id, second)  # its sealed manifest


def test_deletes_keep_entries_authentic(keyed, chain):
    volume_id, first, second = chain
    keyed.delete(volume_id, checkpoint=first.checkpoint)  # retained: used
    raw = keyed.bank.get_object(entry_key(volume_id, first.id))
    assert raw["status"] == EntryStatus.RETAINED
    chains.assert_restores(keyed, volume_id, second)
    keyed.delete(volume_id, checkpoint=second.checkpoint)
    assert chains.backup_keys(keyed.bank) == []
