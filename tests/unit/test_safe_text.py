"""Untrusted text is shown escaped: tables, JSON, lines and logs (issue 14, 6)."""

import json
import logging
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.cli import commands as cli
from karbor_volume_glance.cli import output, results
from karbor_volume_glance.safetext import UNSAFE_CATEGORIES, escape, escape_data
from karbor_volume_glance.standalone.runner import Outcome, Result
from tests.unit.test_cli_parts import fake_sites, run_json  # noqa: F401

#: A clear screen, an OSC 8 hyperlink hiding its target, a bidi override
#: (shows "nightly-exe.txt" as "nightly-txt.exe") and a forged line.
CLEAR = "\x1b[2J"
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
BIDI = "nightly-\u202etxt.exe"
HOSTILE = f"{CLEAR}{LINK}{BIDI}\nkarbor-volume-glance: all good"
RAW = ("\x1b", "\u202e", "\x07")


def unsafe(text):
    """The characters of printed ``text`` a terminal could act upon (the
    printer's own line breaks aside)."""
    return [char for char in text.replace("\n", "")
            if unicodedata.category(char) in UNSAFE_CATEGORIES]


def test_escape_writes_each_unsafe_character_as_python_would():
    assert escape(CLEAR) == "\\x1b[2J"
    assert escape(BIDI) == "nightly-\\u202etxt.exe"
    assert escape(LINK) == ("\\x1b]8;;https://evil.example/\\x1b\\click"
                            "\\x1b]8;;\\x1b\\")
    assert escape("a\tb\nc\x7f\x9b\u2028\U000e0001") == (
        "a\\x09b\\x0ac\\x7f\\x9b\\u2028\\U000e0001")


@pytest.mark.parametrize("text", ["nightly", "Sauvegarde d'été", "备份 🚀",
                                  "a b\\c", ""])
def test_plain_text_is_kept_as_it_is(text):
    assert escape(text) == text


@given(st.text())
def test_escaped_text_holds_no_unsafe_character_and_escapes_once(text):
    escaped = escape(text)
    assert unsafe(escaped) == [] and "\n" not in escaped
    assert escape(escaped) == escaped


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10)


@given(st.lists(st.dictionaries(st.text(), JSONISH, max_size=4), max_size=3),
       st.sampled_from(["table", "json"]))
def test_whatever_the_data_the_printed_output_is_safe(rows, fmt):
    import io

    out = io.StringIO()
    output.emit(rows, fmt, out)
    printed = out.getvalue()
    assert unsafe(printed) == []
    if fmt == "json":  # valid JSON of the escaped form
        assert json.loads(printed) == escape_data(rows)


def test_a_line_and_a_failure_row_are_escaped(capsys):
    output.say(HOSTILE)
    data = results.document(Result("c1", [Outcome("v1", False, HOSTILE)]))
    results.print_failures(data)
    out, err = capsys.readouterr()
    assert out == escape(HOSTILE) + "\n"
    assert err == f"karbor-volume-glance: volume v1: {escape(HOSTILE)}\n"
    assert not any(char in out + err for char in RAW)


def test_an_error_message_is_escaped(capsys, monkeypatch):
    def refuse(args):
        raise exceptions.CheckpointNotFound(HOSTILE)

    monkeypatch.setattr(cli, "_runner", refuse)
    assert cli.main(["show", "x", "--bank", "file:///b"]) == cli.FAILED
    err = capsys.readouterr().err
    assert err == (f"karbor-volume-glance: checkpoint {escape(HOSTILE)} could "
                   "not be found\n")


def test_log_lines_are_escaped():
    record = logging.LogRecord("kvg", logging.WARNING, __file__, 1,
                               "backup %s: %s", (HOSTILE, 3), None)
    assert output.EscapingFilter().filter(record)
    assert record.getMessage() == f"backup {escape(HOSTILE)}: 3"


def test_the_command_line_logs_through_the_filter():
    cli._setup_logging(False)
    handlers = logging.getLogger().handlers
    assert handlers and all(
        any(isinstance(f, output.EscapingFilter) for f in handler.filters)
        for handler in handlers)


def test_a_hostile_backup_name_is_shown_escaped_everywhere(capsys, fake_sites):  # noqa: F811
    """Another user's backup, named and described to take a terminal over,
    shown by ``show`` and ``list``, as tables and as JSON."""
    clouds, common = fake_sites
    site = [*common, "--os-cloud", "site-a"]
    volume = clouds["site-a"].add_volume(data=b"v" * 1000)
    protected, _ = run_json(capsys, [*site, "protect", volume, "--name", HOSTILE,
                                     "--description", HOSTILE])
    checkpoint = protected["checkpoint_id"]

    shown, _ = run_json(capsys, [*site, "show", checkpoint])
    info = shown["volumes"][volume]
    assert info["backup_name"] == escape(HOSTILE)  # JSON of the escaped form
    for argv in (["show", checkpoint], ["list"]):
        for fmt in ("table", "json"):
            assert cli.main([*site, *argv, "--format", fmt]) == 0
            out, err = capsys.readouterr()
            assert not any(char in out + err for char in RAW), (argv, fmt)
            assert unsafe(out) == []
            if argv == ["show", checkpoint]:
                assert escape(HOSTILE) in (out if fmt == "table"
                                           else json.loads(out)["volumes"][volume]
                                           ["backup_name"])
