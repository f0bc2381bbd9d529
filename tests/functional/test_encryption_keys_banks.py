"""An encrypted bank's key records on the object stores (SeaweedFS's S3 and
a one-node Swift, started by the session's fixtures): the bank turns
encrypted, another site opens it with another wrapped copy, a passphrase
change, and the last copy kept; through new backends over the same place,
as another site would open it."""

import os
import uuid

import pytest

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.bank import Bank
from karbor_volume_glance.bank.s3 import S3Backend
from karbor_volume_glance.bank.swift import SwiftBackend
from karbor_volume_glance.operations import keys

pytestmark = pytest.mark.usefixtures("fast_kdfs")
SITE_A = {keys.ENV_PASSPHRASE: "site A's passphrase"}


@pytest.fixture(params=["s3", "swift"])
def open_place(request, tmp_path):
    """A function opening a new Bank over one place of the test's own."""
    if request.param == "s3":
        place = request.getfixturevalue("s3_bucket")

        def make():
            return Bank(S3Backend(place.bucket, prefix=place.prefix,
                                  **place.server.backend_options()))
        yield make
        return
    server = request.getfixturevalue("swift_server")
    container = f"kvg-{uuid.uuid4().hex[:16]}"
    opened = []

    def make():
        backend = SwiftBackend(container, prefix="bank", auth_url=server.auth_url,
                               user=server.user, key=server.key)
        opened.append(backend)
        return Bank(backend)
    yield make
    for backend in opened:
        backend.close()


def test_keys_across_sites_on_an_object_store(open_place, tmp_path):
    key_file = tmp_path / "site-b.key"
    key_file.write_bytes(os.urandom(32))
    site_a = open_place()
    encrypt = conf.Settings(encrypt=True)
    master = keys.open_master_key(site_a, encrypt, SITE_A, create=True)
    added = keys.add_copy(site_a, encrypt,
                          keys.new_source(key_file=str(key_file)),
                          label="site B", environ=SITE_A)
    # site B: another opener of the same place, with its key file only
    site_b = open_place()
    only_file = conf.Settings(key_file=str(key_file))
    assert keys.open_master_key(site_b, only_file, {}) == master
    with pytest.raises(exceptions.WrongKey) as info:
        keys.open_master_key(site_b, conf.Settings(),
                             {keys.ENV_PASSPHRASE: "a guess"})
    assert "opens none of the bank's 1 passphrase wrapped keys" in str(info.value)
    # site A changes its passphrase: add, then remove the old one
    [old] = [r["id"] for r in keys.list_copies(site_a) if r["kind"] == "passphrase"]
    new = {**SITE_A, keys.ENV_NEW_PASSPHRASE: "site A's new passphrase"}
    keys.add_copy(site_a, encrypt, keys.new_source(new), environ=SITE_A)
    keys.remove_copy(site_a, encrypt, old, SITE_A)
    after = {keys.ENV_PASSPHRASE: "site A's new passphrase"}
    assert keys.open_master_key(open_place(), conf.Settings(), after) == master
    [current] = [r["id"] for r in keys.list_copies(site_b)
                 if r["kind"] == "passphrase"]
    keys.remove_copy(site_b, only_file, current, {})
    with pytest.raises(exceptions.KeyringRefused, match="is its last"):
        keys.remove_copy(site_b, only_file, added["id"], {})
    assert [r["id"] for r in keys.list_copies(open_place())] == [added["id"]]


def test_the_first_record_wins_on_an_object_store(open_place):
    """A late first protect, whose key record comes after another's, gives
    its key up for the one the bank holds (Swift: If-None-Match; S3 is not
    declared conditional, so there the late record is written and read
    back: it wins, and the early run's key is the one left out)."""
    from karbor_volume_glance.bank import capabilities, compat
    from karbor_volume_glance.format import keyring
    from karbor_volume_glance.format.keys import MasterKey

    bank = open_place()
    section = bank.get_sub_section(keyring.KEYRING_ROOT)
    conditional = capabilities.CONDITIONAL_CREATE in capabilities.of(bank)
    first = compat.create_if_absent(section, "probe", {"v": 1})
    second = compat.create_if_absent(section, "probe", {"v": 2})
    if conditional:
        assert (first, second) == (True, False)
        assert section.get_object("probe") == {"v": 1}
    else:
        assert (first, second) == (None, None)
        assert section.get_object("probe") == {"v": 2}
    section.delete_object("probe")
    early = keys.open_master_key(bank, conf.Settings(encrypt=True), SITE_A,
                                 create=True)
    late = keys.Keyring(open_place())
    other = MasterKey.generate()
    created = late.create_record(keyring.new_record(other, late.bank_id))
    assert created is (False if conditional else None)
    assert late.record().fingerprint == (
        early if conditional else other).fingerprint()
