"""What every tier's tests share: pytest rewrites the asserts of the shared
conformance suite (a helper module, not a test module, so not by default),
and cheap key derivations for the tests of encrypted banks."""

import pytest

pytest.register_assert_rewrite("tests.cloud_conformance")


#: Passphrase KDF parameters for tests: the defaults take a second or more
#: per wrapped key, by design.
FAST_KDFS = {"scrypt": {"n": 2**10, "r": 8, "p": 1},
             "argon2id": {"iterations": 1, "lanes": 1, "memory_cost": 8}}


@pytest.fixture
def fast_kdfs(monkeypatch):
    """Cheap passphrase KDFs, and no passphrase taken from the environment
    of whoever runs the tests."""
    from karbor_volume_glance.format import keyring
    from karbor_volume_glance.operations import keys

    monkeypatch.setattr(keyring, "PASSPHRASE_KDF_DEFAULTS",
                        {keyring.SCRYPT: FAST_KDFS["scrypt"],
                         keyring.ARGON2ID: FAST_KDFS["argon2id"]})
    for name in (keys.ENV_PASSPHRASE, keys.ENV_NEW_PASSPHRASE):
        monkeypatch.delenv(name, raising=False)
