"""Glance of the local cloud through the real glanceclient."""

import hashlib
import io
import os

import pytest
from glanceclient import exc as glance_exc

from tests.functional.localcloud.helpers import MIB, file_bytes, image_with

IMAGE = {"service_type": "image", "interface": "public"}


def _raw(session, path, method="GET", **kwargs):
    return session.request(path, method, endpoint_filter=IMAGE, raise_exc=False,
                           **kwargs)


def _data():
    """A few MiB with a zero region in the middle."""
    return os.urandom(MIB + 17) + bytes(2 * MIB) + os.urandom(MIB // 2)


def test_the_schema_is_one_glanceclient_builds_its_model_from(glance):
    schema = glance.schemas.get("image")
    assert schema.name == "image"
    assert {"id", "name", "status", "checksum", "os_hash_value", "size",
            "visibility", "disk_format"} <= {p.name for p in schema.properties}
    with pytest.raises(TypeError):  # warlock validates against it
        glance.images.create(name="x", disk_format="nonsense")


def test_create_is_queued(glance):
    image = glance.images.create(name="img", disk_format="raw",
                                 container_format="bare", visibility="private",
                                 purpose="test")
    assert image["status"] == "queued" and image["size"] is None
    assert image["visibility"] == "private" and image["purpose"] == "test"
    assert glance.images.get(image["id"])["name"] == "img"


def test_upload_from_a_file_object_and_download(cloud, glance):
    data = _data()
    image = glance.images.create(name="file", disk_format="raw",
                                 container_format="bare")
    glance.images.upload(image["id"], io.BytesIO(data), image_size=len(data))
    image = glance.images.get(image["id"])
    assert image["status"] == "active"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    body = glance.images.data(image["id"], do_checksum=True)
    assert len(body) == len(data)
    assert b"".join(body) == data
    assert file_bytes(cloud.image_path(image["id"])) == data
    stat = os.stat(cloud.image_path(image["id"]))
    assert stat.st_blocks * 512 < len(data) - MIB  # the zeros were not written


def test_upload_from_an_iterator_is_chunked(glance, session):
    data = _data()
    image = glance.images.create(name="iter", disk_format="raw",
                                 container_format="bare")

    def pieces():
        for start in range(0, len(data), 300_000):
            yield data[start:start + 300_000]

    response = _raw(session, f"/v2/images/{image['id']}/file", "PUT",
                    data=pieces(),
                    headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 204
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    image = glance.images.get(image["id"])
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert b"".join(glance.images.data(image["id"])) == data


def test_the_download_headers(glance, session):
    data = b"0123456789" * 1000
    image_id = image_with(glance, data)
    response = _raw(session, f"/v2/images/{image_id}/file")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-MD5"] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("header, start, stop", [
    ("bytes=1000-", 1000, 10_000),
    ("bytes=10-19", 10, 20),
    ("bytes=9990-20000", 9990, 10_000),
    ("bytes=-5", 9995, 10_000),
])
def test_range_downloads(glance, session, header, start, stop):
    data = os.urandom(10_000)
    image_id = image_with(glance, data)
    response = _raw(session, f"/v2/images/{image_id}/file",
                    headers={"Range": header})
    assert response.status_code == 206
    assert response.content == data[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/10000"
    assert response.headers["Content-Length"] == str(stop - start)


def test_a_range_past_the_end_is_416(glance, session):
    image_id = image_with(glance, b"x" * 100)
    for header in ("bytes=100-", "bytes=500-600", "bytes=oops"):
        response = _raw(session, f"/v2/images/{image_id}/file",
                        headers={"Range": header})
        assert response.status_code == 416


def test_an_image_without_data_answers_204(glance, session):
    image = glance.images.create(name="empty", disk_format="raw",
                                 container_format="bare")
    assert _raw(session, f"/v2/images/{image['id']}/file").status_code == 204
    assert not glance.images.data(image["id"])


def test_upload_twice_is_409(glance):
    image_id = image_with(glance, b"once")
    with pytest.raises(glance_exc.HTTPConflict, match="active to saving"):
        glance.images.upload(image_id, io.BytesIO(b"twice"))


def test_upload_needs_octet_stream(glance, session):
    image = glance.images.create(name="t", disk_format="raw",
                                 container_format="bare")
    response = _raw(session, f"/v2/images/{image['id']}/file", "PUT",
                    data=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert glance.images.get(image["id"])["status"] == "queued"


def test_delete_and_protected_images(cloud, glance):
    image_id = image_with(glance, b"bye")
    glance.images.delete(image_id)
    with pytest.raises(glance_exc.HTTPNotFound, match=image_id):
        glance.images.get(image_id)
    assert not os.path.exists(cloud.image_path(image_id))
    protected = glance.images.create(name="keep", protected=True)
    with pytest.raises(glance_exc.HTTPForbidden, match="is protected"):
        glance.images.delete(protected["id"])
    assert glance.images.get(protected["id"])["status"] == "queued"
    updated = glance.images.update(protected["id"], protected=False, note="n")
    assert updated["protected"] is False and updated["note"] == "n"
    glance.images.delete(protected["id"])


def test_list_follows_next_pages(glance, session):
    ids = {glance.images.create(name=f"i{n}")["id"] for n in range(5)}
    assert {i["id"] for i in glance.images.list(page_size=2)} == ids
    assert len(list(glance.images.list(page_size=2, limit=3))) == 3
    first = _raw(session, "/v2/images?limit=2").json()
    assert len(first["images"]) == 2 and "marker=" in first["next"]
    last = _raw(session, "/v2/images?limit=5").json()
    assert "next" not in last
    assert {i["id"] for i in glance.images.list(filters={"name": "i3"})} == {
        next(i for i in ids if glance.images.get(i)["name"] == "i3")
    }


def test_read_only_attributes_are_403(session):
    response = _raw(session, "/v2/images", "POST", json={"name": "x", "size": 3})
    assert response.status_code == 403
