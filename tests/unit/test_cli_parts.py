"""Pieces of the command line that need no cloud: options, tables, errors."""

import argparse
import json

import pytest

from karbor_volume_glance.cli import commands as cli
from karbor_volume_glance.cli import output


@pytest.mark.parametrize(
    "text, expected",
    [("compression=zstd", ("compression", "zstd")),
     ("incremental=true", ("incremental", True)),
     ("count=3", ("count", 3)),
     ("name=a=b", ("name", "a=b")),
     ('tags=["a"]', ("tags", ["a"]))],
)
def test_options_read_json_values_when_they_are_json(text, expected):
    assert cli._option(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=x"])
def test_malformed_options_are_usage_errors(text):
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        cli._option(text)


def test_table_lines_up_columns_and_shows_nested_values_as_json():
    text = output.table([{"id": "a", "n": 1}, {"id": "bbb", "extra": {"k": 2}}])
    lines = text.splitlines()
    assert lines[1] == "| id  | n | extra    |"
    assert lines[3] == "| a   | 1 |          |"
    assert lines[4] == '| bbb |   | {"k": 2} |'
    assert len({len(line) for line in lines}) == 1


def test_emit_json_is_parseable(capsys):
    output.emit({"checkpoint_id": "c", "volumes": {"a": "b"}}, "json")
    assert json.loads(capsys.readouterr().out) == {"checkpoint_id": "c",
                                                  "volumes": {"a": "b"}}


def test_empty_listing_says_so():
    assert output.table([]) == "(none)"


def test_without_a_bank_the_command_fails_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv("KARBOR_VOLUME_GLANCE_BANK", raising=False)
    assert cli.main(["list"]) == cli.FAILED
    err = capsys.readouterr().err
    assert err.strip() == ("karbor-volume-glance: no bank: give --bank URL or set "
                           "KARBOR_VOLUME_GLANCE_BANK")


def test_an_unknown_cloud_fails_in_one_line(capsys, tmp_path, monkeypatch):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    status = cli.main(["--bank", f"file://{tmp_path}/bank", "--os-cloud", "nope",
                       "list"])
    assert status == cli.FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Cloud nope was not found" in err[0]
