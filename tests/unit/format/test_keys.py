"""The master key: derivation is stable, separates purposes, never shows the key."""

import pytest

from karbor_volume_glance.format import keys


def test_derive_is_stable_and_separates_purposes_and_contexts():
    key = keys.MasterKey(bytes(range(32)))
    again = keys.MasterKey(bytes(range(32)))
    assert key.derive("chunks", "bank", "vol") == again.derive("chunks", "bank", "vol")
    derived = {
        key.derive("chunks"),
        key.derive("hash"),
        key.derive("chunks", "a", "bc"),
        key.derive("chunks", "ab", "c"),
        key.derive("chunks", b"ab", "c", length=16) + bytes(16),
    }
    assert len(derived) == 5
    assert len(key.derive("x", length=12)) == 12
    assert keys.MasterKey.generate() != key


def test_the_key_never_shows_in_text():
    material = bytes(range(32))
    key = keys.MasterKey(material)
    for text in (repr(key), str(key), f"{key}"):
        assert material.hex() not in text
        assert key.fingerprint() in text
    assert key == keys.MasterKey(material)
    assert len({key, keys.MasterKey(material)}) == 1


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "x" * 32, None])
def test_only_32_bytes_make_a_key(bad):
    with pytest.raises(ValueError):
        keys.MasterKey(bad)
