"""The local cloud's parts on their own: sparse copies, ranges, lifecycle."""

import hashlib
import io
import os
import time

import pytest
import requests

from karbor_volume_glance.testing.localcloud import (
    LocalCloud,
    datafiles,
    glance,
    microversions,
)
from karbor_volume_glance.testing.localcloud import exceptions as lc_exc
from tests.functional.localcloud.conftest import make_cloud

MIB = 1024 * 1024


def test_copy_sparse_skips_holes_and_zero_blocks_but_hashes_them(tmp_path):
    source = tmp_path / "source"
    with open(source, "wb") as stream:
        stream.truncate(8 * MIB)
        stream.seek(3 * MIB)
        stream.write(b"\x01" * 1000)
        stream.seek(7 * MIB)
        stream.write(bytes(MIB))  # written zeros
    data = source.read_bytes()
    hashers = datafiles.new_hashers()
    with open(source, "rb") as stream:
        copied = datafiles.copy_sparse(stream, tmp_path / "dest", 8 * MIB,
                                       10 * MIB, hashers=hashers)
    assert copied == 8 * MIB
    dest = (tmp_path / "dest").read_bytes()
    assert dest == data + bytes(2 * MIB)
    assert os.stat(tmp_path / "dest").st_blocks * 512 <= 128 * 1024
    assert hashers[0].hexdigest() == hashlib.md5(data).hexdigest()
    assert hashers[1].hexdigest() == hashlib.sha512(data).hexdigest()


def test_write_stream_returns_size_and_hashes(tmp_path):
    data = os.urandom(100) + bytes(300_000) + os.urandom(100)
    size, md5, sha512 = datafiles.write_stream(io.BytesIO(data).read,
                                               tmp_path / "image", piece=65536)
    assert (size, md5, sha512) == (len(data), hashlib.md5(data).hexdigest(),
                                   hashlib.sha512(data).hexdigest())
    assert (tmp_path / "image").read_bytes() == data


def test_write_stream_keeps_data_blocks_among_zero_blocks(tmp_path):
    # a whole piece of zeros, then pieces mixing zero and data blocks (and a
    # short last block): each written block is where it belongs
    block = datafiles.BLOCK
    data = (bytes(datafiles.PIECE) + bytes(block) + b"\x02" * block
            + bytes(3 * block) + b"\x03" + bytes(block - 1) + b"\x04" * 100)
    size, md5, sha512 = datafiles.write_stream(io.BytesIO(data).read,
                                               tmp_path / "image")
    assert (size, md5, sha512) == (len(data), hashlib.md5(data).hexdigest(),
                                   hashlib.sha512(data).hexdigest())
    assert (tmp_path / "image").read_bytes() == data
    assert os.stat(tmp_path / "image").st_blocks * 512 < datafiles.PIECE


def test_hashing_in_threads_gives_the_digests_of_one_thread():
    pieces = [os.urandom(n) for n in (1, 4096, 70_000, 1 << 20, 3)]
    hashers = datafiles.new_hashers()
    with datafiles.Hashing(hashers) as hashing:
        for piece in pieces:
            hashing.update(piece)
    whole = b"".join(pieces)
    assert hashers[0].hexdigest() == hashlib.md5(whole).hexdigest()
    assert hashers[1].hexdigest() == hashlib.sha512(whole).hexdigest()


def test_hashing_passes_on_a_hasher_failure():
    class Broken:
        def update(self, data):
            raise ValueError("broken hasher")

    with pytest.raises(ValueError, match="broken hasher"):
        with datafiles.Hashing([hashlib.md5(), Broken()]) as hashing:
            hashing.update(b"x" * 5000)


def test_truncated_stops_after_the_limit():
    pieces = iter([b"abc", b"defg", b"hi"])
    assert b"".join(datafiles.truncated(pieces, 5)) == b"abcde"
    assert b"".join(datafiles.truncated(iter([b"abc"]), 0)) == b""


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-", (0, 10, "bytes 0-9/10")),
    ("bytes=2-4", (2, 3, "bytes 2-4/10")),
    ("bytes=-3", (7, 3, "bytes 7-9/10")),
    ("bytes=-30", (0, 10, "bytes 0-9/10")),
])
def test_byte_ranges_as_glance_reads_them(header, expected):
    assert glance._byte_range(header, 10) == expected


def test_unsatisfiable_ranges():
    for header in ("bytes=10-", "bytes=12-20", "bytes=a-b"):
        with pytest.raises(lc_exc.RangeNotSatisfiable):
            glance._byte_range(header, 10)


def test_microversion_negotiation():
    spec = microversions.CINDER
    assert spec.negotiate({}) == (3, 0)
    assert spec.negotiate({"OpenStack-API-Version": "compute 2.5, volume 3.7"}) == (
        3, 7)
    assert spec.negotiate({"OpenStack-API-Version": "volume latest"}) == (3, 70)
    with pytest.raises(lc_exc.NotAcceptable):
        spec.negotiate({"OpenStack-API-Version": "volume 2.9"})
    nova = microversions.NOVA
    assert nova.negotiate({"X-OpenStack-Nova-API-Version": "2.53"}) == (2, 53)
    assert nova.response_headers((2, 53))["Vary"] == (
        "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    )


def test_lifecycle(tmp_path):
    cloud = LocalCloud(tmp_path / "c", gib=MIB)
    with pytest.raises(RuntimeError):
        cloud.url  # noqa: B018
    with cloud:
        assert cloud.url.startswith("http://127.0.0.1:")
        assert cloud.auth_url == cloud.url + "/identity/v3"
        assert requests.get(cloud.auth_url).status_code == 200
        url = cloud.url
    cloud.stop()  # again: harmless
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    with pytest.raises(RuntimeError):
        cloud.start()
    with pytest.raises(ValueError):
        LocalCloud(tmp_path / "d", gib=0)
    with pytest.raises(ValueError, match="every interface"):
        LocalCloud(tmp_path / "d", host="0.0.0.0")
    with pytest.raises(ValueError):
        LocalCloud(tmp_path / "d").cloud_config(project="nobody")


def test_stop_ends_slow_work_promptly(tmp_path):
    cloud = make_cloud(tmp_path, status_delay=30)
    cinder_session = cloud.session()
    from cinderclient import client as cinder_client

    cinder = cinder_client.Client("3.1", session=cinder_session)
    cinder.volumes.create(1)
    start = time.monotonic()
    cloud.stop()
    assert time.monotonic() - start < 5


def test_custom_users(tmp_path):
    cloud = make_cloud(tmp_path, users={"alice": ("pw", "team")})
    try:
        entry = cloud.cloud_config("team")
        assert entry["auth"]["username"] == "alice"
        assert entry["auth"]["password"] == "pw"
        assert cloud.session("team").get_project_id() == cloud.project_id("team")
    finally:
        cloud.stop()
