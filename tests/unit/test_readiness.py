"""Readiness: the plugin's check_setup, and the runner failing fast or waiting."""

import os

import pytest

from karbor_volume_glance import exceptions, readiness
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.standalone.runner import Runner
from tests.unit.harness import OBJECT_SIZE, plugin_config


class FlakyBank:
    """A bank whose writes fail ``failures`` times, then work."""

    def __init__(self, bank, failures):
        self._bank = bank
        self.failures = failures

    def update_object(self, key, value, context=None):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("bank endpoint unreachable")
        return self._bank.update_object(key, value, context=context)

    def __getattr__(self, name):
        return getattr(self._bank, name)


class LyingBank(FlakyBank):
    def get_object(self, key, context=None):
        return "something else"


class DownFactory:
    """A client factory whose ``service`` does not answer."""

    def __init__(self, factory, down):
        self._factory, self._down = factory, down

    def create_client(self, service, context):
        if service in self._down:
            raise ConnectionError(f"{service} endpoint refused the connection")
        return self._factory.create_client(service, context)


def plugin(cloud, down=(), **overrides):
    return VolumeGlanceProtectionPlugin(
        plugin_config(init_check_interval=0.01, **overrides),
        client_factory=DownFactory(cloud.client_factory(), down))


def by_name(found):
    return {c.name: c for c in found.components}


def test_everything_ready(cloud, bank):
    found = plugin(cloud).check_setup(bank, cloud.context())
    assert found.ready
    assert list(by_name(found)) == ["configuration", "bank", "cinder", "glance",
                                    "nova"]
    assert bank.list_objects("/volume_glance/probes/") == []  # probe cleaned up


def test_without_bank_or_context_only_the_configuration(cloud):
    found = plugin(cloud).check_setup()
    assert [c.name for c in found.components] == ["configuration"]
    assert found.ready


@pytest.mark.parametrize("make, words", [
    (lambda bank: FlakyBank(bank, 1), "writing /volume_glance/probes/"),
    (lambda bank: LyingBank(bank, 0), "read back as 'something else'"),
])
def test_a_bank_that_does_not_work_is_not_ready(cloud, bank, make, words):
    found = plugin(cloud).check_setup(make(bank))
    assert not found.ready
    assert words in by_name(found)["bank"].detail
    assert found.reason().startswith("bank: ")


def test_cinder_or_glance_down_is_not_ready_nova_down_is_reported(cloud, bank):
    found = plugin(cloud, down=("glance", "nova")).check_setup(bank, cloud.context())
    components = by_name(found)
    assert not found.ready
    assert found.reason() == ("glance: ConnectionError: glance endpoint refused "
                              "the connection")
    assert components["nova"].ready is False and components["nova"].required is False
    assert plugin(cloud, down=("nova",)).check_setup(bank, cloud.context()).ready


def test_the_runner_fails_fast_and_creates_nothing(cloud, bank):
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    runner = Runner(plugin(cloud), FlakyBank(bank, 100), cloud.context())
    with pytest.raises(exceptions.NotReady) as info:
        runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
    assert str(info.value).startswith("not ready: bank: writing ")
    assert cloud.created() == []
    assert runner.list() == []


def test_the_runner_fails_fast_when_cinder_is_down(cloud, bank):
    volume_id = cloud.add_volume(data=b"x")
    runner = Runner(plugin(cloud, down=("cinder",)), bank, cloud.context())
    with pytest.raises(exceptions.NotReady, match="not ready: cinder: "):
        runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
    assert cloud.created() == [] and runner.list() == []


def test_a_waiting_runner_resumes_once_the_bank_answers(cloud, bank, caplog):
    caplog.set_level("INFO", logger="karbor_volume_glance.readiness")
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    flaky = FlakyBank(bank, 3)
    runner = Runner(plugin(cloud), flaky, cloud.context(), wait_ready=30)
    result = runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
    assert result.ok
    assert flaky.failures == 0
    assert caplog.text.count("Not ready: bank: writing") == 3
    assert "Ready again" in caplog.text


def test_a_waiting_runner_gives_up_after_its_time(cloud, bank):
    runner = Runner(plugin(cloud), FlakyBank(bank, 10 ** 6), cloud.context(),
                    wait_ready=0.05)
    with pytest.raises(exceptions.NotReady):
        runner.verify("whatever")


def test_a_failed_backup_is_deleted_with_the_cloud_down(cloud, bank):
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    cloud.inject("image.data", "drop", after_bytes=10, times=10)
    result = Runner(plugin(cloud), bank, cloud.context()).protect(
        [volume_id], {volume_id: {"backup_name": "b"}})
    assert not result.ok
    down = Runner(plugin(cloud, down=("cinder", "glance", "nova")), bank,
                  cloud.context())
    assert down.delete(result.checkpoint_id).ok


def test_wait_until_ready_checks_every_interval():
    calls, sleeps = [], []
    answers = iter([False, False, True])

    def check_once():
        calls.append(1)
        ready = next(answers)
        return readiness.Readiness((readiness.Component("bank", ready, "x"),))

    found = readiness.wait_until_ready(check_once, 5.0, 60.0, sleep=sleeps.append,
                                       clock=lambda: 0.0)
    assert found.ready and len(calls) == 3 and sleeps == [5.0, 5.0]


def test_every_backend_has_the_probe(tmp_path):
    from karbor_volume_glance.bank import probe
    for url in ("memory://", f"file://{tmp_path}/bank"):
        bank = open_bank(url)
        probe.probe(bank)
        assert bank.list_objects("/") == []


def test_a_missing_or_wrong_key_fails_fast_and_creates_nothing(
        cloud, bank, monkeypatch):
    """Issue 15: check_setup's encryption line, for an encrypted bank or with
    encrypt true, stops the runner before anything is made."""
    from karbor_volume_glance.format import keyring
    from karbor_volume_glance.operations import keys

    monkeypatch.setattr(keyring, "PASSPHRASE_KDF_DEFAULTS",
                        {keyring.SCRYPT: {"n": 2**10, "r": 8, "p": 1}})
    monkeypatch.delenv(keys.ENV_PASSPHRASE, raising=False)
    volume_id = cloud.add_volume(data=os.urandom(OBJECT_SIZE))
    runner = Runner(plugin(cloud, encrypt=True), bank, cloud.context())
    with pytest.raises(exceptions.NotReady) as info:
        runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
    assert str(info.value) == (
        f"not ready: encryption: bank {bank.get_owner_id()} is to be "
        "encrypted: no passphrase in KARBOR_VOLUME_GLANCE_PASSPHRASE, no "
        "key_file, no key manager secret configured")
    keys.open_master_key(bank, runner.plugin.settings,
                         {keys.ENV_PASSPHRASE: "right"}, create=True)
    monkeypatch.setenv(keys.ENV_PASSPHRASE, "wrong")
    with pytest.raises(exceptions.NotReady, match="opens none"):
        Runner(plugin(cloud), bank, cloud.context()).protect(
            [volume_id], {volume_id: {"backup_name": "b"}})
    assert cloud.created() == []
    monkeypatch.setenv(keys.ENV_PASSPHRASE, "right")
    found = plugin(cloud).check_setup(bank, cloud.context())
    assert found.ready and "opened by the passphrase" in by_name(
        found)["encryption"].detail


def test_a_bank_only_check_still_asks_the_key_manager_as_the_caller(
        cloud, bank, monkeypatch):
    """verify checks the bank alone (no cloud probes), and the key kept in
    the key manager still opens: it is asked as the runner's context."""
    from castellan import options as castellan_options

    from karbor_volume_glance.operations import keys
    from tests.unit import keymanager

    monkeypatch.delenv(keys.ENV_PASSPHRASE, raising=False)
    secret_id = keymanager.new_secret(os.urandom(32))
    config = plugin_config(init_check_interval=0.01, encrypt=True,
                           key_manager_secret_id=secret_id)
    castellan_options.set_defaults(config, backend=keymanager.BACKEND)
    keys.open_master_key(bank, config, {}, create=True,
                         context=keymanager.CONTEXT)
    runner = Runner(VolumeGlanceProtectionPlugin(
        config, client_factory=cloud.client_factory()), bank, cloud.context())
    found = runner.ensure_ready(cloud=False)
    assert "opened by key manager secret" in by_name(found)["encryption"].detail
    assert "cinder" not in by_name(found)
