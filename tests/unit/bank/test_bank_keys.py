"""The key rules of karbor_volume_glance.bank.keys."""

import pytest

from karbor_volume_glance.bank import keys
from karbor_volume_glance.exceptions import InvalidBankKey


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a", "/a"),
        ("/a", "/a"),
        ("a/b", "/a/b"),
        ("/a//b", "/a/b"),
        ("//a///b/c", "/a/b/c"),
        ("/A-z_0.9@x", "/A-z_0.9@x"),
        ("/a/.hidden", "/a/.hidden"),
        ("/a/..b/c...", "/a/..b/c..."),
    ],
)
def test_normalize_key(key, expected):
    assert keys.normalize_key(key) == expected


@pytest.mark.parametrize(
    ("key", "reason_part"),
    [
        ("", "empty"),
        ("/", "name something"),
        ("///", "name something"),
        ("/a/", "end with '/'"),
        ("a/b/", "end with '/'"),
        ("..", "'..'"),
        ("/..", "'..'"),
        ("/a/../b", "'..'"),
        ("/a/b/..", "'..'"),
        (".", "'.'"),
        ("/a/./b", "'.'"),
        ("/a/.", "'.'"),
        ("/a b", "' '"),
        ("/a~obj", "'~'"),
        ("/a\\b", "'\\\\'"),
        ("/ä", "'ä'"),
        ("/a\nb", "'\\n'"),
        ("/a\n", "'\\n'"),
        ("/a?b*c", "'*', '?'"),
    ],
)
def test_normalize_key_rejects(key, reason_part):
    with pytest.raises(InvalidBankKey) as caught:
        keys.normalize_key(key)
    assert caught.value.key == key
    assert reason_part in caught.value.reason


@pytest.mark.parametrize("key", [None, 1, b"/a", ["/a"], object()])
def test_non_str_keys_are_rejected(key):
    with pytest.raises(InvalidBankKey) as caught:
        keys.normalize_key(key)
    assert caught.value.key is key
    assert "must be a str" in caught.value.reason


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("/", "/"),
        ("//", "/"),
        ("a", "/a/"),
        ("/a", "/a/"),
        ("a/", "/a/"),
        ("/a//b/", "/a/b/"),
    ],
)
def test_normalize_section(section, expected):
    assert keys.normalize_section(section) == expected


@pytest.mark.parametrize("section", ["", "..", "/a/../b", "/./a", "a b", None, 3])
def test_normalize_section_rejects(section):
    with pytest.raises(InvalidBankKey):
        keys.normalize_section(section)


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (None, "/"),
        ("", "/"),
        ("/", "/"),
        ("a", "/a"),
        ("/a/b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("a//b//", "/a/b/"),
    ],
)
def test_normalize_prefix_keeps_a_trailing_slash(prefix, expected):
    assert keys.normalize_prefix(prefix) == expected


@pytest.mark.parametrize("prefix", ["/..", "/a/../", "/a/./b", "/a b", 5])
def test_normalize_prefix_rejects(prefix):
    with pytest.raises(InvalidBankKey):
        keys.normalize_prefix(prefix)


def test_normalize_marker():
    assert keys.normalize_marker(None) is None
    assert keys.normalize_marker("") is None
    assert keys.normalize_marker("a//b") == "/a/b"
    with pytest.raises(InvalidBankKey):
        keys.normalize_marker("/a/../b")


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("x", "/s/x"),
        ("/x", "/s/x"),
        ("x//y", "/s/x/y"),
        ("//x/y", "/s/x/y"),
    ],
)
def test_join_key_stays_in_the_section(relative, expected):
    assert keys.join_key("/s/", relative) == expected


@pytest.mark.parametrize(
    "relative",
    ["../x", "a/../../x", "a/../x", "..", "/..", "./x", "x/.", "", "/", "x/", None],
)
def test_join_key_rejects_escapes_and_bad_keys(relative):
    with pytest.raises(InvalidBankKey) as caught:
        keys.join_key("/s/", relative)
    assert caught.value.key == relative


def test_join_key_in_the_root_section():
    assert keys.join_key("/", "a/b") == "/a/b"


def test_join_section_prefix_and_marker():
    assert keys.join_section("/s/", "sub") == "/s/sub/"
    assert keys.join_section("/s/", "/sub//deeper/") == "/s/sub/deeper/"
    assert keys.join_prefix("/s/", None) == "/s/"
    assert keys.join_prefix("/s/", "/") == "/s/"
    assert keys.join_prefix("/s/", "a/b") == "/s/a/b"
    assert keys.join_prefix("/s/", "/a/b/") == "/s/a/b/"
    assert keys.join_marker("/s/", None) is None
    assert keys.join_marker("/s/", "") is None
    assert keys.join_marker("/s/", "a/b") == "/s/a/b"


@pytest.mark.parametrize("relative", ["..", "a/../..", "../other"])
def test_join_section_prefix_and_marker_refuse_escapes(relative):
    for join in (keys.join_section, keys.join_prefix, keys.join_marker):
        with pytest.raises(InvalidBankKey):
            join("/s/", relative)


@pytest.mark.parametrize(
    ("part", "valid"),
    [
        ("a", True),
        ("a.b", True),
        ("", False),
        (".", False),
        ("..", False),
        ("a/b", False),
        ("a~obj", False),
        ("a\n", False),
    ],
)
def test_is_valid_part(part, valid):
    assert keys.is_valid_part(part) is valid
