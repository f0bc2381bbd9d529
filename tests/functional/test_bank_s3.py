"""The S3 bank against a real S3 server: SeaweedFS on 127.0.0.1.

The whole bank contract runs here too (the ``backend`` fixture below replaces
the contract module's memory and file ones), with a small listing page size
so that every listing crosses pages. Then what only S3 has: multipart
uploads, checksums the server checks, listing over its pages, URLs,
credentials, and the plugin end to end with its bank in S3.
"""

import base64
import hashlib
import logging
import os
import random
import traceback
import urllib.parse

import pytest

from karbor_volume_glance.bank import Bank, listing, open_bank
from karbor_volume_glance.bank.s3 import MiB, S3Backend, S3BankError, build_client
from karbor_volume_glance.exceptions import BankError, BankObjectNotFound
from karbor_volume_glance.notifications.payload import public_location
from karbor_volume_glance.testing import objstores
from tests.functional import encrypted
from tests.functional.sites import OBJECT_SIZE
from tests.unit.bank.test_bank_contract import *  # noqa: F401,F403

#: The contract's listings cross pages of this many keys.
CONTRACT_PAGE_SIZE = 3


@pytest.fixture(autouse=True)
def no_aws_setup_of_the_machine(monkeypatch):
    """Only the credentials a test gives: nothing from the environment,
    ~/.aws or the EC2 metadata service (never asked: no traffic leaves)."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def make_backend(place, **options):
    return S3Backend(place.bucket, prefix=place.prefix,
                     **place.server.backend_options(**options))


@pytest.fixture(scope="module")
def s3_client(seaweedfs):  # noqa: F811
    """The client S3Backend builds, built once: building one takes 0.1 s."""
    options = seaweedfs.backend_options()
    return build_client(options["endpoint_url"], options["region"],
                        options["access_key"], options["secret_key"])


@pytest.fixture
def backend(s3_bucket, s3_client):  # noqa: F811 - replaces the contract's
    return make_backend(s3_bucket, page_size=CONTRACT_PAGE_SIZE,
                        client=s3_client)


@pytest.fixture
def own_backend(s3_bucket):  # noqa: F811
    """A backend with a client of its own, for tests that hook into it."""
    return make_backend(s3_bucket)


@pytest.fixture
def raw(s3_bucket):  # noqa: F811
    """A plain boto3 client to look at (or damage) the bucket directly."""
    return s3_bucket.server.client()


def damage_body(request, **_):
    """A botocore ``before-sign`` hook: flip a bit of the body after the
    backend computed its Content-MD5, as a fault on the way would."""
    body = request.body
    data = body.read() if hasattr(body, "read") else bytes(body)
    request.data = bytes([data[0] ^ 1]) + data[1:]


def count_calls(client, operation):
    calls = []
    client.meta.events.register(f"before-parameter-build.s3.{operation}",
                                lambda params, **_: calls.append(params))
    return calls


# --- multipart ----------------------------------------------------------------


def test_multipart_upload_above_the_threshold_round_trips(s3_bucket, raw):  # noqa: F811
    backend = make_backend(s3_bucket, multipart_threshold=5 * MiB,
                           part_size=5 * MiB)
    parts = count_calls(backend.client, "UploadPart")
    puts = count_calls(backend.client, "PutObject")
    value = random.Random(11).randbytes(11 * MiB + 123)
    backend.update_object("/big/value", value)
    assert [part["PartNumber"] for part in parts] == [1, 2, 3]
    assert all(part["ContentMD5"] for part in parts)
    assert puts == []
    assert backend.get_object("/big/value") == value
    head = raw.head_object(Bucket=s3_bucket.bucket,
                           Key=s3_bucket.prefix + "big/value")
    assert head["ETag"].strip('"').endswith("-3")  # stored as 3 parts
    assert head["Metadata"]["kvg-sha256"] == hashlib.sha256(value).hexdigest()
    # a JSON value above the threshold keeps its type too
    document = {"blob": "x" * (6 * MiB)}
    backend.update_object("/big/document", document)
    assert backend.get_object("/big/document") == document
    assert backend.list_objects() == ["/big/document", "/big/value"]
    uploads = raw.list_multipart_uploads(Bucket=s3_bucket.bucket,
                                         Prefix=s3_bucket.prefix)
    assert uploads.get("Uploads", []) == []


def test_a_small_value_is_one_put_with_its_md5(own_backend):
    puts = count_calls(own_backend.client, "PutObject")
    own_backend.update_object("/small", b"x" * 1000)
    [put] = puts
    digest = hashlib.md5(b"x" * 1000, usedforsecurity=False).digest()
    assert put["ContentMD5"] == base64.b64encode(digest).decode()


# --- checksums ------------------------------------------------------------------


def test_a_body_damaged_on_the_way_is_refused(own_backend, s3_bucket):  # noqa: F811
    backend = own_backend
    backend.update_object("/obj", "old")
    backend.client.meta.events.register("before-sign.s3.PutObject", damage_body)
    with pytest.raises(S3BankError) as caught:
        backend.update_object("/obj", b"new value")
    error = caught.value
    assert error.code == "BadDigest"
    assert (error.operation, error.key, error.bucket) == (
        "write", "/obj", s3_bucket.bucket)
    assert "'/obj'" in str(error) and s3_bucket.bucket in str(error)
    assert "checksum" in str(error)
    backend.client.meta.events.unregister("before-sign.s3.PutObject", damage_body)
    assert backend.get_object("/obj") == "old"

    # the control: without a checksum the same damage is stored silently
    raw = s3_bucket.server.client(checksums=False)
    raw.meta.events.register("before-sign.s3.PutObject", damage_body)
    raw.put_object(Bucket=s3_bucket.bucket, Key=s3_bucket.prefix + "control",
                   Body=b"new value")
    stored = raw.get_object(Bucket=s3_bucket.bucket,
                            Key=s3_bucket.prefix + "control")["Body"].read()
    assert stored != b"new value"


def test_a_damaged_part_is_refused_and_the_upload_aborted(s3_bucket, raw):  # noqa: F811
    backend = make_backend(s3_bucket, multipart_threshold=5 * MiB,
                           part_size=5 * MiB)
    backend.update_object("/big", b"old")
    calls = {"n": 0}

    def damage_the_second_part(request, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            damage_body(request, **kwargs)

    backend.client.meta.events.register("before-sign.s3.UploadPart",
                                        damage_the_second_part)
    aborts = count_calls(backend.client, "AbortMultipartUpload")
    with pytest.raises(S3BankError) as caught:
        backend.update_object("/big", os.urandom(11 * MiB))
    assert caught.value.code == "BadDigest"
    assert caught.value.operation == "upload part 2 of"
    assert caught.value.key == "/big"
    assert len(aborts) == 1
    uploads = raw.list_multipart_uploads(Bucket=s3_bucket.bucket,
                                         Prefix=s3_bucket.prefix)
    assert uploads.get("Uploads", []) == []
    assert backend.get_object("/big") == b"old"


def test_damage_at_rest_is_found_on_read(backend, raw, s3_bucket):  # noqa: F811
    backend.update_object("/obj", b"the value")
    name = s3_bucket.prefix + "obj"
    metadata = raw.head_object(Bucket=s3_bucket.bucket, Key=name)["Metadata"]
    raw.put_object(Bucket=s3_bucket.bucket, Key=name, Body=b"the valuE",
                   Metadata=metadata)
    with pytest.raises(BankError, match="damaged.*SHA-256") as caught:
        backend.get_object("/obj")
    assert caught.value.key == "/obj"
    raw.put_object(Bucket=s3_bucket.bucket, Key=name, Body=b"no metadata")
    with pytest.raises(BankError, match="damaged.*value kind"):
        backend.get_object("/obj")


# --- listing ----------------------------------------------------------------------

#: Keys that trip a server listing a directory tree: objects that are also
#: "directories", and siblings that sort before "/" ("-" and ".").
TRICKY_KEYS = ["/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/b-x", "/a/b.y", "/a/bb/q",
               "/a/bc", "/a/c", "/b", "/b/a", "/b-", "/c/d/e/f", "/c/d-e",
               "/c/d/e-f", "/c@x", "/c_x"] + [f"/p/{i:02d}" for i in range(12)]


@pytest.fixture
def tricky_backend(s3_bucket):  # noqa: F811
    backend = make_backend(s3_bucket, page_size=2)
    for key in TRICKY_KEYS:
        backend.update_object(key, key)
    return backend


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_listing_matches_the_shared_rules_across_pages(tricky_backend, sort_dir):
    prefixes = ["/", "/a", "/a/b", "/a/b/", "/b", "/c/d", "/z"]
    markers = [None, "/a/b", "/a/b-", "/a/b/", "/a/b/c", "/a/bb", "/c/d/e-f",
               "/p/05"]
    for prefix in prefixes:
        for marker in markers:
            for limit in (None, 2):
                expected = listing.select_keys(TRICKY_KEYS, prefix, limit,
                                               marker, sort_dir)
                got = tricky_backend.list_objects(prefix=prefix, limit=limit,
                                                  marker=marker,
                                                  sort_dir=sort_dir)
                assert got == expected, (prefix, marker, limit)


def test_paging_by_marker_returns_every_key_once(tricky_backend):
    for sort_dir in ("asc", "desc"):
        pages, marker = [], None
        while page := tricky_backend.list_objects(limit=4, marker=marker,
                                                  sort_dir=sort_dir):
            pages.extend(page)
            marker = page[-1]
        assert pages == sorted(TRICKY_KEYS, reverse=sort_dir == "desc")


def test_a_limited_listing_stops_early(s3_bucket):  # noqa: F811
    backend = make_backend(s3_bucket, page_size=1000)
    for tree in range(20):
        for leaf in range(3):
            backend.update_object(f"/t/{tree:02d}/{leaf}", b"x")
    requests = count_calls(backend.client, "ListObjectsV2")
    assert backend.list_objects(prefix="/t/", limit=4) == [
        "/t/00/0", "/t/00/1", "/t/00/2", "/t/01/0"]
    assert len(requests) == 3  # /t/, /t/00/, /t/01/: not the other 18 trees
    requests.clear()
    assert backend.list_objects(prefix="/t/", limit=2, marker="/t/17/2",
                                sort_dir="desc") == ["/t/17/1", "/t/17/0"]
    assert len(requests) == 2


def test_objects_that_are_not_bank_keys_are_not_listed(backend, raw, s3_bucket):  # noqa: F811
    backend.update_object("/a/b", "v")
    owner_id = backend.get_owner_id()
    # (SeaweedFS refuses "." and ".." parts, and folds "//" into "/")
    for name in ["a/", "a/~tmp", "a/b c", "a/b+c", "~other", "a/x/~y"]:
        raw.put_object(Bucket=s3_bucket.bucket, Key=s3_bucket.prefix + name,
                       Body=b"foreign")
    raw.put_object(Bucket=s3_bucket.bucket, Key="elsewhere/a/c", Body=b"x")
    assert backend.list_objects() == ["/a/b"]
    assert backend.list_objects(prefix="/a/") == ["/a/b"]
    assert backend.get_owner_id() == owner_id


def test_a_name_above_other_keys_is_no_object(backend):
    backend.update_object("/a/b/c", "deep")
    with pytest.raises(BankObjectNotFound):
        backend.get_object("/a/b")
    with pytest.raises(BankObjectNotFound):
        backend.delete_object("/a/b")
    with pytest.raises(BankObjectNotFound):
        backend.delete_object("/a")
    assert backend.get_object("/a/b/c") == "deep"
    backend.update_object("/a/b", "over")
    backend.delete_object("/a/b/c")
    assert backend.get_object("/a/b") == "over"
    assert backend.list_objects() == ["/a/b"]


# --- opening, owner id, errors ------------------------------------------------------


@pytest.fixture
def aws_environment(monkeypatch):
    """Credentials where boto3 looks for them: the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", objstores.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", objstores.SECRET_KEY)


def test_open_bank_by_url_with_credentials_from_the_environment(
        s3_bucket, aws_environment):  # noqa: F811
    server = s3_bucket.server
    url = (f"s3://{s3_bucket.bucket}/{s3_bucket.prefix.rstrip('/')}"
           f"?endpoint={server.endpoint_url}&region={objstores.REGION}")
    bank = open_bank(url)
    assert isinstance(bank, Bank)
    bank.update_object("/plans/p1", {"name": "p1"})
    assert bank.get_object("/plans/p1") == {"name": "p1"}
    kind, location = bank.backend.describe()
    assert kind == "s3"
    assert public_location(location) == location
    assert urllib.parse.unquote(location) == url
    again = open_bank(location)  # describe() gives a URL that opens the bank
    assert again.get_object("/plans/p1") == {"name": "p1"}
    assert again.get_owner_id() == bank.get_owner_id()
    elsewhere = open_bank(url.replace(s3_bucket.prefix.rstrip("/"), "other-prefix"))
    assert elsewhere.get_owner_id() != bank.get_owner_id()
    assert elsewhere.list_objects() == []


def test_the_owner_id_is_created_once_by_concurrent_openers(s3_bucket):  # noqa: F811
    import concurrent.futures

    backends = [make_backend(s3_bucket) for _ in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(lambda backend: backend.get_owner_id(), backends))
    assert len(ids) == 1
    assert make_backend(s3_bucket).get_owner_id() in ids


def test_create_bucket_makes_a_missing_bucket(seaweedfs, aws_environment):  # noqa: F811
    bucket = f"kvg-created-{os.urandom(4).hex()}"
    url = (f"s3://{bucket}?endpoint={seaweedfs.endpoint_url}"
           f"&region={objstores.REGION}")
    with pytest.raises(S3BankError, match="does not exist") as caught:
        open_bank(url).update_object("/x", 1)
    assert caught.value.bucket == bucket and caught.value.key == "/x"
    bank = open_bank(url + "&create_bucket=true")
    bank.update_object("/x", 1)
    assert open_bank(url + "&create_bucket=true").get_object("/x") == 1


def test_refusals_name_the_operation_key_and_bucket(s3_bucket):  # noqa: F811
    make_backend(s3_bucket).update_object("/x", "v")
    reader = make_backend(s3_bucket, access_key=objstores.READER_ACCESS_KEY,
                          secret_key=objstores.READER_SECRET_KEY)
    assert reader.get_object("/x") == "v"
    assert reader.list_objects() == ["/x"]
    with pytest.raises(S3BankError) as caught:
        reader.update_object("/x", "w")
    error = caught.value
    assert error.code == "AccessDenied"
    assert str(error).startswith(
        f"S3 bank could not write object '/x' in bucket '{s3_bucket.bucket}': "
        "AccessDenied")
    with pytest.raises(S3BankError, match="could not delete object '/x'"):
        reader.delete_object("/x")
    assert reader.get_object("/x") == "v"


def test_credentials_are_never_shown(s3_bucket, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    good = make_backend(s3_bucket)
    good.update_object("/x", "v")
    good.get_object("/x")
    with pytest.raises(BankObjectNotFound):
        good.get_object("/missing")

    access_key, secret_key = "KVGLEAKCHECKACCESS", "kvg-leak-check-secret-8d3f"
    bad = make_backend(s3_bucket, access_key=access_key, secret_key=secret_key)
    with pytest.raises(S3BankError) as caught:
        bad.update_object("/x", "w")
    assert caught.value.code == "InvalidAccessKeyId"
    shown = [str(caught.value), repr(caught.value), repr(bad), repr(good),
             str(bad.describe()), str(good.describe()),
             "".join(traceback.format_exception(caught.value))]
    for text in shown:
        for secret in (access_key, secret_key, objstores.ACCESS_KEY,
                       objstores.SECRET_KEY):
            assert secret not in text
    for record in caplog.records:
        message = record.getMessage()
        # botocore's own debug log shows the access key id (not the secret)
        # in the Authorization header; ours shows neither
        assert secret_key not in message and objstores.SECRET_KEY not in message
        if record.name.startswith("karbor_volume_glance"):
            assert access_key not in message
            assert objstores.ACCESS_KEY not in message


# --- the plugin end to end ----------------------------------------------------------

BLOCK = 4096


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_protect_and_restore_through_the_s3_bank_incrementally(
        sites, s3_bucket, aws_environment):  # noqa: F811
    server = s3_bucket.server
    bank = open_bank(f"s3://{s3_bucket.bucket}/{s3_bucket.prefix}"
                     f"?endpoint={server.endpoint_url}&region={objstores.REGION}")
    data = os.urandom(5 * OBJECT_SIZE + 1234)
    volume_id = sites.a.create_volume(data)
    runner = sites.a.runner(bank)
    full = runner.protect([volume_id], {volume_id: {"backup_name": "full"}})
    assert full.ok, full.failures()
    at_full = sites.a.volume_bytes(volume_id)

    with open(sites.a.cloud.volume_path(volume_id), "r+b") as stream:
        for offset in (3 * BLOCK, 2 * OBJECT_SIZE + 5, 9 * OBJECT_SIZE):
            stream.seek(offset)
            stream.write(os.urandom(BLOCK))
    at_incremental = sites.a.volume_bytes(volume_id)
    assert at_incremental != at_full
    incremental = runner.protect(
        [volume_id], {volume_id: {"backup_name": "incr", "incremental": True}})
    assert incremental.ok, incremental.failures()
    manifest = (runner.checkpoint(incremental.checkpoint_id)
                .get_resource_bank_section(volume_id).get_object("metadata"))
    assert manifest["incremental"] is True
    assert manifest["parent_checkpoint_id"] == full.checkpoint_id

    assert sites.b.runner(bank).verify(incremental.checkpoint_id).ok
    for checkpoint_id, expected in ((full.checkpoint_id, at_full),
                                    (incremental.checkpoint_id, at_incremental)):
        restored = sites.b.runner(bank).restore(checkpoint_id, {})
        assert restored.ok, restored.failures()
        [outcome] = restored.outcomes
        assert sha256(sites.b.volume_bytes(outcome.new_volume_id)) == sha256(
            expected)
    assert bank.list_objects(prefix="/checkpoints/")  # it is all in S3


def test_an_encrypted_bank_round_trips_through_seaweedfs(sites, s3_bucket):  # noqa: F811
    """Issue 15: format 4 through SeaweedFS S3, restored at the other site
    with the key, a flipped byte named."""
    encrypted.round_trip(sites, Bank(make_backend(s3_bucket)))
