"""Our S3 and Swift banks as Karbor bank plugins, configured by a provider
file's sections, against the real servers the bank tests use."""

import os
import uuid

from oslo_config import cfg

from karbor_volume_glance.bank import karbor_plugins
from karbor_volume_glance.testing.objstores import ACCESS_KEY, REGION, SECRET_KEY
from karbor_volume_glance.testing.objstores import SWIFT_KEY as KEY
from karbor_volume_glance.testing.objstores import SWIFT_USER as USER


def provider_config(tmp_path, text):
    path = tmp_path / "provider.conf"
    path.write_text(text)
    config = cfg.ConfigOpts()
    config([f"--config-file={path}"], default_config_files=[])
    return config


def round_trip(plugin):
    chunk = os.urandom(300_000)
    plugin.update_object("/checkpoints/c/resource-data/v/data_1", chunk)
    plugin.update_object("/checkpoints/c/index.json", {"status": "available"})
    assert plugin.get_object("/checkpoints/c/resource-data/v/data_1") == chunk
    assert plugin.list_objects("//") == ["/checkpoints/c/index.json",
                                         "/checkpoints/c/resource-data/v/data_1"]
    plugin.delete_object("/checkpoints/c/index.json")
    assert plugin.list_objects("/checkpoints/") == [
        "/checkpoints/c/resource-data/v/data_1"]
    assert plugin.get_owner_id()


def test_the_s3_bank_plugin_from_a_provider_file(tmp_path, s3_bucket,  # noqa: F811
                                                 monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = provider_config(tmp_path, (
        "[volume_glance_s3_bank]\n"
        f"bucket = {s3_bucket.bucket}\n"
        f"prefix = {s3_bucket.prefix}\n"
        f"endpoint_url = {s3_bucket.server.endpoint_url}\n"
        f"region = {REGION}\n"
        f"access_key = {ACCESS_KEY}\n"
        f"secret_key = {SECRET_KEY}\n"))
    plugin = karbor_plugins.S3BankPlugin(config)
    round_trip(plugin)
    kind, location = plugin.describe()
    assert kind == "s3" and SECRET_KEY not in (location or "")


def test_the_swift_bank_plugin_from_a_provider_file(tmp_path, swift_server):
    config = provider_config(tmp_path, (
        "[volume_glance_swift_bank]\n"
        f"container = kvg-{uuid.uuid4().hex[:12]}\n"
        "prefix = bank/\n"
        f"auth_url = {swift_server.auth_url}\n"
        f"user = {USER}\n"
        f"key = {KEY}\n"))
    plugin = karbor_plugins.SwiftBankPlugin(config)
    round_trip(plugin)
    kind, location = plugin.describe()
    assert kind == "swift" and KEY not in (location or "")
