"""The Swift bank against a real OpenStack Swift from PyPI, on 127.0.0.1.

The whole bank contract runs here against Swift (the ``backend`` fixture
below overrides the contract module's), with a large-object threshold small
enough that its larger values are Static Large Objects. Then what only a real
Swift can show: large objects and their segments, uploads damaged on the way,
pagination, opening by URL and by keystoneauth1 session, credentials kept out
of logs, and a volume protected and restored end to end through the Swift bank.

The server (``swift_server``, see :mod:`tests.functional.conftest`) is
started once per session; each test gets a container of its own. Without
Swift installed the tests fail and say to run ``tools/install-test-services``.
"""

import hashlib
import io
import logging
import os
import urllib.parse
import uuid

import pytest
from swiftclient import client as swift_client

from karbor_volume_glance.bank import Bank, open_bank
from karbor_volume_glance.bank.swift import SwiftBackend, SwiftBankError
from karbor_volume_glance.exceptions import BankError, BankObjectNotFound
from karbor_volume_glance.notifications.payload import public_location
from tests.functional import encrypted
from tests.functional.sites import OBJECT_SIZE
from tests.unit.bank.test_bank_contract import *  # noqa: F401,F403

KiB = 1024
#: Small enough that the contract's larger values become large objects.
THRESHOLD = 32 * KiB
SEGMENT = 20 * KiB


@pytest.fixture
def container():
    return f"kvg-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def swift(swift_server):
    """A plain swiftclient connection, to look at what the bank stored."""
    connection = swift_client.Connection(
        authurl=swift_server.auth_url, user=swift_server.user,
        key=swift_server.key, auth_version="1.0", retries=0)
    yield connection
    connection.close()


def make_backend(server, container, **options):
    options.setdefault("large_object_threshold", THRESHOLD)
    options.setdefault("segment_size", SEGMENT)
    return SwiftBackend(container, prefix="bank", auth_url=server.auth_url,
                        user=server.user, key=server.key, **options)


@pytest.fixture
def backend(swift_server, container):  # overrides the contract suite's
    backend = make_backend(swift_server, container)
    yield backend
    backend.close()


def names(swift, container):
    try:
        return [entry["name"]
                for entry in swift.get_container(container, full_listing=True)[1]]
    except swift_client.ClientException as exc:
        if exc.http_status == 404:
            return []
        raise


def segment_names(swift, container):
    return names(swift, f"{container}_segments")


# --- large objects ----------------------------------------------------------


def test_a_large_object_round_trip(backend, swift, container):
    value = os.urandom(4 * SEGMENT + 1234)
    backend.update_object("/big", value)
    assert backend.get_object("/big") == value
    segments = segment_names(swift, container)
    assert len(segments) == 5
    assert all(name.startswith("bank/big/") for name in segments)
    headers = swift.head_object(container, "bank/big",
                                query_string="multipart-manifest=get")
    assert headers["x-static-large-object"].lower() == "true"
    headers, body = swift.get_object(container, "bank/big")
    assert body == value  # Swift itself serves it whole
    assert int(headers["content-length"]) == len(value)
    assert backend.list_objects() == ["/big"]


def test_replacing_and_deleting_large_objects_leaves_no_segments(
    backend, swift, container
):
    backend.update_object("/big", os.urandom(3 * SEGMENT))
    first = set(segment_names(swift, container))
    assert len(first) == 3
    second_value = os.urandom(2 * SEGMENT + 1)
    backend.update_object("/big", second_value)
    second = set(segment_names(swift, container))
    assert len(second) == 3 and not first & second
    assert backend.get_object("/big") == second_value
    backend.update_object("/big", "small now")
    assert segment_names(swift, container) == []
    assert backend.get_object("/big") == "small now"
    backend.update_object("/big", os.urandom(2 * THRESHOLD))
    assert segment_names(swift, container)
    backend.delete_object("/big")
    assert segment_names(swift, container) == []
    assert names(swift, container) == []
    with pytest.raises(BankObjectNotFound):
        backend.get_object("/big")


def damage_uploads(monkeypatch):
    """Flip one byte of every object body on its way to Swift, not its ETag."""
    original = swift_client.Connection.put_object

    def damaging_put(self, container, obj, contents, *args, **kwargs):
        data = bytearray(contents.read() if hasattr(contents, "read") else contents)
        if data:
            data[len(data) // 2] ^= 0x01
        return original(self, container, obj, io.BytesIO(bytes(data)), *args,
                        **kwargs)

    monkeypatch.setattr(swift_client.Connection, "put_object", damaging_put)


@pytest.mark.parametrize("size", [1000, 3 * SEGMENT], ids=["plain", "large"])
def test_a_damaged_upload_is_refused_by_its_etag(
    backend, swift, container, monkeypatch, size
):
    backend.update_object("/obj", b"old value")
    damage_uploads(monkeypatch)
    with pytest.raises(SwiftBankError, match="damaged") as caught:
        backend.update_object("/obj", os.urandom(size))
    assert caught.value.http_status == 422
    assert caught.value.key == "/obj"
    assert caught.value.container in (container, f"{container}_segments")
    monkeypatch.undo()
    assert backend.get_object("/obj") == b"old value"
    assert segment_names(swift, container) == []


# --- listing ----------------------------------------------------------------


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_pagination_across_swift_pages(swift_server, container, sort_dir):
    backend = make_backend(swift_server, container, listing_page_size=4)
    keys = [f"/p/{i:02d}" for i in range(11)] + ["/p", "/q"]
    for key in keys:
        backend.update_object(key, b"x")
    backend.get_owner_id()
    descending = sort_dir == "desc"
    expected = sorted(keys, reverse=descending)
    assert backend.list_objects(sort_dir=sort_dir) == expected
    pages, marker = [], None
    while page := backend.list_objects(prefix="/p", limit=3, marker=marker,
                                       sort_dir=sort_dir):
        pages.append(page)
        marker = page[-1]
    assert [key for page in pages for key in page] == [
        key for key in expected if key.startswith("/p")]
    assert all(len(page) <= 3 for page in pages)


# --- opening and credentials ------------------------------------------------


def test_open_bank_by_url_with_the_key_from_the_environment(
    swift_server, container, monkeypatch
):
    monkeypatch.setenv("KVG_SWIFT_KEY", swift_server.key)
    query = urllib.parse.urlencode({"auth_url": swift_server.auth_url,
                                    "user": swift_server.user})
    bank = open_bank(f"swift://{container}/kvg/bank?{query}")
    assert isinstance(bank.backend, SwiftBackend)
    bank.update_object("/a/b", {"x": 1})
    assert bank.get_object("/a/b") == {"x": 1}
    again = open_bank(f"swift://{container}/kvg/bank?{query}")
    assert again.list_objects() == ["/a/b"]
    assert again.get_owner_id() == bank.get_owner_id()
    kind, location = bank.backend.describe()
    assert kind == "swift"
    assert public_location(location) == location
    assert swift_server.key not in location + repr(bank)

    with pytest.raises(BankError) as caught:
        open_bank(f"swift://{container}/kvg?{query}&key={swift_server.key}")
    assert swift_server.key not in str(caught.value)
    monkeypatch.setenv("KVG_SWIFT_KEY", "wrong-key")
    with pytest.raises(SwiftBankError, match="access refused") as caught:
        open_bank(f"swift://{container}/kvg?{query}&retries=0")
    assert "wrong-key" not in str(caught.value)


def test_a_keystoneauth_session_drives_the_bank(swift_server, container):
    from keystoneauth1 import session as ks_session
    from keystoneauth1 import token_endpoint

    url, token = swift_client.get_auth(swift_server.auth_url, swift_server.user,
                                       swift_server.key, auth_version="1.0")
    session = ks_session.Session(auth=token_endpoint.Token(url, token))
    backend = SwiftBackend(container, prefix="s", session=session)
    backend.update_object("/x", "through a session")
    assert backend.get_object("/x") == "through a session"
    assert backend.describe() == ("swift", f"swift://{container}/s")
    assert token not in repr(backend)


def test_credentials_and_tokens_never_reach_logs_or_errors(
    swift_server, container, caplog
):
    caplog.set_level(logging.DEBUG)
    backend = make_backend(swift_server, container)
    backend.update_object("/big", os.urandom(2 * THRESHOLD))
    backend.get_object("/big")
    backend.list_objects()
    backend.delete_object("/big")
    errors = []
    for call in (lambda: backend.get_object("/big"),
                 lambda: backend.delete_object("/big")):
        with pytest.raises(BankError) as caught:
            call()
        errors.append(str(caught.value))
    token = backend._local.connection.token
    assert token and swift_server.key
    shown = caplog.text + "".join(errors) + repr(backend) + repr(Bank(backend))
    shown += str(backend.describe())
    assert caplog.records
    assert any(record.name.startswith("swiftclient")
               for record in caplog.records)  # its request log was on
    assert swift_server.key not in shown
    assert token not in shown
    assert token[:10] not in shown  # not even swiftclient's usual prefix


# --- end to end -------------------------------------------------------------


BLOCK = 4096


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def swift_bank(swift_server, container, monkeypatch):
    """A Swift bank opened by URL; 64 KiB chunks become two-segment SLOs.

    The test cluster is one node, so its listings are consistent, as its
    operator (this fixture) declares: incremental backups need it."""
    monkeypatch.setenv("KVG_SWIFT_KEY", swift_server.key)
    query = urllib.parse.urlencode({
        "auth_url": swift_server.auth_url, "user": swift_server.user,
        "consistent_listings": "true",
        "large_object_threshold": OBJECT_SIZE // 2,
        "segment_size": OBJECT_SIZE // 2 + 1024,
    })
    bank = open_bank(f"swift://{container}/karbor?{query}")
    yield bank
    bank.backend.close()


def test_protect_and_restore_through_swift_with_an_incremental(
    sites, swift_bank, swift, container
):
    data = os.urandom(5 * OBJECT_SIZE + 1234)
    volume_id = sites.a.create_volume(data, size=1)
    at_full = sites.a.volume_bytes(volume_id)
    runner = sites.a.runner(swift_bank)
    full = runner.protect([volume_id], {volume_id: {"backup_name": "full"}})
    assert full.ok, full.failures()
    assert segment_names(swift, container)  # chunks went in as large objects

    with open(sites.a.cloud.volume_path(volume_id), "r+b") as stream:
        for offset in (3 * BLOCK, 2 * OBJECT_SIZE + 10, 7 * OBJECT_SIZE):
            stream.seek(offset)
            stream.write(os.urandom(BLOCK))
    at_incremental = sites.a.volume_bytes(volume_id)
    assert at_incremental != at_full
    incremental = runner.protect(
        [volume_id], {volume_id: {"backup_name": "incr", "incremental": True}})
    assert incremental.ok, incremental.failures()
    manifest = runner.checkpoint(incremental.checkpoint_id) \
        .get_resource_bank_section(volume_id).get_object("metadata")
    assert manifest["incremental"] is True
    assert manifest["parent_checkpoint_id"] == full.checkpoint_id
    own = [chunk for chunk in manifest["chunks"]
           if not chunk.get("zero") and "source" not in chunk]
    assert {chunk["index"] for chunk in own} == {0, 2, 7}

    assert runner.verify(incremental.checkpoint_id).ok
    for checkpoint_id, expected, site in (
        (full.checkpoint_id, at_full, sites.a),
        (incremental.checkpoint_id, at_incremental, sites.b),
    ):
        restored = site.runner(swift_bank).restore(checkpoint_id, {})
        assert restored.ok, restored.failures()
        new_id = restored.outcomes[0].new_volume_id
        assert sha256(site.volume_bytes(new_id)) == sha256(expected)
        assert site.volume_bytes(new_id) == expected


def test_an_encrypted_bank_round_trips_through_swift(sites, swift_bank):
    """Issue 15: format 4 through Swift (chunks as SLOs), restored at the
    other site with the key, a flipped byte named."""
    encrypted.round_trip(sites, swift_bank)
