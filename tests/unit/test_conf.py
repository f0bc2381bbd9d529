"""The plugin's options: defaults, validation at construction, list_opts, docs."""

import dataclasses
import importlib.util
import pathlib
import re

import pytest
from oslo_config import cfg

from karbor_volume_glance import conf, exceptions, schemas
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import FakeCloud

ROOT = pathlib.Path(__file__).resolve().parents[2]


def plugin_with(config, **values):
    config.config(group=conf.GROUP, **values)
    return VolumeGlanceProtectionPlugin(
        config.conf, client_factory=FakeCloud().client_factory()
    )


def test_defaults_when_config_is_none():
    settings = conf.load_settings(None)
    assert settings.backup_image_object_size == 32 * 1024 * 1024
    assert settings.backup_from_snapshot == "auto"
    assert settings.poll_interval == 5.0


def test_settings_defaults_are_the_options_defaults(config):
    settings = conf.load_settings(config.conf)
    assert settings == conf.Settings()
    assert [field.name for field in dataclasses.fields(conf.Settings)] == [
        opt.dest for opt in conf.volume_glance_opts]
    for opt in conf.volume_glance_opts:
        assert getattr(settings, opt.dest) == opt.default, opt.dest


def test_values_come_from_the_karbor_config(config):
    plugin = plugin_with(config, poll_interval=0.5,
                         backup_image_object_size=65536 * 3,
                         backup_from_snapshot=False, image_timeout=12)
    assert plugin.settings.poll_interval == 0.5
    assert plugin.settings.backup_image_object_size == 196608
    assert plugin.settings.backup_from_snapshot is False
    assert plugin.settings.image_timeout == 12


def plugin_from_file(tmp_path, text):
    path = tmp_path / "provider.conf"
    path.write_text("[volume_glance_plugin]\n" + text + "\n")
    config = cfg.ConfigOpts()
    config(["--config-file", str(path)])
    return VolumeGlanceProtectionPlugin(config, client_factory=object())


INVALID = [
    ("backup_image_object_size", 65536 * 3 + 1, "multiple of 65536"),
    ("backup_image_object_size", 1000, "backup_image_object_size"),
    ("backup_image_object_size", "lots", "backup_image_object_size"),
    ("poll_interval", 0, "poll_interval"),
    ("snapshot_timeout", -1, "snapshot_timeout"),
    ("backup_from_snapshot", "perhaps", "backup_from_snapshot"),
    ("compression", "lzma", "compression"),
    ("parallelism", 0, "parallelism"),
    ("bank_retries", -1, "bank_retries"),
    # oslo's min allowed 0 here, and only a second check refused it
    ("image_timeout", 0, "greater than 0"),
    ("progress_notification_interval", 0, "greater than 0"),
    ("init_check_interval", 0, "greater than 0"),
    ("parallelism", 65, "parallelism"),
]


@pytest.mark.parametrize("option, value, words", INVALID)
def test_invalid_value_in_the_provider_file_fails_at_construction(
    tmp_path, option, value, words
):
    with pytest.raises(exceptions.InvalidConfiguration) as info:
        plugin_from_file(tmp_path, f"{option} = {value}")
    assert info.value.option == option
    assert words in str(info.value)
    assert str(info.value).startswith("[volume_glance_plugin] ")


@pytest.mark.parametrize("option, value, words", INVALID)
def test_invalid_raw_value_fails_at_construction(config, option, value, words):
    config.load_raw_values(group=conf.GROUP, **{option: str(value)})
    with pytest.raises(exceptions.InvalidConfiguration) as info:
        VolumeGlanceProtectionPlugin(config.conf, client_factory=object())
    assert info.value.option == option
    assert words in str(info.value)


def test_settings_refuse_a_bad_object_size_directly():
    with pytest.raises(exceptions.InvalidConfiguration, match="multiple of 65536"):
        conf.Settings(backup_image_object_size=100000)


@pytest.mark.parametrize("option, value", [
    ("parallelism", 65), ("parallelism", True), ("volume_timeout", 0.0),
    ("compression", "lzma"), ("poll_interval", 0.0),
])
def test_settings_check_every_value_by_its_option(option, value):
    with pytest.raises(exceptions.InvalidConfiguration) as info:
        conf.Settings(**{option: value})
    assert info.value.option == option


def test_list_opts_names_every_option_in_its_group():
    groups = dict(conf.list_opts())
    opts = groups["volume_glance_plugin"]
    assert {opt.name for opt in opts} == {
        "poll_interval", "backup_from_snapshot", "backup_image_object_size",
        "snapshot_timeout", "volume_timeout", "image_timeout", "compression",
        "parallelism", "bank_retries", "download_retries", "download_streams",
        "progress_notification_chunks", "progress_notification_interval",
        "init_check_interval", "lease_seconds", "jobboard_claim_seconds",
        "jobboard_poll_interval",
        # issue 15: an encrypted bank's keys
        "encrypt", "key_file", "key_manager_secret_id", "passphrase_kdf",
    }
    assert all(opt.help for group in groups.values() for opt in group)


def test_registering_twice_is_harmless(config):
    conf.register_opts(config.conf)
    assert conf.load_settings(config.conf).poll_interval == 5.0


def test_oslo_config_generator_finds_the_options_by_entry_point():
    from stevedore import driver

    loaded = driver.DriverManager("oslo.config.opts", "karbor_volume_glance").driver
    assert loaded is conf.list_opts


def test_protect_compression_parameter_offers_the_option_choices():
    [opt] = [opt for opt in conf.volume_glance_opts if opt.dest == "compression"]
    enum = schemas.OPTIONS_SCHEMA["properties"]["compression"]["enum"]
    assert enum == list(opt.type.choices) == list(conf.COMPRESSIONS)


def _options_doc():
    spec = importlib.util.spec_from_file_location(
        "options_doc", ROOT / "tools" / "options_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_options_doc_is_generated_from_the_options():
    options_doc = _options_doc()
    page = options_doc.PAGE.read_text()
    assert page == options_doc.render(), (
        f"doc/options.rst differs from the options: run "
        f"`{options_doc.COMMAND}` and commit the result")
    for opt in conf.volume_glance_opts:
        assert f"``{opt.dest}``" in page


def test_sample_provider_file_shows_the_options_defaults():
    text = (ROOT / "etc" / "providers.d" / "volume-glance.conf").read_text()
    section = text.split("[volume_glance_plugin]\n", 1)[1].split("\n[", 1)[0]
    shown = re.findall(r"^#?(\w+) = (\S+)$", section, re.MULTILINE)
    opts = {opt.dest: opt for opt in conf.volume_glance_opts}
    assert len(shown) >= 5
    for name, value in shown:
        assert name in opts, f"{name} is not an option"
        assert opts[name].type(value) == opts[name].default, name
