"""The plugin's options: defaults, validation at construction, list_opts."""

import pytest
from oslo_config import cfg

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.plugin import VolumeGlanceProtectionPlugin
from karbor_volume_glance.testing import FakeCloud


def make_conf(**values):
    config = cfg.ConfigOpts()
    config([], default_config_files=[])
    conf.register_opts(config)
    for name, value in values.items():
        config.set_override(name, value, group=conf.GROUP)
    return config


def plugin_with(**values):
    return VolumeGlanceProtectionPlugin(
        make_conf(**values), client_factory=FakeCloud().client_factory()
    )


def test_defaults_when_config_is_none():
    settings = conf.load_settings(None)
    assert settings.backup_image_object_size == 32 * 1024 * 1024
    assert settings.backup_from_snapshot is True
    assert settings.poll_interval == 5.0


def test_values_come_from_the_karbor_config():
    plugin = plugin_with(poll_interval=0.5, backup_image_object_size=65536 * 3,
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


@pytest.mark.parametrize(
    "option, value, words",
    [
        ("backup_image_object_size", 65536 * 3 + 1, "multiple of 65536"),
        ("backup_image_object_size", 1000, "backup_image_object_size"),
        ("backup_image_object_size", "lots", "backup_image_object_size"),
        ("poll_interval", 0, "poll_interval"),
        ("snapshot_timeout", -1, "snapshot_timeout"),
        ("backup_from_snapshot", "perhaps", "backup_from_snapshot"),
        ("compression", "lzma", "compression"),
        ("parallelism", 0, "parallelism"),
        ("bank_retries", -1, "bank_retries"),
    ],
)
def test_invalid_value_in_the_provider_file_fails_at_construction(
    tmp_path, option, value, words
):
    with pytest.raises(exceptions.InvalidConfiguration) as info:
        plugin_from_file(tmp_path, f"{option} = {value}")
    assert info.value.option == option
    assert words in str(info.value)
    assert str(info.value).startswith("[volume_glance_plugin] ")


def test_settings_refuse_a_bad_object_size_directly():
    with pytest.raises(exceptions.InvalidConfiguration, match="multiple of 65536"):
        conf.Settings(backup_image_object_size=100000)


def test_list_opts_names_every_option_in_its_group():
    [(group, opts)] = conf.list_opts()
    assert group == "volume_glance_plugin"
    assert {opt.name for opt in opts} == {
        "poll_interval", "backup_from_snapshot", "backup_image_object_size",
        "snapshot_timeout", "volume_timeout", "image_timeout", "compression",
        "parallelism", "bank_retries", "download_retries",
        "progress_notification_chunks", "progress_notification_interval",
        "init_check_interval",
    }
    assert all(opt.help for opt in opts)


def test_registering_twice_is_harmless():
    config = make_conf()
    conf.register_opts(config)
    assert conf.load_settings(config).poll_interval == 5.0


def test_oslo_config_generator_finds_the_options_by_entry_point():
    from stevedore import driver

    loaded = driver.DriverManager("oslo.config.opts", "karbor_volume_glance").driver
    assert loaded is conf.list_opts
