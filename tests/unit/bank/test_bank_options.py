"""Bank options: declared once per backend, read by URL and provider file alike."""

import subprocess
import sys
import textwrap
import urllib.parse

import pytest
from oslo_config import cfg

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import file, karbor_plugins, options, s3, swift
from karbor_volume_glance.exceptions import BankError


def provider_config(tmp_path, text):
    path = tmp_path / "provider.conf"
    path.write_text(textwrap.dedent(text))
    config = cfg.ConfigOpts()
    config([f"--config-file={path}"], default_config_files=[])
    return config


@pytest.fixture
def captured(monkeypatch):
    """Every settings dict a backend is built from, instead of building it."""
    seen = []

    def capture(module, name):
        def from_options(cls, settings):
            seen.append(dict(settings))
            return object()
        monkeypatch.setattr(getattr(module, name), "from_options",
                            classmethod(from_options))

    capture(file, "FileBackend")
    capture(s3, "S3Backend")
    capture(swift, "SwiftBackend")
    return seen


CASES = {
    "file": (file.FileBackend, karbor_plugins.FileBankPlugin,
             "file:///srv/bank",
             "[volume_glance_file_bank]\npath = /srv/bank\n"),
    "s3": (s3.S3Backend, karbor_plugins.S3BankPlugin,
           "s3://my-bucket/karbor/site-a?endpoint=http://127.0.0.1:8333"
           "&region=eu-west-1&addressing_style=virtual&create_bucket=yes"
           "&multipart_threshold=10485760&part_size=5242880&page_size=100",
           """\
           [volume_glance_s3_bank]
           bucket = my-bucket
           prefix = karbor/site-a
           endpoint_url = http://127.0.0.1:8333
           region = eu-west-1
           addressing_style = virtual
           create_bucket = true
           multipart_threshold = 10485760
           part_size = 5242880
           page_size = 100
           """),
    "swift": (swift.SwiftBackend, karbor_plugins.SwiftBankPlugin,
              "swift://cont/a/b?auth_url=http://127.0.0.1:8080/auth/v1.0"
              "&user=test:tester&key_env=MY_KEY&segment_container=segs"
              "&large_object_threshold=8192&segment_size=4096"
              "&create_container=off&retries=2&timeout=7.5"
              "&consistent_listings=1",
              """\
              [volume_glance_swift_bank]
              container = cont
              prefix = a/b
              auth_url = http://127.0.0.1:8080/auth/v1.0
              user = test:tester
              key_env = MY_KEY
              segment_container = segs
              large_object_threshold = 8192
              segment_size = 4096
              create_container = false
              retries = 2
              timeout = 7.5
              consistent_listings = true
              """),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_url_and_provider_section_give_the_same_settings(name, captured, tmp_path):
    backend_class, plugin_class, url, section = CASES[name]
    backend_class.from_url(urllib.parse.urlsplit(url))
    plugin_class(provider_config(tmp_path, section))
    by_url, by_provider = captured
    if "prefix" in by_url:  # the URL's path, with its slashes
        by_url["prefix"] = by_url["prefix"].strip("/")
    assert by_url == by_provider


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_unset_option_takes_the_same_default_both_ways(name, captured, tmp_path):
    backend_class, plugin_class, url, section = CASES[name]
    short_url = url.split("?")[0]
    if name == "swift":
        short_url += "?cloud=site-a"
    lines = section.splitlines()
    short_section = "\n".join(lines[:3] if name != "file" else lines)
    if name == "swift":
        short_section = "[volume_glance_swift_bank]\ncontainer = cont\n" \
            "prefix = a/b\ncloud = site-a\n"
    backend_class.from_url(urllib.parse.urlsplit(short_url))
    plugin_class(provider_config(tmp_path, textwrap.dedent(short_section)))
    by_url, by_provider = captured
    if "prefix" in by_url:
        by_url["prefix"] = by_url["prefix"].strip("/")
    assert by_url == by_provider


def test_list_opts_has_every_bank_group_and_marks_secrets():
    groups = dict(options.list_opts())
    assert sorted(groups) == ["volume_glance_file_bank", "volume_glance_s3_bank",
                              "volume_glance_swift_bank"]
    secrets = {(group, opt.name) for group, opts in groups.items()
               for opt in opts if opt.secret}
    assert secrets == {("volume_glance_s3_bank", "secret_key"),
                       ("volume_glance_swift_bank", "key")}


def test_a_provider_value_that_does_not_parse_names_its_option(tmp_path):
    config = provider_config(tmp_path, "[volume_glance_s3_bank]\nbucket = b\n"
                             "part_size = big\n")
    with pytest.raises(exceptions.InvalidConfiguration) as caught:
        karbor_plugins.S3BankPlugin(config)
    assert caught.value.option == "part_size"


@pytest.mark.parametrize(("query", "message"), [
    ("flag=maybe", "must be true or false, not 'maybe'"),
    ("size=big", "must be a whole number, not 'big'"),
    ("size=1&size=2", "given twice"),
    ("password=hunter2", "must not carry credentials"),
    ("secret_thing=x", "must not carry credentials"),
    ("colour=red", "unknown Demo bank URL parameter 'colour'"),
    ("a=b=c&&", "does not parse"),
])
def test_one_query_parser_for_every_backend(query, message):
    opts = [cfg.BoolOpt("flag"), cfg.IntOpt("size"),
            cfg.StrOpt("secret_thing", secret=True)]
    with pytest.raises(BankError, match=message) as caught:
        options.from_query(query, opts, "Demo")
    assert "hunter2" not in str(caught.value)


def test_words_are_read_by_oslo_s_boolean_rules():
    opts = [cfg.BoolOpt("flag")]
    for word, value in (("yes", True), ("On", True), ("0", False), ("no", False)):
        assert options.from_query(f"flag={word}", opts, "Demo")[0] == {
            "flag": value}


def test_without_boto3_and_swiftclient_the_bank_and_file_bank_work(tmp_path):
    """The [s3] and [swift] extras are optional; a missing one says which."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["boto3"] = None
        sys.modules["botocore"] = None
        sys.modules["swiftclient"] = None
        from karbor_volume_glance.bank import open_bank, options
        from karbor_volume_glance.exceptions import BankError
        bank = open_bank("file://{tmp_path}/bank")
        bank.update_object("/k", "v")
        assert bank.get_object("/k") == "v"
        assert len(options.list_opts()) == 3
        for url in ("s3://bucket/p", "swift://c/p?cloud=x"):
            try:
                open_bank(url)
            except BankError as exc:
                print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    s3_error, swift_error = done.stdout.splitlines()
    assert "boto3" in s3_error
    assert "pip install 'karbor-volume-glance[s3]'" in s3_error
    assert "python-swiftclient" in swift_error
    assert "pip install 'karbor-volume-glance[swift]'" in swift_error
