"""How karbor_volume_glance.bank.codec turns values into bytes and back."""

import math

import pytest

from karbor_volume_glance.bank import codec
from karbor_volume_glance.exceptions import BankError


@pytest.mark.parametrize(
    ("value", "kind", "payload"),
    [
        (b"\x00\xff", "bytes", b"\x00\xff"),
        (bytearray(b"ab"), "bytes", b"ab"),
        (memoryview(b"xyz"), "bytes", b"xyz"),
        ("", "str", b""),
        ("héllo", "str", "héllo".encode()),
        ({"a": 1}, "json", b'{"a": 1}'),
        ([1, "x"], "json", b'[1, "x"]'),
        (None, "json", b"null"),
        (True, "json", b"true"),
        (3, "json", b"3"),
        (2.5, "json", b"2.5"),
    ],
)
def test_encode(value, kind, payload):
    assert codec.encode(value) == (kind, payload)


@pytest.mark.parametrize(
    "value",
    [b"", bytes(range(256)), "", "status", "ünï\U0001f600", {"k": [1, None]}, [], 0],
)
def test_round_trip_keeps_value_and_type(value):
    decoded = codec.decode(*codec.encode(value))
    assert decoded == value
    assert type(decoded) is type(value)


def test_bytes_like_values_come_back_as_bytes():
    for value in (bytearray(b"ab"), memoryview(b"ab")):
        decoded = codec.decode(*codec.encode(value))
        assert type(decoded) is bytes
        assert decoded == b"ab"


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(object(), "object"), ({1, 2}, "set"), ({"a": {1}}, "dict"), (math.nan, "float")],
)
def test_unstorable_values_are_refused_naming_the_type(value, type_name):
    with pytest.raises(BankError) as caught:
        codec.encode(value)
    assert f"type {type_name}" in str(caught.value)


def test_a_str_that_is_not_unicode_is_refused():
    with pytest.raises(BankError, match="not valid Unicode"):
        codec.encode("\ud800")


def test_decode_refuses_an_unknown_kind_naming_the_key():
    with pytest.raises(BankError) as caught:
        codec.decode("pickle", b"...", key="/a")
    assert caught.value.key == "/a"
    assert "'pickle'" in str(caught.value)
    assert "'/a'" in str(caught.value)


@pytest.mark.parametrize(("kind", "payload"), [("str", b"\xff"), ("json", b"{nope")])
def test_decode_refuses_a_payload_that_does_not_decode(kind, payload):
    with pytest.raises(BankError) as caught:
        codec.decode(kind, payload, key="/k")
    assert caught.value.key == "/k"
    assert "does not decode" in str(caught.value)
