"""The fake Glance behaves as Glance's v2 API does, through glanceclient's types."""

import hashlib
import io

import pytest
from glanceclient import exc as glance_exceptions

from karbor_volume_glance.testing.fakecloud import FakeCloud
from karbor_volume_glance.testing.image_stream import DOWNLOAD_CHUNK_SIZE


@pytest.fixture
def cloud():
    return FakeCloud()


@pytest.fixture
def glance(cloud):
    return cloud.client_factory().create_client("glance", cloud.context())


class RecordingReader(io.BytesIO):
    """A file whose read sizes are remembered."""

    def __init__(self, data):
        super().__init__(data)
        self.read_sizes = []

    def read(self, size=-1):
        self.read_sizes.append(size)
        return super().read(size)


def failing_pieces(good_piece, error):
    yield good_piece
    raise error


def new_image(glance, **fields):
    return glance.images.create(
        name="img", disk_format="raw", container_format="bare", **fields
    )


# --- records -----------------------------------------------------------------


def test_created_image_has_glance_fields_by_item_and_attribute(cloud, glance):
    image = new_image(glance, backup_of="vol-1")

    assert image.id == image["id"]
    assert image["status"] == image.status == "queued"
    assert image.get("visibility") == "shared"
    assert image.protected is False
    assert (image.size, image.checksum, image.os_hash_algo) == (None, None, None)
    assert image.owner == cloud.project_id
    assert image["backup_of"] == "vol-1"
    assert {"created_at", "updated_at", "os_hash_value"} <= set(image.keys())
    assert image.request_ids[0].startswith("req-")


def test_create_refuses_what_the_schema_refuses(glance):
    with pytest.raises(TypeError):
        glance.images.create(name="img", visibility="everyone")


def test_create_refuses_read_only_attributes(glance):
    with pytest.raises(glance_exceptions.HTTPForbidden):
        glance.images.create(name="img", status="active")


def test_get_of_a_missing_image_is_glance_not_found(glance):
    with pytest.raises(glance_exceptions.HTTPNotFound):
        glance.images.get("missing")


def test_delete_removes_the_image_at_once(glance):
    image = new_image(glance)

    glance.images.delete(image.id)

    with pytest.raises(glance_exceptions.HTTPNotFound):
        glance.images.get(image.id)


def test_delete_of_a_missing_image_is_not_found(glance):
    with pytest.raises(glance_exceptions.HTTPNotFound):
        glance.images.delete("missing")


def test_delete_of_a_protected_image_is_forbidden(glance):
    image = new_image(glance, protected=True)
    with pytest.raises(glance_exceptions.HTTPForbidden):
        glance.images.delete(image.id)


def test_list_is_a_generator_filtered_by_fields(glance):
    wanted = new_image(glance, kind="backup")
    new_image(glance, kind="other")

    listing = glance.images.list(filters={"kind": "backup"})

    assert not isinstance(listing, list)
    assert [i.id for i in listing] == [wanted.id]


# --- upload ------------------------------------------------------------------


def test_upload_round_trip_keeps_bytes_and_hashes(cloud, glance):
    data = bytes(range(256)) * 1000
    image = new_image(glance)

    glance.images.upload(image.id, io.BytesIO(data))

    stored = glance.images.get(image.id)
    assert stored.status == "active"
    assert stored.size == len(data)
    assert stored.checksum == hashlib.md5(data).hexdigest()
    assert stored.os_hash_algo == "sha512"
    assert stored.os_hash_value == hashlib.sha512(data).hexdigest()
    assert b"".join(glance.images.data(image.id)) == data
    assert cloud.image_data(image.id) == data


def test_upload_reads_a_file_in_pieces(glance):
    reader = RecordingReader(b"x" * 200_000)

    glance.images.upload(new_image(glance).id, reader)

    assert len(reader.read_sizes) > 1
    assert all(size > 0 for size in reader.read_sizes)


def test_upload_takes_an_iterable_of_bytes(cloud, glance):
    image = new_image(glance)
    glance.images.upload(image.id, iter([b"ab", b"cd"]))
    assert cloud.image_data(image.id) == b"abcd"


def test_upload_shows_saving_while_reading(cloud, glance):
    image = new_image(glance)
    seen = []

    def pieces():
        seen.append(cloud.status_of("image", image.id))
        yield b"data"

    glance.images.upload(image.id, pieces())

    assert seen == ["saving"]


def test_upload_into_an_image_that_is_not_queued_conflicts(glance):
    image = new_image(glance)
    glance.images.upload(image.id, io.BytesIO(b"first"))

    with pytest.raises(glance_exceptions.HTTPConflict):
        glance.images.upload(image.id, io.BytesIO(b"second"))


def test_failed_read_leaves_image_queued_and_passes_the_error(cloud, glance):
    image = new_image(glance)
    error = RuntimeError("disk went away")

    with pytest.raises(RuntimeError) as caught:
        glance.images.upload(image.id, failing_pieces(b"start", error))

    assert caught.value is error
    assert cloud.status_of("image", image.id) == "queued"


def test_upload_refuses_a_size_that_is_not_an_integer(glance):
    with pytest.raises(TypeError):
        glance.images.upload(new_image(glance).id, io.BytesIO(b"x"), image_size="1")


# --- download ----------------------------------------------------------------


def test_data_comes_in_64k_pieces_with_length(cloud, glance):
    data = b"z" * (3 * DOWNLOAD_CHUNK_SIZE + 10)
    image_id = cloud.add_image(data)

    body = glance.images.data(image_id)

    assert DOWNLOAD_CHUNK_SIZE == 65536
    assert body.length == len(data)
    assert [len(piece) for piece in body] == [65536, 65536, 65536, 10]


def test_data_of_an_image_without_data_is_falsy_like_glanceclients(glance):
    body = glance.images.data(new_image(glance).id)

    assert not body
    assert body.__wrapped__ is None


def test_data_of_an_empty_active_image_is_an_empty_stream(cloud, glance):
    body = glance.images.data(cloud.add_image(b""))
    assert (body.length, list(body)) == (0, [])


def test_data_of_a_missing_image_is_not_found(glance):
    with pytest.raises(glance_exceptions.HTTPNotFound):
        glance.images.data("missing")
