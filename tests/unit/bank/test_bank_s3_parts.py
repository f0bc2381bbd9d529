"""The S3 bank's parts that need no server: names, URLs, redaction, multipart
plans, error mapping, and the listing walk over a stubbed client
(botocore's Stubber answers instead of a server; no socket is opened)."""

import functools
import hashlib
import io
import os
import socket
import urllib.parse

import boto3
import pytest
from botocore.exceptions import NoCredentialsError, ResponseStreamingError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from karbor_volume_glance.bank import listing, open_bank
from karbor_volume_glance.bank import s3 as s3_module
from karbor_volume_glance.bank.s3 import (
    MAX_PARTS,
    MiB,
    S3Backend,
    S3BankError,
    content_md5,
    normalize_object_prefix,
    plan_parts,
)
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    InvalidBankKey,
)
from karbor_volume_glance.notifications.payload import public_location

ACCESS_KEY = "AKIAUNITTESTACCESS"
SECRET_KEY = "unit-test-secret-3c9e7f"
ENDPOINT = "http://127.0.0.1:8333"


@pytest.fixture(autouse=True)
def no_network_and_no_aws_setup(monkeypatch, tmp_path):
    """No socket is ever connected here, and no AWS setup of the machine's
    (environment, ~/.aws, the EC2 metadata service) is read."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-creds"))

    def refuse(sock, address):
        raise AssertionError(f"a unit test tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@functools.cache
def make_client():
    """One client for the module: building one takes a tenth of a second."""
    return boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def stubbed():
    """``(backend, stubber)``: a backend whose client only the Stubber answers."""
    client = make_client()
    backend = S3Backend("bucket", prefix="bank/", endpoint_url=ENDPOINT,
                        client=client, page_size=2,
                        multipart_threshold=6 * MiB, part_size=5 * MiB)
    with Stubber(client) as stubber:
        yield backend, stubber
        stubber.assert_no_pending_responses()


def body(data):
    return StreamingBody(io.BytesIO(data), len(data))


# --- multipart plans and checksums ------------------------------------------


@pytest.mark.parametrize(("size", "part_size", "expected"), [
    (0, 5 * MiB, [(0, 0)]),
    (1, 5 * MiB, [(0, 1)]),
    (5 * MiB, 5 * MiB, [(0, 5 * MiB)]),
    (11 * MiB + 3, 5 * MiB, [(0, 5 * MiB), (5 * MiB, 5 * MiB),
                             (10 * MiB, MiB + 3)]),
])
def test_plan_parts(size, part_size, expected):
    assert plan_parts(size, part_size) == expected


def test_plan_parts_grows_parts_to_stay_within_s3s_part_count():
    size = 100_000 * MiB + 1
    plan = plan_parts(size, 5 * MiB)
    assert len(plan) <= MAX_PARTS
    assert plan[0][1] % MiB == 0 and plan[0][1] >= size / MAX_PARTS
    assert sum(length for _, length in plan) == size
    assert all(offset == index * plan[0][1]
               for index, (offset, _) in enumerate(plan))
    with pytest.raises(BankError, match="larger than S3 can hold"):
        plan_parts(MAX_PARTS * 5 * 1024 * MiB + 1, 5 * MiB)


def test_content_md5_is_the_base64_md5():
    assert content_md5(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="
    assert content_md5(b"hello world") == "XrY7u+Ae7tCTyyK7j1rNww=="


# --- names --------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [
    (None, ""), ("", ""), ("/", ""), ("a", "a/"), ("/a/b/", "a/b/"),
    ("a//b", "a/b/"), ("k@rbor_1.x-y", "k@rbor_1.x-y/"),
])
def test_prefixes_are_normalised(given, expected):
    assert normalize_object_prefix(given) == expected


@pytest.mark.parametrize("prefix", ["a b", "..", "a/../b", "~bank", "a/./b", 3])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(BankError, match="prefix"):
        normalize_object_prefix(prefix)


@pytest.mark.parametrize("prefix", ["", "bank/", "a/b/"])
def test_keys_map_to_object_names_and_back(prefix):
    backend = S3Backend("bucket", prefix=prefix, client=make_client())
    for key in ["/a", "/a/b", "/a/b/c", "/x.y/z-1/@_"]:
        name = backend.object_name(key)
        assert name == prefix + key[1:]
        assert backend.bank_key(name) == key
    assert backend.bank_key(prefix + s3_module.OWNER_OBJECT) is None
    for foreign in [prefix + "a/", prefix + "a//b", prefix + "a b", prefix,
                    "elsewhere/a" if prefix else "~x", prefix + "a/~tmp"]:
        assert backend.bank_key(foreign) is None


@pytest.mark.parametrize("key", ["a/b", "/a/", "/a//b", "/", "/a/../b", "/~x", None])
def test_backend_keys_must_be_absolute_and_normalised(key):
    backend = S3Backend("bucket", client=make_client())
    with pytest.raises(InvalidBankKey):
        backend.object_name(key)


@pytest.mark.parametrize("options", [
    {"bucket": "a"}, {"bucket": "no/slash"}, {"bucket": "x" * 300},
    {"part_size": 5 * MiB - 1}, {"part_size": 6 * 1024 * MiB},
    {"part_size": 5.5 * MiB}, {"multipart_threshold": -1},
    {"multipart_threshold": 6 * 1024 * MiB}, {"page_size": 0},
    {"page_size": 1001}, {"addressing_style": "sideways"},
    {"access_key": ACCESS_KEY}, {"secret_key": SECRET_KEY},
    {"endpoint_url": "ftp://host"}, {"endpoint_url": "http://"},
])
def test_bad_arguments_are_refused(options):
    options = {"bucket": "bucket", **options}
    with pytest.raises(BankError) as caught:
        S3Backend(client=make_client(), **options)
    assert SECRET_KEY not in str(caught.value)


def test_part_size_is_at_least_5_mib():
    with pytest.raises(BankError, match="5 MiB"):
        S3Backend("bucket", part_size=MiB, client=make_client())
    assert S3Backend("bucket", part_size=5 * MiB, client=make_client())


def test_tree_pruning_around_a_marker():
    wanted = s3_module._tree_is_wanted
    assert wanted("/a/b/", None, False) and wanted("/a/b/", None, True)
    assert wanted("/a/b/", "/a/b/c", False) and wanted("/a/b/", "/a/b/c", True)
    assert wanted("/a/b/", "/a/b", False) and not wanted("/a/b/", "/a/b", True)
    assert wanted("/a/b/", "/a/b-", False) and not wanted("/a/b/", "/a/b-", True)
    assert not wanted("/a/b/", "/a/c", False) and wanted("/a/b/", "/a/c", True)


# --- URLs, describe() and credentials ---------------------------------------------


def from_url(url):
    return S3Backend.from_url(urllib.parse.urlsplit(url))


def test_from_url_reads_the_bucket_prefix_and_options():
    backend = from_url(
        "s3://my-bucket/karbor/site-a?endpoint=http://127.0.0.1:8333"
        "&region=eu-west-1&addressing_style=virtual&create_bucket=false"
        "&multipart_threshold=10485760&part_size=5242880&page_size=100")
    assert (backend.bucket, backend.prefix) == ("my-bucket", "karbor/site-a/")
    assert backend._multipart_threshold == 10 * MiB
    assert backend._part_size == 5 * MiB
    assert backend._page_size == 100
    assert backend.client.meta.endpoint_url == "http://127.0.0.1:8333"
    assert backend.client.meta.region_name == "eu-west-1"
    kind, location = backend.describe()
    assert kind == "s3"
    assert location == ("s3://my-bucket/karbor/site-a?endpoint=http%3A%2F%2F"
                        "127.0.0.1%3A8333&region=eu-west-1&addressing_style=virtual")
    assert public_location(location) == location
    again = from_url(location)
    assert again.describe() == backend.describe()


def test_from_url_with_no_prefix_and_no_options():
    backend = from_url("s3://bucket")
    assert backend.prefix == ""
    assert backend.describe() == ("s3", "s3://bucket/")
    assert backend.client.meta.endpoint_url == "https://s3.amazonaws.com"
    assert from_url("s3://bucket/").prefix == ""


def test_an_endpoint_without_a_region_signs_for_us_east_1():
    backend = from_url("s3://bucket/p?endpoint=http://127.0.0.1:8333")
    assert backend.client.meta.region_name == "us-east-1"
    assert backend.describe()[1].endswith("&region=us-east-1")


def test_open_bank_finds_the_s3_backend():
    bank = open_bank("s3://bucket/p?endpoint=http://127.0.0.1:1&region=us-east-1")
    assert isinstance(bank.backend, S3Backend)
    assert bank.backend.prefix == "p/"


@pytest.mark.parametrize("url", [
    f"s3://{ACCESS_KEY}:{SECRET_KEY}@bucket/p",
    f"s3://{SECRET_KEY}@bucket/p",
    f"s3://bucket/p?aws_secret_access_key={SECRET_KEY}",
    f"s3://bucket/p?access_key={SECRET_KEY}",
    f"s3://bucket/p?endpoint=http://{ACCESS_KEY}:{SECRET_KEY}@127.0.0.1:8333",
    f"s3://bucket/p?endpoint=http://127.0.0.1:8333&session_token={SECRET_KEY}",
])
def test_urls_with_credentials_are_refused_without_repeating_them(url):
    with pytest.raises(BankError, match="credentials") as caught:
        from_url(url)
    assert SECRET_KEY not in str(caught.value)
    assert ACCESS_KEY not in str(caught.value)


@pytest.mark.parametrize(("url", "message"), [
    ("s3://bucket/p?colour=blue", "unknown S3 bank URL parameter"),
    ("s3://bucket/p?region=a&region=b", "given twice"),
    ("s3://bucket/p?create_bucket=maybe", "true or false"),
    ("s3://bucket/p?part_size=16MiB", "whole number"),
    ("s3://bucket/p?part_size=1024", "5 MiB"),
    ("s3://bucket/p#frag", "fragment"),
    ("s3://bucket:9000/p", "without a port"),
    ("s3:///p", "names a bucket"),
    ("s3://bucket/a b", "prefix"),
    ("s3://bucket/p?endpoint=file:///x", "http"),
])
def test_bad_urls_are_refused(url, message):
    with pytest.raises(BankError, match=message):
        from_url(url)


def test_repr_and_describe_show_no_credentials():
    backend = S3Backend("bucket", prefix="p", endpoint_url=ENDPOINT,
                        access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    shown = repr(backend) + str(backend.describe())
    assert "bucket" in shown and ENDPOINT in shown
    assert ACCESS_KEY not in shown and SECRET_KEY not in shown
    assert SECRET_KEY not in repr(vars(backend))


def test_no_credentials_is_a_clear_error():
    backend = S3Backend("bucket", client=make_client())
    error = backend._error("write", NoCredentialsError(), key="/k")
    assert isinstance(error, S3BankError)
    assert str(error) == (
        "S3 bank could not write object '/k' in bucket 'bucket': no S3 "
        "credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "(or configure a boto3 profile or role)")


# --- requests, through the Stubber --------------------------------------------------


def test_a_write_sends_the_value_its_md5_kind_and_sha256(stubbed):
    backend, stubber = stubbed
    payload = b'{"x": 1}'
    stubber.add_response("put_object", {"ETag": '"x"'}, {
        "Bucket": "bucket", "Key": "bank/a/b", "Body": payload,
        "ContentMD5": content_md5(payload), "ContentType": "application/json",
        "Metadata": {"kvg-kind": "json", "kvg-format": "1",
                     "kvg-sha256": hashlib.sha256(payload).hexdigest()},
    })
    backend.update_object("/a/b", {"x": 1})


def test_a_large_write_goes_in_parts_each_with_its_md5(stubbed):
    backend, stubber = stubbed
    value = bytes(range(256)) * (11 * MiB // 256)
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"},
                         {"Bucket": "bucket", "Key": "bank/big", "Metadata": ANY,
                          "ContentType": "application/octet-stream"})
    for number, (offset, length) in enumerate(plan_parts(len(value), 5 * MiB), 1):
        part = value[offset:offset + length]
        stubber.add_response("upload_part", {"ETag": f'"e{number}"'}, {
            "Bucket": "bucket", "Key": "bank/big", "UploadId": "u1",
            "PartNumber": number, "Body": part, "ContentMD5": content_md5(part)})
    stubber.add_response("complete_multipart_upload", {}, {
        "Bucket": "bucket", "Key": "bank/big", "UploadId": "u1",
        "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": f'"e{n}"'}
                                      for n in (1, 2, 3)]}})
    backend.update_object("/big", value)


def test_a_failed_part_aborts_the_upload(stubbed):
    backend, stubber = stubbed
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"})
    stubber.add_response("upload_part", {"ETag": '"e1"'})
    stubber.add_client_error("upload_part", "InternalError", "disk on fire", 500)
    stubber.add_response("abort_multipart_upload", {},
                         {"Bucket": "bucket", "Key": "bank/big", "UploadId": "u1"})
    with pytest.raises(S3BankError) as caught:
        backend.update_object("/big", b"x" * (7 * MiB))
    error = caught.value
    assert (error.operation, error.key, error.bucket, error.code) == (
        "upload part 2 of", "/big", "bucket", "InternalError")
    assert str(error) == ("S3 bank could not upload part 2 of object '/big' in "
                          "bucket 'bucket': InternalError: disk on fire")


def test_a_failed_abort_keeps_the_first_error(stubbed, caplog):
    backend, stubber = stubbed
    stubber.add_response("create_multipart_upload", {"UploadId": "u1"})
    stubber.add_client_error("upload_part", "BadDigest", "md5 mismatch", 400)
    stubber.add_client_error("abort_multipart_upload", "AccessDenied", "no", 403)
    with pytest.raises(S3BankError, match="BadDigest.*checksum"):
        backend.update_object("/big", b"x" * (7 * MiB))
    assert "Could not abort the failed multipart upload of bank object /big" in (
        caplog.text)


def test_read_checks_kind_and_sha256(stubbed):
    backend, stubber = stubbed
    data = "ünï".encode()
    metadata = {"kvg-kind": "str", "kvg-sha256": hashlib.sha256(data).hexdigest()}
    stubber.add_response("get_object", {"Body": body(data), "Metadata": metadata},
                         {"Bucket": "bucket", "Key": "bank/k"})
    assert backend.get_object("/k") == "ünï"
    stubber.add_response("get_object", {"Body": body(data + b"!"),
                                        "Metadata": metadata})
    with pytest.raises(BankError, match="does not match its SHA-256"):
        backend.get_object("/k")
    stubber.add_response("get_object", {"Body": body(data), "Metadata": {}})
    with pytest.raises(BankError, match="no known value kind"):
        backend.get_object("/k")


def test_a_read_that_breaks_off_is_tried_again(stubbed):
    backend, stubber = stubbed

    class Broken(io.BytesIO):
        def read(self, *args):
            raise ResponseStreamingError(error="connection reset")

    stubber.add_response("get_object", {"Body": Broken(b"x"),
                                        "Metadata": {"kvg-kind": "bytes"}})
    stubber.add_response("get_object", {"Body": body(b"x"),
                                        "Metadata": {"kvg-kind": "bytes"}})
    assert backend.get_object("/k") == b"x"


def test_missing_objects_and_buckets(stubbed):
    backend, stubber = stubbed
    stubber.add_client_error("get_object", "NoSuchKey", "gone", 404)
    with pytest.raises(BankObjectNotFound) as caught:
        backend.get_object("/k")
    assert caught.value.key == "/k"
    # S3 would delete a missing object quietly: the HEAD catches it first
    stubber.add_client_error("head_object", "404", "", 404,
                             expected_params={"Bucket": "bucket", "Key": "bank/k"})
    with pytest.raises(BankObjectNotFound):
        backend.delete_object("/k")
    stubber.add_client_error("get_object", "NoSuchBucket", "nope", 404)
    with pytest.raises(S3BankError) as caught:
        backend.get_object("/k")
    assert str(caught.value) == ("S3 bank could not read object '/k' in bucket "
                                 "'bucket': NoSuchBucket: bucket 'bucket' does "
                                 "not exist")
    stubber.add_client_error("head_object", "403", "", 403)
    with pytest.raises(S3BankError, match="could not delete object '/k'.*Forbidden"):
        backend.delete_object("/k")


def test_delete_asks_then_deletes(stubbed):
    backend, stubber = stubbed
    stubber.add_response("head_object", {}, {"Bucket": "bucket", "Key": "bank/k"})
    stubber.add_response("delete_object", {}, {"Bucket": "bucket", "Key": "bank/k"})
    backend.delete_object("/k")


def level(prefix, files=(), trees=(), token=None, next_token=None):
    """A stubbed ListObjectsV2 exchange for one page of one level."""
    response = {"Contents": [{"Key": name} for name in files],
                "CommonPrefixes": [{"Prefix": name} for name in trees],
                "IsTruncated": next_token is not None}
    if next_token:
        response["NextContinuationToken"] = next_token
    expected = {"Bucket": "bucket", "Prefix": prefix, "Delimiter": "/",
                "MaxKeys": 2}
    if token:
        expected["ContinuationToken"] = token
    return "list_objects_v2", response, expected


def test_listing_sorts_what_the_server_sends_in_any_order(stubbed):
    backend, stubber = stubbed
    # a tree-walking server: "a/b/" before "a/b-x", pages of two
    stubber.add_response(*level("bank/a/", ["bank/a/b"], ["bank/a/b/"],
                                next_token="t1"))
    stubber.add_response(*level("bank/a/", ["bank/a/b-x", "bank/a/~tmp"],
                                token="t1", next_token="t2"))
    stubber.add_response(*level("bank/a/", ["bank/a/b c"], ["bank/a/x y/"],
                                token="t2"))
    stubber.add_response(*level("bank/a/b/", ["bank/a/b/c"]))
    assert backend.list_objects(prefix="/a/") == ["/a/b", "/a/b-x", "/a/b/c"]


def test_a_limited_listing_lists_no_more_than_it_needs(stubbed):
    backend, stubber = stubbed
    stubber.add_response(*level("bank/", [], ["bank/a/", "bank/b/", "bank/c/"]))
    stubber.add_response(*level("bank/c/", ["bank/c/1", "bank/c/2"]))
    assert backend.list_objects(limit=1, sort_dir="desc") == ["/c/2"]
    stubber.add_response(*level("bank/", [], ["bank/a/", "bank/b/", "bank/c/"]))
    stubber.add_response(*level("bank/b/", ["bank/b/1"]))
    # /a/ lies wholly before the marker: it is never listed
    assert backend.list_objects(marker="/b", limit=1) == ["/b/1"]
    assert backend.list_objects(limit=0) == []


def test_listing_prefixes_no_key_can_have_list_nothing(stubbed):
    backend, _ = stubbed
    for prefix in ["a", "/a//b", "/../x", "/~x/"]:
        assert backend.list_objects(prefix=prefix) == []


def test_a_server_repeating_its_token_is_an_error(stubbed):
    backend, stubber = stubbed
    stubber.add_response(*level("bank/", ["bank/a"], next_token="same"))
    stubber.add_response(*level("bank/", ["bank/b"], token="same",
                                next_token="same"))
    with pytest.raises(S3BankError, match="same continuation token"):
        backend.list_objects()


def test_list_errors_name_the_prefix_and_bucket(stubbed):
    backend, stubber = stubbed
    stubber.add_client_error("list_objects_v2", "AccessDenied", "Access Denied",
                             403)
    with pytest.raises(S3BankError) as caught:
        backend.list_objects(prefix="/plans/")
    assert str(caught.value) == ("S3 bank could not list the objects under "
                                 "'/plans/' in bucket 'bucket': AccessDenied: "
                                 "Access Denied")
    assert caught.value.operation == "list"


def test_the_owner_id_is_created_once_and_then_read(stubbed):
    backend, stubber = stubbed
    stubber.add_client_error("get_object", "NoSuchKey", "", 404,
                             expected_params={"Bucket": "bucket",
                                              "Key": "bank/~bank.json"})
    stubber.add_client_error("put_object", "PreconditionFailed", "exists", 412)
    stubber.add_response("get_object", {
        "Body": body(b'{"owner_id": "the-winner", "format": 1}')})
    assert backend.get_owner_id() == "the-winner"
    assert backend.get_owner_id() == "the-winner"  # cached: no more requests


def test_listing_rules_match_the_shared_ones_on_a_stubbed_tree(stubbed):
    """The walk's marker and prefix handling, against select_keys."""
    backend, stubber = stubbed
    tree = {"bank/": (["bank/a"], ["bank/a/"]),
            "bank/a/": (["bank/a/b", "bank/a/b-x"], ["bank/a/b/"]),
            "bank/a/b/": (["bank/a/b/c"], [])}
    every_key = ["/a", "/a/b", "/a/b-x", "/a/b/c"]
    for marker in [None, "/a", "/a/b", "/a/b-x", "/a/b/", "/a/b/c", "/b"]:
        for sort_dir in ("asc", "desc"):
            expected = listing.select_keys(every_key, "/", None, marker, sort_dir)
            for prefix in [p for p in tree if _wanted(p, marker, sort_dir)]:
                files, trees = tree[prefix]
                stubber.add_response(*level(prefix, files, trees))
            assert backend.list_objects(marker=marker, sort_dir=sort_dir) == (
                expected), (marker, sort_dir)


def _wanted(s3_prefix, marker, sort_dir):
    """Whether the walk lists the level ``s3_prefix`` for this marker."""
    if s3_prefix == "bank/":
        return True
    tree = "/" + s3_prefix[len("bank/"):]
    parent = tree[: tree[:-1].rfind("/") + 1]
    return (_wanted("bank" + parent, marker, sort_dir)
            and s3_module._tree_is_wanted(tree, marker, sort_dir == "desc"))
