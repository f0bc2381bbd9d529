"""The bank contract, checked through Bank and BankSection on every backend."""

import random
import threading

import pytest

from karbor_volume_glance.bank import Bank, BankSection
from karbor_volume_glance.bank.file import FileBackend
from karbor_volume_glance.bank.memory import MemoryBackend
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    BankObjectTooLarge,
    BankReadOnly,
    InvalidBankKey,
)

MiB = 1024 * 1024


@pytest.fixture(params=["memory", "file"])
def backend(request, tmp_path):
    if request.param == "memory":
        return MemoryBackend()
    return FileBackend(tmp_path / "bank")


@pytest.fixture
def bank(backend):
    return Bank(backend)


# --- values -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"",
        bytes(range(256)),
        random.Random(7).randbytes(MiB),
        "",
        "available",
        "ünïcødé \U0001f600\n",
        {"status": "available", "sizes": [1, 2.5], "nested": {"none": None}},
        [],
        [1, "two", None, True, {"x": []}],
        0,
        -7,
        1.25,
        True,
        None,
    ],
    ids=lambda value: f"{type(value).__name__}-{len(str(value))}",
)
def test_round_trip_keeps_value_and_type(bank, value):
    bank.update_object("/obj", value)
    read = bank.get_object("/obj")
    assert read == value
    assert type(read) is type(value)


def test_bytes_and_str_stay_distinct(bank):
    bank.update_object("/as-bytes", b"available")
    bank.update_object("/as-str", "available")
    assert bank.get_object("/as-bytes") == b"available"
    assert bank.get_object("/as-str") == "available"


@pytest.mark.parametrize("value", [bytearray(b"\x00\x01"), memoryview(b"\x00\x01")])
def test_bytes_like_values_come_back_as_bytes(bank, value):
    bank.update_object("/obj", value)
    read = bank.get_object("/obj")
    assert type(read) is bytes
    assert read == b"\x00\x01"


def test_the_bank_keeps_a_copy_of_what_was_written(bank):
    written = {"list": [1]}
    bank.update_object("/obj", written)
    written["list"].append(2)
    read = bank.get_object("/obj")
    read["list"].append(3)
    assert bank.get_object("/obj") == {"list": [1]}


def test_overwrite_replaces_value_and_kind(bank):
    bank.update_object("/obj", b"old bytes")
    bank.update_object("/obj", {"new": True})
    assert bank.get_object("/obj") == {"new": True}
    bank.update_object("/obj", "text")
    assert bank.get_object("/obj") == "text"
    assert bank.list_objects() == ["/obj"]


def test_an_unstorable_value_is_refused_and_the_old_one_kept(bank):
    bank.update_object("/obj", "old")
    with pytest.raises(BankError, match="type set"):
        bank.update_object("/obj", {1, 2})
    assert bank.get_object("/obj") == "old"


def test_missing_objects(bank):
    with pytest.raises(BankObjectNotFound) as caught:
        bank.get_object("/nope")
    assert caught.value.key == "/nope"
    with pytest.raises(BankObjectNotFound) as caught:
        bank.delete_object("nope/deeper")
    assert caught.value.key == "/nope/deeper"


def test_a_bounded_read_refuses_an_object_past_its_bound(bank):
    """Issue 14: a reader that knows an object's size reads no more of it."""
    payload = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes
    bank.update_object("/big", payload)
    bank.update_object("/text", "é" * 10)  # 20 bytes of UTF-8
    section = bank.get_sub_section("/")
    assert bank.get_object("/big", max_size=len(payload)) == payload
    assert section.get_object("big", max_size=len(payload) + 1) == payload
    assert bank.get_object("/text", max_size=20) == "é" * 10
    for reader, key, bound in ((bank, "/big", len(payload) - 1),
                               (section, "big", 1), (bank, "/text", 19)):
        with pytest.raises(BankObjectTooLarge) as caught:
            reader.get_object(key, max_size=bound)
        assert caught.value.key == "/" + key.lstrip("/")
        assert caught.value.max_size == bound
        assert f"more than the {bound} expected" in str(caught.value)
    with pytest.raises(BankObjectNotFound):
        bank.get_object("/nope", max_size=10)


def test_delete(bank):
    bank.update_object("/a", 1)
    bank.update_object("/b", 2)
    bank.delete_object("/a")
    with pytest.raises(BankObjectNotFound):
        bank.get_object("/a")
    assert bank.list_objects() == ["/b"]
    with pytest.raises(BankObjectNotFound):
        bank.delete_object("/a")


def test_keys_are_normalised(bank):
    bank.update_object("a//b", "v")
    assert bank.get_object("/a/b") == "v"
    assert bank.get_object("//a///b") == "v"
    assert bank.list_objects() == ["/a/b"]
    bank.delete_object("a/b")
    assert bank.list_objects() == []


def test_an_object_and_objects_under_its_name_coexist(bank):
    bank.update_object("/a/b", "parent")
    bank.update_object("/a/b/c", "child")
    bank.update_object("/a/b/c/d", "grandchild")
    assert bank.get_object("/a/b") == "parent"
    assert bank.get_object("/a/b/c") == "child"
    assert bank.list_objects() == ["/a/b", "/a/b/c", "/a/b/c/d"]
    bank.delete_object("/a/b/c")
    assert bank.list_objects() == ["/a/b", "/a/b/c/d"]
    bank.delete_object("/a/b")
    assert bank.get_object("/a/b/c/d") == "grandchild"


# --- keys ---------------------------------------------------------------

INVALID_KEYS = [
    "",
    "/",
    "/a/",
    "/..",
    "/a/../b",
    "../x",
    "/a/./b",
    ".",
    "/a b",
    "/a~obj",
    "/a%2e",
    None,
    42,
    b"/a",
]


@pytest.mark.parametrize("key", INVALID_KEYS, ids=repr)
def test_invalid_keys_are_refused_everywhere(bank, key):
    for call in (
        lambda: bank.update_object(key, "v"),
        lambda: bank.get_object(key),
        lambda: bank.delete_object(key),
    ):
        with pytest.raises(InvalidBankKey) as caught:
            call()
        assert caught.value.key == key
    assert bank.list_objects() == []


@pytest.mark.parametrize("prefix", ["/..", "/a/../..", "/a b", 3])
def test_invalid_listing_prefixes_and_markers_are_refused(bank, prefix):
    with pytest.raises(InvalidBankKey):
        bank.list_objects(prefix=prefix)
    with pytest.raises(InvalidBankKey):
        bank.list_objects(marker=prefix)


# --- listing ------------------------------------------------------------

LISTED = ["/a/b", "/a/b/c", "/a/b-x", "/a/bc", "/a/c", "/b", "/b/a"]


@pytest.fixture
def listed_bank(bank):
    for key in random.Random(3).sample(LISTED, len(LISTED)):
        bank.update_object(key, key)
    return bank


def test_list_everything_sorted(listed_bank):
    assert listed_bank.list_objects() == sorted(LISTED)
    assert listed_bank.list_objects(prefix="") == sorted(LISTED)
    assert listed_bank.list_objects(prefix="/") == sorted(LISTED)
    assert listed_bank.list_objects(sort_dir="asc") == sorted(LISTED)
    assert listed_bank.list_objects(sort_dir="desc") == sorted(LISTED, reverse=True)


def test_list_prefix_is_a_plain_string_prefix(listed_bank):
    assert listed_bank.list_objects(prefix="/a/b") == [
        "/a/b",
        "/a/b-x",
        "/a/b/c",
        "/a/bc",
    ]
    assert listed_bank.list_objects(prefix="/a/b/") == ["/a/b/c"]
    assert listed_bank.list_objects(prefix="a//b/") == ["/a/b/c"]
    assert listed_bank.list_objects(prefix="/b") == ["/b", "/b/a"]
    assert listed_bank.list_objects(prefix="/zzz") == []
    assert listed_bank.list_objects(prefix="/zzz/deep/") == []


def test_list_marker_and_limit(listed_bank):
    ordered = sorted(LISTED)
    assert listed_bank.list_objects(marker="/a/bc") == ordered[4:]
    assert listed_bank.list_objects(marker="/a/bb") == ordered[3:]
    assert listed_bank.list_objects(marker="/a/bc", sort_dir="desc") == list(
        reversed(ordered[:3])
    )
    assert listed_bank.list_objects(limit=2) == ordered[:2]
    assert listed_bank.list_objects(limit=0) == []
    assert listed_bank.list_objects(limit=100) == ordered
    assert listed_bank.list_objects(prefix="/a/", marker="/a/b/c", limit=2) == [
        "/a/bc",
        "/a/c",
    ]
    assert listed_bank.list_objects(marker="/z") == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sort_dir": "up"}, "sort_dir"),
        ({"limit": -1}, "limit"),
        ({"limit": "3"}, "limit"),
        ({"limit": True}, "limit"),
    ],
)
def test_list_refuses_bad_arguments(listed_bank, arguments, message):
    with pytest.raises(BankError, match=message):
        listed_bank.list_objects(**arguments)


@pytest.mark.parametrize("sort_dir", [None, "asc", "desc"])
@pytest.mark.parametrize("page_size", [1, 3, 7])
def test_pagination_returns_every_key_exactly_once(bank, sort_dir, page_size):
    all_keys = [f"/p/{i % 4}/{i:03d}" for i in range(23)] + ["/p", "/p/0"]
    for key in all_keys:
        bank.update_object(key, b"x")
    bank.update_object("/q/outside", b"x")
    pages, marker = [], None
    while True:
        page = bank.list_objects(
            prefix="/p", limit=page_size, marker=marker, sort_dir=sort_dir
        )
        if not page:
            break
        assert len(page) <= page_size
        pages.extend(page)
        marker = page[-1]
    assert pages == sorted(all_keys, reverse=sort_dir == "desc")


# --- sections -------------------------------------------------------------


def test_section_keys_are_relative(bank):
    section = bank.get_sub_section("/s")
    assert isinstance(section, BankSection)
    assert section.prefix == "/s/"
    assert section.bank is bank
    section.update_object("x", "v1")
    section.update_object("/y/z", "v2")
    assert bank.get_object("/s/x") == "v1"
    assert bank.get_object("/s/y/z") == "v2"
    assert section.get_object("/x") == "v1"
    assert section.get_object("y//z") == "v2"
    section.delete_object("x")
    assert bank.list_objects() == ["/s/y/z"]


def test_section_lists_only_its_own_keys_relatively(bank):
    for key in ["/s/a", "/s/b/c", "/s/b/d", "/sx/a", "/s2/a", "/a"]:
        bank.update_object(key, key)
    section = bank.get_sub_section("s")
    assert section.list_objects() == ["a", "b/c", "b/d"]
    assert section.list_objects(prefix="b/") == ["b/c", "b/d"]
    assert section.list_objects(prefix="/b") == ["b/c", "b/d"]
    assert section.list_objects(marker="b/c") == ["b/d"]
    assert section.list_objects(sort_dir="desc", limit=2) == ["b/d", "b/c"]
    assert section.list_objects(prefix="zz") == []


def test_section_pagination_uses_relative_markers(bank):
    section = bank.get_sub_section("/s/")
    names = [f"k{i:02d}" for i in range(10)]
    for name in names:
        section.update_object(name, name)
    bank.update_object("/t/k99", "outside")
    pages, marker = [], None
    while page := section.list_objects(limit=3, marker=marker):
        pages.extend(page)
        marker = page[-1]
    assert pages == names


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "a/../x", "..", "./x", "/../s2/x", "x/", ""]
)
def test_section_keys_cannot_escape(bank, key):
    bank.update_object("/x", "outside")
    bank.update_object("/s2/x", "outside")
    section = bank.get_sub_section("/s/")
    with pytest.raises(InvalidBankKey):
        section.update_object(key, "intruder")
    with pytest.raises(InvalidBankKey):
        section.get_object(key)
    with pytest.raises(InvalidBankKey):
        section.delete_object(key)
    if ".." in key:
        with pytest.raises(InvalidBankKey):
            section.list_objects(prefix=key)
        with pytest.raises(InvalidBankKey):
            section.list_objects(marker=key)
    assert bank.get_object("/x") == "outside"
    assert bank.get_object("/s2/x") == "outside"
    assert bank.list_objects() == ["/s2/x", "/x"]


@pytest.mark.parametrize("section", ["", "..", "/a/../b", "a b", None])
def test_invalid_section_names_are_refused(bank, section):
    with pytest.raises(InvalidBankKey):
        bank.get_sub_section(section)


def test_sub_sections_nest(bank):
    outer = bank.get_sub_section("/plans/p1")
    inner = outer.get_sub_section("resources//vol-1/")
    assert inner.prefix == "/plans/p1/resources/vol-1/"
    inner.update_object("metadata", {"size": 1})
    assert bank.get_object("/plans/p1/resources/vol-1/metadata") == {"size": 1}
    assert outer.list_objects() == ["resources/vol-1/metadata"]
    with pytest.raises(InvalidBankKey):
        outer.get_sub_section("../p2")


def test_the_root_section_is_the_whole_bank(bank):
    root = bank.get_sub_section("/")
    root.update_object("a/b", 1)
    assert root.prefix == "/"
    assert root.list_objects() == ["a/b"]
    assert bank.get_object("/a/b") == 1


def test_read_only_section_refuses_writes_but_reads(bank):
    bank.update_object("/s/x", "v")
    section = bank.get_sub_section("/s", is_writable=False)
    assert section.is_writable is False
    with pytest.raises(BankReadOnly) as caught:
        section.update_object("y", "w")
    assert caught.value.key == "y"
    with pytest.raises(BankReadOnly) as caught:
        section.delete_object("x")
    assert caught.value.key == "x"
    assert section.get_object("x") == "v"
    assert section.list_objects() == ["x"]
    assert bank.list_objects() == ["/s/x"]


def test_sub_section_writability(bank):
    writable = bank.get_sub_section("/s")
    assert bank.is_writable is True
    assert writable.is_writable is True
    assert writable.get_sub_section("a").is_writable is True
    assert writable.get_sub_section("a", is_writable=False).is_writable is False

    read_only = writable.get_sub_section("r", is_writable=False)
    inherited = read_only.get_sub_section("deeper")
    assert inherited.is_writable is False
    with pytest.raises(BankReadOnly):
        inherited.update_object("k", "v")
    assert read_only.get_sub_section("d", is_writable=False).is_writable is False
    with pytest.raises(BankReadOnly) as caught:
        read_only.get_sub_section("d", is_writable=True)
    assert caught.value.key == "/s/r/d/"


# --- owner id and threads -------------------------------------------------


def test_owner_id_is_a_stable_string(bank):
    owner_id = bank.get_owner_id()
    assert isinstance(owner_id, str)
    assert owner_id
    bank.update_object("/x", 1)
    assert bank.get_owner_id() == owner_id
    assert bank.get_sub_section("/s").get_owner_id() == owner_id
    assert bank.backend.get_owner_id() == owner_id


def test_different_banks_have_different_owner_ids(tmp_path):
    ids = {
        MemoryBackend().get_owner_id(),
        MemoryBackend().get_owner_id(),
        FileBackend(tmp_path / "one").get_owner_id(),
        FileBackend(tmp_path / "two").get_owner_id(),
    }
    assert len(ids) == 4


def test_concurrent_writers_readers_and_deleters(bank):
    """Readers see whole values only, and every surviving write is intact."""
    values = [bytes([n]) * 50_000 for n in range(4)]
    bank.update_object("/shared", values[0])
    failures = []

    def write(worker):
        try:
            for i in range(20):
                bank.update_object("/shared", values[(worker + i) % len(values)])
                bank.update_object(f"/w{worker}/k{i}", {"worker": worker, "i": i})
                if i % 2:
                    bank.delete_object(f"/w{worker}/k{i}")
        except Exception as exc:  # a thread's error would only be a warning
            failures.append(f"writer {worker}: {exc!r}")

    def read():
        try:
            for _ in range(40):
                if bank.get_object("/shared") not in values:
                    failures.append("partial or mixed value read")
        except Exception as exc:
            failures.append(f"reader: {exc!r}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    expected = sorted(f"/w{w}/k{i}" for w in range(4) for i in range(0, 20, 2))
    assert bank.list_objects(prefix="/w") == expected
    assert all(
        bank.get_object(key) == {"worker": int(key[2]), "i": int(key.split("k")[1])}
        for key in expected
    )
