"""What only the file backend promises: layout, atomicity, damage, pruning."""

import json
import os
import threading
import urllib.parse

import pytest

from karbor_volume_glance.bank import Bank
from karbor_volume_glance.bank import file as file_module
from karbor_volume_glance.bank.file import FileBackend
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    InvalidBankKey,
)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "bank"


@pytest.fixture
def backend(root):
    return FileBackend(root)


def all_files(directory):
    return sorted(
        os.path.relpath(os.path.join(parent, name), directory)
        for parent, _, names in os.walk(directory)
        for name in names
    )


# --- layout -------------------------------------------------------------


def test_layout_and_file_format(backend, root):
    backend.update_object("/a/b", {"k": "v"})
    backend.update_object("/a/b/c", b"\x00raw")
    backend.update_object("/s", "text")
    assert all_files(root) == [
        "bank.json",
        "objects/a/b/c~obj",
        "objects/a/b~obj",
        "objects/s~obj",
    ]
    assert (root / "objects/a/b~obj").read_bytes() == b'KVGB1 json\n{"k": "v"}'
    assert (root / "objects/a/b/c~obj").read_bytes() == b"KVGB1 bytes\n\x00raw"
    assert (root / "objects/s~obj").read_bytes() == b"KVGB1 str\ntext"


def test_bank_json_holds_the_owner_id(backend, root):
    metadata = json.loads((root / "bank.json").read_text())
    assert metadata == {"owner_id": backend.get_owner_id(), "format": 1}


def test_owner_id_survives_reopening(backend, root):
    backend.update_object("/x", 1)
    reopened = FileBackend(str(root))
    assert reopened.get_owner_id() == backend.get_owner_id()
    assert reopened.get_object("/x") == 1


def test_a_missing_directory_is_created(tmp_path):
    backend = FileBackend(tmp_path / "deep" / "er" / "bank")
    assert (tmp_path / "deep/er/bank/objects").is_dir()
    assert backend.path == str(tmp_path / "deep/er/bank")


def test_a_path_that_is_a_file_is_refused(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("hello")
    with pytest.raises(BankError, match="not a directory"):
        FileBackend(not_a_directory)
    assert not_a_directory.read_text() == "hello"


def test_an_unreadable_directory_becomes_bank_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(os, "makedirs", refuse)
    with pytest.raises(BankError, match="Permission denied") as caught:
        FileBackend(tmp_path / "x")
    assert isinstance(caught.value.__cause__, PermissionError)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "damaged"),
        (b"[]", "not a JSON object"),
        (b'{"format": 1}', "no owner_id"),
        (b'{"format": 2, "owner_id": "x"}', "format 2"),
    ],
)
def test_a_damaged_bank_json_is_refused(root, content, message):
    root.mkdir()
    (root / "bank.json").write_bytes(content)
    with pytest.raises(BankError, match=message):
        FileBackend(root)


def test_racing_creators_end_with_the_same_owner_id(root, monkeypatch):
    """Another process creates bank.json between our read and our link()."""
    real_link = os.link

    def other_process_wins(source, target):
        with open(target, "w") as stream:
            json.dump({"owner_id": "the-winner", "format": 1}, stream)
        real_link(source, target)

    monkeypatch.setattr(os, "link", other_process_wins)
    assert FileBackend(root).get_owner_id() == "the-winner"
    assert all_files(root) == ["bank.json"]


def test_owner_id_is_created_without_hard_links(root, monkeypatch):
    def no_hard_links(source, target):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    owner_id = FileBackend(root).get_owner_id()
    monkeypatch.undo()
    assert FileBackend(root).get_owner_id() == owner_id
    assert all_files(root) == ["bank.json"]


# --- atomic writes --------------------------------------------------------


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_a_failed_write_keeps_the_old_value(backend, root, monkeypatch, failing):
    backend.update_object("/a/b", "old value")

    def crash(*args, **kwargs):
        raise OSError(5, "Input/output error")

    if failing == "write":
        monkeypatch.setattr(file_module, "_write_durably", crash)
    else:
        monkeypatch.setattr(os, failing, crash)
    with pytest.raises(BankError) as caught:
        backend.update_object("/a/b", "new value " * 1000)
    monkeypatch.undo()

    assert caught.value.key == "/a/b"
    assert "Input/output error" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    assert backend.get_object("/a/b") == "old value"
    assert backend.list_objects() == ["/a/b"]
    assert not [name for name in all_files(root) if "~tmp" in name]


def test_temporary_files_left_by_a_crash_are_never_listed(backend, root):
    backend.update_object("/a/b", 1)
    (root / "objects/a/b~tmp-0123").write_bytes(b"KVGB1 json\n2")
    (root / "objects/a/c~obj~tmp-0123").write_bytes(b"KVGB1 json\n2")
    (root / "objects/a/stray.txt").write_bytes(b"not an object")
    (root / "objects/a/bad name~obj").write_bytes(b"KVGB1 json\n2")
    assert backend.list_objects() == ["/a/b"]
    assert backend.list_objects(prefix="/a/b") == ["/a/b"]


def test_writes_are_fsynced(backend, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    backend.update_object("/new/dir/key", b"data")
    assert synced.count(False) >= 1, "the object's file was not fsynced"
    assert synced.count(True) >= 1, "its directory was not fsynced"


@pytest.mark.parametrize(("size", "dropped"), [
    (file_module.DROP_CACHED_BYTES - 64, False),  # with its header, below
    (file_module.DROP_CACHED_BYTES, True),
])
@pytest.mark.parametrize("value", [bytes, bytearray])
def test_chunk_data_leaves_the_page_cache_once_fsynced(backend, monkeypatch,
                                                       size, dropped, value):
    """Objects of DROP_CACHED_BYTES or more are fsynced, then advised out of
    the page cache, whole; smaller ones (manifests, the index) stay; the
    bytes read back either way."""
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            calls.append("fsync")
        real_fsync(fd)

    def fadvise(fd, offset, length, advice):
        calls.append(("fadvise", os.fstat(fd).st_size, offset, length, advice))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "posix_fadvise", fadvise, raising=False)
    payload = value(os.urandom(size))
    backend.update_object("/chunks/data_0", payload)
    if dropped:
        assert calls == ["fsync", ("fadvise", calls[1][1], 0, 0,
                                   os.POSIX_FADV_DONTNEED)]
        assert calls[1][1] > size  # the file as written: header and payload
    else:
        assert calls == ["fsync"]
    assert backend.get_object("/chunks/data_0") == bytes(payload)


def test_a_failed_fadvise_only_costs_the_cache(backend, monkeypatch):
    def fadvise(fd, offset, length, advice):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "posix_fadvise", fadvise, raising=False)
    payload = os.urandom(file_module.DROP_CACHED_BYTES)
    backend.update_object("/chunks/data_1", payload)
    assert backend.get_object("/chunks/data_1") == payload


# --- reading damaged objects ---------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "does not start with"),
        (b"garbage", "does not start with"),
        (b"KVGB1 json", "does not start with"),
        (b"KVGB2 json\n{}", "does not start with"),
        (b"KVGB1 json extra\n{}", "does not start with"),
        (b"x" * 1000, "does not start with"),
        (b"KVGB1 pickle\n...", "unknown value kind 'pickle'"),
        (b"KVGB1 json\n{broken", "does not decode"),
        (b"KVGB1 str\n\xff\xfe", "does not decode"),
    ],
)
def test_a_damaged_object_raises_bank_error_naming_the_key(
    backend, root, content, message
):
    backend.update_object("/a/b", "fine")
    (root / "objects/a/b~obj").write_bytes(content)
    with pytest.raises(BankError, match=message) as caught:
        backend.get_object("/a/b")
    assert caught.value.key == "/a/b"
    assert "'/a/b'" in str(caught.value)


def test_os_errors_become_bank_errors_naming_key_and_reason(backend, monkeypatch):
    backend.update_object("/a", 1)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(file_module, "open", refuse, raising=False)
    with pytest.raises(BankError) as caught:
        backend.get_object("/a")
    assert caught.value.key == "/a"
    assert "Permission denied" in str(caught.value)
    assert isinstance(caught.value.__cause__, PermissionError)

    monkeypatch.setattr(os, "unlink", refuse)
    with pytest.raises(BankError, match="could not delete object '/a'"):
        backend.delete_object("/a")


# --- deleting and pruning --------------------------------------------------


def test_delete_prunes_empty_directories(backend, root):
    backend.update_object("/a/b/c/d", 1)
    backend.update_object("/a/x", 2)
    backend.delete_object("/a/b/c/d")
    assert sorted(os.listdir(root / "objects")) == ["a"]
    assert sorted(os.listdir(root / "objects/a")) == ["x~obj"]
    backend.delete_object("/a/x")
    assert os.listdir(root / "objects") == []
    assert (root / "objects").is_dir()


def test_pruning_keeps_a_file_created_meanwhile(backend, root, monkeypatch):
    """A writer's temporary file appears just before the prune: it survives."""
    backend.update_object("/a/b/c", 1)
    real_rmdir = os.rmdir

    def writer_arrives(path):
        if path.endswith(os.path.join("a", "b")):
            with open(os.path.join(path, "new~tmp-1"), "wb"):
                pass
        real_rmdir(path)

    monkeypatch.setattr(os, "rmdir", writer_arrives)
    backend.delete_object("/a/b/c")
    assert all_files(root / "objects") == ["a/b/new~tmp-1"]


def test_a_write_retries_when_its_directory_is_pruned(backend, root, monkeypatch):
    real_open = os.open
    pruned = []

    def prune_first(path, flags, *args):
        if "~tmp" in path and not pruned:
            pruned.append(path)
            real_rmdir(os.path.dirname(path))
        return real_open(path, flags, *args)

    real_rmdir = os.rmdir
    monkeypatch.setattr(os, "open", prune_first)
    backend.update_object("/fresh/key", "v")
    monkeypatch.undo()
    assert pruned
    assert backend.get_object("/fresh/key") == "v"


def test_writers_and_deleters_sharing_directories_lose_nothing(backend, root):
    """Deletes prune directories that other threads are writing into."""
    errors = []

    def key_of(worker, i):
        return f"/d/w{worker % 2}/x{i % 3}/k{worker}-{i:02d}"

    def churn(worker):
        try:
            for i in range(60):
                backend.update_object(key_of(worker, i), i)
                if i < 57:
                    backend.delete_object(key_of(worker, i))
        except Exception as exc:  # collected: a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    kept = sorted(key_of(w, i) for w in range(6) for i in range(57, 60))
    assert backend.list_objects() == kept
    assert [backend.get_object(key) for key in kept] == [int(key[-2:]) for key in kept]
    assert not [name for name in all_files(root) if "~tmp" in name]


def test_deleting_a_missing_object_in_a_missing_directory(backend):
    with pytest.raises(BankObjectNotFound):
        backend.delete_object("/no/such/dir/key")


# --- listing ------------------------------------------------------------------


def test_listing_walks_only_directories_that_can_match(backend, root, monkeypatch):
    for key in ["/a/b/c/d", "/a/b/cat/e", "/a/b/x/f", "/a/z/g", "/q/h"]:
        backend.update_object(key, 1)
    scanned = []
    real_scandir = os.scandir

    def spy(path):
        scanned.append(os.path.relpath(path, root / "objects"))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    assert backend.list_objects(prefix="/a/b/c") == ["/a/b/c/d", "/a/b/cat/e"]
    assert sorted(scanned) == ["a/b", "a/b/c", "a/b/cat"]


def test_backend_refuses_keys_that_are_not_normalised(backend):
    for key in ["a", "/a/../../x", "/a//b", "/", "/a/", "/a~obj"]:
        with pytest.raises(InvalidBankKey):
            backend.get_object(key)
    assert backend.list_objects(prefix="/../") == []
    assert backend.list_objects(prefix="relative") == []


def test_the_bank_over_a_file_backend(backend):
    bank = Bank(backend)
    bank.update_object("a//b", "v")
    assert bank.get_object("/a/b") == "v"
    assert bank.backend is backend


# --- URLs -------------------------------------------------------------------


def test_from_url(tmp_path):
    path = tmp_path / "with space"
    url = "file://" + urllib.parse.quote(str(path))
    backend = FileBackend.from_url(urllib.parse.urlsplit(url))
    assert backend.path == str(path)
    localhost = FileBackend.from_url(urllib.parse.urlsplit(f"file://localhost{path}"))
    assert localhost.get_owner_id() == backend.get_owner_id()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://relative/path", "names the host 'relative'"),
        ("file:relative", "absolute path"),
        ("file://", "absolute path"),
        ("file:///tmp/x?mode=1", "no query"),
    ],
)
def test_from_url_refuses(url, message):
    with pytest.raises(BankError, match=message):
        FileBackend.from_url(urllib.parse.urlsplit(url))
