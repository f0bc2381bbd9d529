"""The Swift bank's parts, without sockets: an in-memory Swift behind a fake
swiftclient Connection. The whole bank contract runs here too (with a small
large-object threshold, so large objects meet every rule), and
``tests/functional/test_bank_swift.py`` runs it again against a real Swift.
"""

import hashlib
import json
import logging
import threading
import types
import urllib.parse

import pytest
from swiftclient import exceptions as swift_exceptions

from karbor_volume_glance.bank import Bank
from karbor_volume_glance.bank import swift as swift_bank
from karbor_volume_glance.bank.swift import SwiftBackend, SwiftBankError
from karbor_volume_glance.exceptions import BankError, BankObjectNotFound
from karbor_volume_glance.notifications.payload import public_location
from tests.unit.bank.test_bank_contract import *  # noqa: F401,F403

KEY = "s3cr3t-key-value"
TOKEN = "AUTH_tk0123456789abcdef0123456789abcdef"


def md5(data):
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def client_error(status, reason="", msg="Object request failed"):
    return swift_exceptions.ClientException(
        msg, http_scheme="http", http_host="swift.example", http_path="/v1/x",
        http_status=status, http_reason=reason)


class FakeSwift:
    """The parts of a Swift account the bank uses, in memory and thread-safe."""

    def __init__(self):
        self.containers = {}
        self.lock = threading.RLock()
        self.requests = []

    def objects(self, container):
        with self.lock:
            if container not in self.containers:
                raise client_error(404, "Not Found", "Container request failed")
            return self.containers[container]

    def names(self, container):
        return sorted(self.objects(container))


class FakeConnection:
    """swiftclient.client.Connection's methods the bank calls, over FakeSwift."""

    def __init__(self, swift, **options):
        self.swift = swift
        self.options = options
        self.key = options.get("key")
        self.token = TOKEN
        self.thread = threading.get_ident()
        self.closed = False

    def _log(self, *request):
        with self.swift.lock:
            self.swift.requests.append(request)

    def close(self):
        self.closed = True

    def head_container(self, container, headers=None):
        self._log("HEAD", container)
        self.swift.objects(container)
        return {}

    def put_container(self, container, headers=None):
        self._log("PUT", container)
        with self.swift.lock:
            self.swift.containers.setdefault(container, {})

    def get_container(self, container, marker=None, limit=None, prefix=None,
                      end_marker=None, **_options):
        self._log("GET", container, prefix, marker, end_marker, limit)
        with self.swift.lock:
            names = self.swift.names(container)
        names = [name for name in names
                 if (not prefix or name.startswith(prefix))
                 and (not marker or name > marker)
                 and (not end_marker or name < end_marker)]
        return {}, [{"name": name} for name in names[:min(limit or 10000, 10000)]]

    def put_object(self, container, name, contents, content_length=None,
                   etag=None, content_type=None, headers=None,
                   query_string=None, **_options):
        self._log("PUT", container, name, query_string)
        data = contents.read() if hasattr(contents, "read") else bytes(contents)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        with self.swift.lock:
            objects = self.swift.objects(container)
            if headers.get("if-none-match") == "*" and name in objects:
                raise client_error(412, "Precondition Failed")
            record = {"meta": {k: v for k, v in headers.items()
                               if k.startswith("x-object-meta-")},
                      "content_type": content_type}
            if query_string == "multipart-manifest=put":
                manifest = json.loads(data)
                for segment in manifest:
                    _, seg_container, seg_name = segment["path"].split("/", 2)
                    stored = self.swift.objects(seg_container).get(seg_name)
                    if (stored is None or md5(stored["data"]) != segment["etag"]
                            or len(stored["data"]) != segment["size_bytes"]):
                        raise client_error(400, "Bad Request")
                slo_etag = md5("".join(s["etag"] for s in manifest).encode())
                if etag and etag != slo_etag:
                    raise client_error(422, "Unprocessable Entity")
                record.update(manifest=manifest, etag=slo_etag)
            else:
                if etag and md5(data) != etag:
                    raise client_error(422, "Unprocessable Entity")
                record.update(data=data, etag=md5(data))
            objects[name] = record
        return getattr(self, "answer_etag", None) or f'"{record["etag"]}"'

    def _record(self, container, name):
        with self.swift.lock:
            record = self.swift.objects(container).get(name)
        if record is None:
            raise client_error(404, "Not Found")
        return record

    def _headers(self, record, body):
        headers = {"content-length": str(len(body)), "etag": record["etag"],
                   **record["meta"]}
        if "manifest" in record:
            headers["x-static-large-object"] = "True"
            headers["etag"] = f'"{record["etag"]}"'
        return headers

    def _body(self, record, query_string):
        if "manifest" not in record:
            return record["data"]
        if query_string == "multipart-manifest=get":
            return json.dumps([{"name": s["path"], "hash": s["etag"],
                                "bytes": s["size_bytes"]}
                               for s in record["manifest"]]).encode()
        parts = []
        for segment in record["manifest"]:
            _, seg_container, seg_name = segment["path"].split("/", 2)
            with self.swift.lock:
                stored = self.swift.containers.get(seg_container, {}).get(seg_name)
            if stored is None:  # as Swift answers for a missing segment
                raise client_error(409, "Conflict")
            parts.append(stored["data"])
        return b"".join(parts)

    def head_object(self, container, name, headers=None, query_string=None):
        self._log("HEAD", container, name, query_string)
        record = self._record(container, name)
        return self._headers(record, self._body(record, query_string))

    def get_object(self, container, name, query_string=None, **_options):
        self._log("GET", container, name, query_string)
        record = self._record(container, name)
        body = self._body(record, query_string)
        return self._headers(record, body), body

    def delete_object(self, container, name, query_string=None, **_options):
        self._log("DELETE", container, name, query_string)
        with self.swift.lock:
            if self.swift.objects(container).pop(name, None) is None:
                raise client_error(404, "Not Found")


@pytest.fixture
def fake_swift():
    return FakeSwift()


@pytest.fixture
def connect(fake_swift):
    """A connection factory over the fake; ``made`` lists what it made."""
    made = []

    def factory():
        connection = FakeConnection(fake_swift, key=KEY)
        made.append(connection)
        return connection

    factory.made = made
    return factory


def make_backend(connect, **options):
    options.setdefault("large_object_threshold", 32 * 1024)
    options.setdefault("segment_size", 20 * 1024)
    options.setdefault("prefix", "pre")
    return SwiftBackend("bank", connection=connect, **options)


@pytest.fixture
def backend(connect):  # the contract suite's backend, over the fake
    return make_backend(connect)


@pytest.fixture
def patched_connection(monkeypatch, fake_swift):
    """swiftclient's Connection replaced by the fake; ``made`` lists them."""
    made = []

    def connection(**options):
        made.append(FakeConnection(fake_swift, **options))
        return made[-1]

    monkeypatch.setattr(swift_bank.swift_client, "Connection", connection)
    return made


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "normalized"),
    [("", ""), (None, ""), ("/", ""), ("pre", "pre/"), ("/a//b/", "a/b/")],
)
def test_prefixes_are_normalized(connect, prefix, normalized):
    backend = SwiftBackend("c", prefix=prefix, connection=connect)
    assert backend.prefix == normalized
    assert backend.object_name("/x/y") == normalized + "x/y"
    assert backend.key_of(normalized + "x/y") == "/x/y"


@pytest.mark.parametrize("prefix", ["..", "a/../b", "a b", "a~b", 3])
def test_bad_prefixes_are_refused(connect, prefix):
    with pytest.raises(BankError, match="prefix"):
        SwiftBackend("c", prefix=prefix, connection=connect)


@pytest.mark.parametrize("container", ["", "a/b", None])
def test_bad_container_names_are_refused(connect, container):
    with pytest.raises(BankError, match="container"):
        SwiftBackend(container, connection=connect)


def test_names_that_are_no_bank_keys_are_not_listed(backend, fake_swift):
    backend.update_object("/a", "v")
    backend.get_owner_id()
    objects = fake_swift.containers["bank"]
    for name in ("pre/~kvg-bank.json", "pre/a b", "pre/x//y", "other/a"):
        objects.setdefault(name, {"data": b"", "etag": md5(b""), "meta": {}})
    assert backend.key_of("pre/~kvg-bank.json") is None
    assert backend.key_of("other/a") is None
    assert backend.list_objects() == ["/a"]
    assert backend.list_objects(sort_dir="desc") == ["/a"]


def test_objects_are_stored_with_kind_and_md5(backend, fake_swift):
    backend.update_object("/s", "text")
    record = fake_swift.containers["bank"]["pre/s"]
    assert record["data"] == b"text"
    assert record["meta"] == {"x-object-meta-kvg-kind": "str",
                              "x-object-meta-kvg-md5": md5(b"text")}
    assert record["content_type"].startswith("text/plain")


# --- opening by URL ---------------------------------------------------------


def open_url(url):
    return SwiftBackend.from_url(urllib.parse.urlsplit(url))


def test_url_with_auth_url_takes_the_key_from_the_environment(
    monkeypatch, patched_connection
):
    monkeypatch.setenv("KVG_SWIFT_KEY", KEY)
    backend = open_url("swift://cont/a/b?auth_url=http://127.0.0.1:8080/auth/v1.0"
                       "&user=test:tester&segment_size=4096"
                       "&large_object_threshold=8192&retries=2&timeout=7.5")
    assert backend.container == "cont"
    assert backend.prefix == "a/b/"
    assert backend.segment_container == "cont_segments"
    [connection] = patched_connection
    assert connection.options["authurl"] == "http://127.0.0.1:8080/auth/v1.0"
    assert connection.options["user"] == "test:tester"
    assert connection.options["key"] == KEY
    assert connection.options["retries"] == 2
    assert connection.options["timeout"] == 7.5
    assert connection.options["session"] is None
    kind, location = backend.describe()
    assert kind == "swift"
    assert location.startswith("swift://cont/a/b?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(location).query) == {
        "auth_url": ["http://127.0.0.1:8080/auth/v1.0"]}


def test_url_key_env_names_another_variable(monkeypatch, patched_connection):
    monkeypatch.delenv("KVG_SWIFT_KEY", raising=False)
    monkeypatch.setenv("MY_SWIFT_KEY", KEY)
    open_url("swift://c?auth_url=http://h/auth/v1.0&user=u&key_env=MY_SWIFT_KEY"
             "&create_container=false")
    assert patched_connection == []  # nothing asked of Swift yet


def test_url_without_the_key_in_the_environment_says_which_variable(monkeypatch):
    monkeypatch.delenv("KVG_SWIFT_KEY", raising=False)
    with pytest.raises(BankError, match="KVG_SWIFT_KEY"):
        open_url("swift://c?auth_url=http://h/auth/v1.0&user=u")


@pytest.mark.parametrize(
    "query",
    ["key=s3cr3t", "password=s3cr3t", "os_password=s3cr3t", "token=s3cr3t",
     "auth_token=s3cr3t", "secret=s3cr3t", "KEY=s3cr3t"],
)
def test_url_with_a_secret_is_refused_without_echoing_it(query):
    with pytest.raises(BankError) as caught:
        open_url(f"swift://c/p?auth_url=http://h/auth/v1.0&user=u&{query}")
    assert "s3cr3t" not in str(caught.value)
    assert "KVG_SWIFT_KEY" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["swift://u:s3cr3t@c/p", "swift://s3cr3t@c/p", "swift://:s3cr3t@c",
            "swift://c/p?cloud=x&s3cr3t", "swift://c/p?cloud=x&s3cr3t=1"])
def test_url_with_user_info_is_refused_without_echoing_it(url):
    with pytest.raises(BankError) as caught:
        open_url(url)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("swift:///p", "must name a container"),
        ("swift://c?colour=red", "unknown Swift bank URL parameter 'colour'"),
        ("swift://c?cloud=a&auth_url=http://h", "not both"),
        ("swift://c?auth_url=http://h", "needs user="),
        ("swift://c?user=u", "go with auth_url"),
        ("swift://c?cloud=a&cloud=b", "given twice"),
        ("swift://c?cloud=a&segment_size=big", "segment_size"),
        ("swift://c?cloud=a&create_container=maybe", "create_container"),
        ("swift://c?cloud=a&timeout=soon", "timeout"),
        ("swift://c#frag", "fragment"),
        ("swift://c/a/../b?cloud=a", "prefix"),
    ],
)
def test_bad_urls_are_refused(monkeypatch, url, message):
    monkeypatch.setenv("KVG_SWIFT_KEY", KEY)
    with pytest.raises(BankError, match=message):
        open_url(url)


def test_url_with_a_cloud_uses_a_session_from_clouds_yaml(
    monkeypatch, patched_connection
):
    from karbor_volume_glance.cloud import factory

    session = object()
    asked = []

    def from_cloud_config(cloud=None, config_file=None):
        asked.append(cloud)
        return types.SimpleNamespace(session=session, region_name="RegionTwo",
                                     interface="internal")

    monkeypatch.setattr(factory, "from_cloud_config", from_cloud_config)
    backend = open_url("swift://cont/pre?cloud=site-a")
    assert asked == ["site-a"]
    [connection] = patched_connection
    assert connection.options["session"] is session
    assert connection.options["authurl"] is None
    assert connection.options["key"] is None
    assert connection.options["os_options"] == {"region_name": "RegionTwo",
                                                "endpoint_type": "internal"}
    assert backend.describe() == ("swift", "swift://cont/pre?cloud=site-a")
    open_url("swift://cont")  # no cloud: OS_CLOUD's, as openstacksdk finds it
    assert asked == ["site-a", None]


def test_a_cloud_that_does_not_load_is_a_bank_error(monkeypatch):
    from karbor_volume_glance import exceptions
    from karbor_volume_glance.cloud import factory

    def from_cloud_config(cloud=None, config_file=None):
        raise exceptions.CloudError("loading cloud 'x' failed", kind="cloud")

    monkeypatch.setattr(factory, "from_cloud_config", from_cloud_config)
    with pytest.raises(BankError, match="loading cloud 'x' failed"):
        open_url("swift://cont?cloud=x")


def test_open_bank_finds_the_swift_backend(monkeypatch, patched_connection):
    from karbor_volume_glance.bank import open_bank

    monkeypatch.setenv("KVG_SWIFT_KEY", KEY)
    bank = open_bank("swift://c/p?auth_url=http://h:1/auth/v1.0&user=u")
    assert isinstance(bank.backend, SwiftBackend)


# --- no credentials shown ---------------------------------------------------


def test_describe_and_repr_show_no_credentials(connect, patched_connection):
    backend = SwiftBackend("c", prefix="p", auth_url="http://me:pw@h:5/auth/v1.0",
                           user="test:tester", key=KEY)
    kind, location = backend.describe()
    assert kind == "swift"
    assert location == "swift://c/p?" + urllib.parse.urlencode(
        {"auth_url": "http://h:5/auth/v1.0"})
    assert public_location(location) == location
    for shown in (location, repr(backend), repr(Bank(backend)), str(backend)):
        assert KEY not in shown
        assert "pw" not in shown
        assert "tester" not in shown
    assert SwiftBackend("c", connection=connect).describe() == ("swift",
                                                                "swift://c")


def test_errors_name_key_operation_and_container_and_hide_secrets(connect):
    backend = make_backend(connect)
    backend.update_object("/k", "v")
    connection = connect.made[0]

    def failing_get(container, name, **options):
        raise swift_exceptions.ClientException(
            f"Object GET failed with token {TOKEN} and key {KEY}",
            http_status=503, http_reason="Service Unavailable")

    connection.get_object = failing_get
    with pytest.raises(SwiftBankError) as caught:
        backend.get_object("/k")
    error = caught.value
    assert isinstance(error, BankError)
    assert (error.key, error.operation, error.container, error.http_status) == (
        "/k", "read", "bank", 503)
    assert "'/k'" in str(error) and "'bank'" in str(error) and "read" in str(error)
    assert "503 Service Unavailable" in str(error)
    assert TOKEN not in str(error) and KEY not in str(error)

    def refused_put(*args, **options):
        raise ConnectionRefusedError(111, f"refused, token {TOKEN}")

    connection.put_object = refused_put
    with pytest.raises(SwiftBankError) as caught:
        backend.update_object("/k", "w")
    assert caught.value.operation == "write"
    assert "ConnectionRefusedError" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_authentication_failures_say_so(connect):
    backend = make_backend(connect)
    backend.update_object("/k", "v")

    def unauthorized(*args, **options):
        raise client_error(401, "Unauthorized")

    connect.made[0].get_container = unauthorized
    with pytest.raises(SwiftBankError, match="access refused.*credentials") as caught:
        backend.list_objects(prefix="/a")
    assert caught.value.key == "/a"
    assert caught.value.operation == "list"


def test_swiftclient_shows_no_part_of_a_token_in_its_log():
    from swiftclient import client as swift_client

    assert swift_client.safe_value("X-Auth-Token", TOKEN) == "..."
    assert swift_client.safe_value("X-Auth-Key", KEY) == "..."


def test_nothing_secret_is_logged(connect, caplog):
    caplog.set_level(logging.DEBUG)
    backend = make_backend(connect)
    backend.update_object("/big", b"x" * 100_000)
    backend.get_object("/big")
    backend.list_objects()
    backend.delete_object("/big")
    with pytest.raises(BankObjectNotFound):
        backend.get_object("/big")
    assert caplog.records  # something was logged at all
    assert KEY not in caplog.text
    assert TOKEN not in caplog.text


# --- integrity --------------------------------------------------------------


def test_every_put_sends_the_md5_as_etag(backend, connect):
    sent = []
    backend.update_object("/x", "first")
    connection = connect.made[0]
    original = connection.put_object

    def recording_put(container, name, contents, **options):
        data = contents.getvalue()
        sent.append((name, options["etag"], md5(data), options["content_length"],
                     len(data)))
        contents.seek(0)
        return original(container, name, contents, **options)

    connection.put_object = recording_put
    backend.update_object("/small", b"s" * 10)
    backend.update_object("/large", b"L" * 50_000)
    assert len(sent) == 1 + 3 + 1  # small; three segments and the manifest
    for name, etag, digest, length, size in sent[:-1]:
        assert etag == digest and length == size, name
    manifest_etag = sent[-1][1]
    segment_etags = "".join(etag for _, etag, _, _, _ in sent[1:-1])
    assert manifest_etag == md5(segment_etags.encode())


def test_a_damaged_upload_is_refused_and_the_old_value_kept(backend, connect):
    backend.update_object("/x", b"old")
    connection = connect.made[0]
    original = connection.put_object

    def damaging_put(container, name, contents, **options):
        data = bytearray(contents.read())
        data[0] ^= 0xFF
        import io

        return original(container, name, io.BytesIO(bytes(data)), **options)

    connection.put_object = damaging_put
    with pytest.raises(SwiftBankError, match="damaged") as caught:
        backend.update_object("/x", b"new")
    assert caught.value.http_status == 422
    assert caught.value.operation == "write"
    connection.put_object = original
    assert backend.get_object("/x") == b"old"


def test_a_wrong_etag_in_the_answer_is_an_error(backend, connect):
    backend.update_object("/x", "v")
    connect.made[0].answer_etag = md5(b"something else")
    with pytest.raises(SwiftBankError, match="ETag"):
        backend.update_object("/x", "w")


def test_a_read_whose_md5_does_not_match_is_retried_then_refused(
    backend, connect, fake_swift
):
    backend.update_object("/x", b"value")
    record = fake_swift.containers["bank"]["pre/x"]
    connection = connect.made[0]
    original = connection.get_object
    calls = []

    def flaky_get(container, name, **options):
        calls.append(name)
        headers, body = original(container, name, **options)
        if len(calls) == 1:
            return headers, b"vXlue"  # as if replaced while it was read
        return headers, body

    connection.get_object = flaky_get
    assert backend.get_object("/x") == b"value"
    assert len(calls) == 2

    record["data"] = b"rotten"  # damaged at rest: its MD5 no longer matches
    calls.clear()
    with pytest.raises(SwiftBankError, match="does not match its MD5"):
        backend.get_object("/x")
    assert len(calls) == swift_bank.READ_ATTEMPTS


def test_a_large_objects_missing_segment_is_retried(backend, connect):
    backend.update_object("/x", b"v" * 50_000)
    connection = connect.made[0]
    original = connection.get_object
    calls = []

    def conflicted_get(container, name, **options):
        calls.append(name)
        if len(calls) == 1:
            raise client_error(409, "Conflict")
        return original(container, name, **options)

    connection.get_object = conflicted_get
    assert backend.get_object("/x") == b"v" * 50_000


def test_a_body_cut_off_while_read_is_read_again(backend, connect):
    import urllib3

    backend.update_object("/x", b"v" * 50_000)
    connection = connect.made[0]
    original = connection.get_object
    calls = []

    def cut_off_get(container, name, **options):
        calls.append(name)
        if len(calls) == 1:
            raise urllib3.exceptions.ProtocolError("Connection broken: "
                                                   "IncompleteRead")
        return original(container, name, **options)

    connection.get_object = cut_off_get
    assert backend.get_object("/x") == b"v" * 50_000
    assert len(calls) == 2


def test_other_read_failures_are_not_retried(backend, connect):
    backend.update_object("/x", "v")
    calls = []

    def failing_get(container, name, **options):
        calls.append(name)
        raise client_error(500, "Internal Server Error")

    connect.made[0].get_object = failing_get
    with pytest.raises(SwiftBankError, match="500"):
        backend.get_object("/x")
    assert len(calls) == 1  # swiftclient has retried already


# --- large objects ----------------------------------------------------------


def segments(fake_swift):
    return sorted(fake_swift.containers.get("bank_segments", {}))


def test_a_large_value_is_split_into_segments(backend, fake_swift):
    value = bytes(range(256)) * 200  # 51200 bytes: segments of 20 KiB
    backend.update_object("/big", value)
    names = segments(fake_swift)
    assert len(names) == 3
    assert all(name.startswith("pre/big/") for name in names)
    assert [name.rsplit("/", 1)[1] for name in names] == [
        "00000000", "00000001", "00000002"]
    record = fake_swift.containers["bank"]["pre/big"]
    assert [s["size_bytes"] for s in record["manifest"]] == [20480, 20480, 10240]
    assert record["meta"]["x-object-meta-kvg-md5"] == md5(value)
    assert backend.get_object("/big") == value
    assert backend.list_objects() == ["/big"]


def test_replacing_and_deleting_large_objects_removes_their_segments(
    backend, fake_swift
):
    backend.update_object("/big", b"1" * 50_000)
    first = segments(fake_swift)
    backend.update_object("/big", b"2" * 70_000)
    second = segments(fake_swift)
    assert len(second) == 4 and not set(first) & set(second)
    backend.update_object("/big", "now small")
    assert segments(fake_swift) == []
    backend.update_object("/big", b"3" * 40_000)
    backend.delete_object("/big")
    assert segments(fake_swift) == []
    assert fake_swift.containers["bank"] == {}


def test_a_failed_large_upload_removes_its_segments_and_keeps_the_old_value(
    backend, connect, fake_swift
):
    backend.update_object("/big", b"old" * 20_000)
    before = segments(fake_swift)
    connection = connect.made[0]
    original = connection.put_object
    puts = []

    def failing_third_put(container, name, contents, **options):
        puts.append(name)
        if len(puts) == 3:
            raise client_error(503, "Service Unavailable")
        return original(container, name, contents, **options)

    connection.put_object = failing_third_put
    with pytest.raises(SwiftBankError, match="segment"):
        backend.update_object("/big", b"new" * 20_000)
    assert segments(fake_swift) == before
    connection.put_object = original
    assert backend.get_object("/big") == b"old" * 20_000


def test_segments_grow_to_stay_within_swifts_segment_count(
    monkeypatch, backend, fake_swift
):
    monkeypatch.setattr(swift_bank, "MAX_SEGMENTS", 2)
    backend.update_object("/big", b"z" * 100_000)
    assert len(segments(fake_swift)) == 2
    assert backend.get_object("/big") == b"z" * 100_000


def test_a_foreign_manifests_segments_are_never_deleted(backend, fake_swift):
    fake_swift.containers["elsewhere"] = {
        "precious": {"data": b"p", "etag": md5(b"p"), "meta": {}}}
    fake_swift.containers["bank"]["pre/foreign"] = {
        "manifest": [{"path": "/elsewhere/precious", "etag": md5(b"p"),
                      "size_bytes": 1}],
        "etag": md5(md5(b"p").encode()), "meta": {}}
    backend.delete_object("/foreign")
    assert "precious" in fake_swift.containers["elsewhere"]


def test_the_segment_container_is_made_only_when_needed(connect, fake_swift):
    backend = make_backend(connect)
    backend.update_object("/small", "v")
    assert "bank_segments" not in fake_swift.containers
    backend.update_object("/big", b"b" * 40_000)
    assert "bank_segments" in fake_swift.containers
    named = make_backend(connect, prefix="", segment_container="segs")
    named.update_object("/big", b"b" * 40_000)
    assert len(fake_swift.containers["segs"]) == 2


def test_without_create_container_nothing_is_created(connect, fake_swift):
    backend = make_backend(connect, create_container=False)
    assert fake_swift.containers == {}
    with pytest.raises(SwiftBankError, match="does the container exist") as caught:
        backend.update_object("/x", "v")
    assert caught.value.http_status == 404
    assert caught.value.operation == "write"


# --- listing ----------------------------------------------------------------


def test_listing_pages_through_swift(connect, fake_swift):
    backend = make_backend(connect, listing_page_size=3)
    keys = [f"/k/{i:02d}" for i in range(10)]
    for key in keys:
        backend.update_object(key, 1)
    backend.get_owner_id()  # its object is listed by Swift, never by the bank
    fake_swift.requests.clear()
    assert backend.list_objects() == keys
    listings = [r for r in fake_swift.requests if r[0] == "GET" and len(r) == 6]
    assert len(listings) == 4  # 3 + 3 + 3 + 2 names (the last with ~kvg-bank)
    assert backend.list_objects(prefix="/k/0", marker="/k/03", limit=4) == keys[4:8]
    assert backend.list_objects(sort_dir="desc") == keys[::-1]
    assert backend.list_objects(sort_dir="desc", marker="/k/05", limit=2) == [
        "/k/04", "/k/03"]
    assert backend.list_objects(sort_dir="desc", marker="/k/00") == []


def test_an_ascending_listing_stops_at_its_limit(connect, fake_swift):
    backend = make_backend(connect, listing_page_size=2)
    for i in range(20):
        backend.update_object(f"/k/{i:02d}", 1)
    fake_swift.requests.clear()
    assert backend.list_objects(limit=3) == ["/k/00", "/k/01", "/k/02"]
    assert len(fake_swift.requests) == 2


def test_a_descending_listing_asks_swift_for_names_before_the_marker(
    connect, fake_swift
):
    backend = make_backend(connect)
    for i in range(5):
        backend.update_object(f"/k/{i}", 1)
    fake_swift.requests.clear()
    assert backend.list_objects(prefix="/k/", marker="/k/3", sort_dir="desc") == [
        "/k/2", "/k/1", "/k/0"]
    [(_, container, prefix, marker, end_marker, _)] = fake_swift.requests
    assert (container, prefix, marker, end_marker) == ("bank", "pre/k/", None,
                                                       "pre/k/3")


# --- threads and connections ------------------------------------------------


def test_each_thread_gets_its_own_connection(connect):
    backend = make_backend(connect)
    used = []
    lock = threading.Lock()

    def work(n):
        for i in range(5):
            backend.update_object(f"/t{n}/{i}", i)
        with lock:
            used.append(backend._local.connection)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(connection) for connection in used}) == 4
    assert all(c.thread != connect.made[0].thread for c in used)
    backend.close()
    assert all(connection.closed for connection in used)


def test_a_shared_connection_is_used_by_one_thread_at_a_time(fake_swift):
    connection = FakeConnection(fake_swift)
    inside = []
    overlaps = []
    original = connection.put_object

    def watched_put(*args, **options):
        inside.append(1)
        if len(inside) > 1:
            overlaps.append(1)
        try:
            return original(*args, **options)
        finally:
            inside.pop()

    connection.put_object = watched_put
    backend = SwiftBackend("bank", connection=connection)
    threads = [threading.Thread(target=lambda n=n: [
        backend.update_object(f"/t{n}/{i}", i) for i in range(10)])
        for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert len(backend.list_objects()) == 40


# --- owner id ---------------------------------------------------------------


def test_owner_id_is_stored_once_under_the_prefix(connect, fake_swift):
    first = make_backend(connect)
    owner_id = first.get_owner_id()
    record = fake_swift.containers["bank"]["pre/~bank.json"]  # the shared name
    assert json.loads(record["data"]) == {"owner_id": owner_id, "format": 1}
    assert make_backend(connect).get_owner_id() == owner_id
    other_prefix = SwiftBackend("bank", prefix="other", connection=connect)
    assert other_prefix.get_owner_id() != owner_id


def test_a_bank_written_before_keeps_its_owner_id(connect, fake_swift):
    make_backend(connect).update_object("/x", 1)
    old = json.dumps({"owner_id": "the-old-one", "format": 1}).encode()
    fake_swift.containers["bank"]["pre/~kvg-bank.json"] = {
        "data": old, "etag": md5(old), "meta": {}}
    assert make_backend(connect).get_owner_id() == "the-old-one"
    assert "pre/~bank.json" not in fake_swift.containers["bank"]


def test_owner_id_race_keeps_the_first_writers_id(connect, fake_swift):
    backend = make_backend(connect)
    backend.update_object("/x", 1)
    connection = connect.made[0]
    original = connection.put_object

    def other_writer_first(container, name, contents, **options):
        other = json.dumps({"owner_id": "the-other", "format": 1}).encode()
        fake_swift.containers[container][name] = {
            "data": other, "etag": md5(other), "meta": {}}
        return original(container, name, contents, **options)

    connection.put_object = other_writer_first
    assert backend.get_owner_id() == "the-other"


@pytest.mark.parametrize("content", [b"not json", b'{"format": 2}',
                                     b'{"format": 1}'])
def test_damaged_bank_metadata_is_an_error(connect, fake_swift, content):
    backend = make_backend(connect)
    fake_swift.containers["bank"]["pre/~kvg-bank.json"] = {
        "data": content, "etag": md5(content), "meta": {}}
    with pytest.raises(SwiftBankError, match="damaged"):
        backend.get_owner_id()


def test_a_value_without_a_kind_is_an_error(backend, fake_swift):
    backend.update_object("/x", "v")
    fake_swift.containers["bank"]["pre/x"]["meta"] = {}
    with pytest.raises(BankError, match="unknown value kind"):
        backend.get_object("/x")


@pytest.mark.parametrize(("name", "value"), [
    ("large_object_threshold", 0), ("segment_size", -1),
    ("listing_page_size", True), ("segment_size", "1")])
def test_bad_sizes_are_refused(connect, name, value):
    with pytest.raises(BankError, match=name):
        SwiftBackend("c", connection=connect, **{name: value})


def test_auth_url_without_a_key_is_refused():
    with pytest.raises(BankError, match="user and a key"):
        SwiftBackend("c", auth_url="http://h/auth/v1.0", user="u")
