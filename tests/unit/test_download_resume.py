"""Cloud.image_data resumes a broken-off download with Range requests (fake cloud).

The fake's ``drop`` fault breaks one answer of the ``image.data`` step; the
resume is another call of that step (``GET /v2/images/<id>/file`` with
``Range``), so each armed drop breaks one answer.
"""

import hashlib
import io
import logging
import os
import uuid

import pytest
import requests
from glanceclient import exc as glance_exc
from glanceclient.common import http as glance_http

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.cloud import download, facade
from karbor_volume_glance.testing import FakeCloud

#: The piece size the drops below are placed around (64 KiB).
DOWNLOAD_CHUNK_SIZE = 65536


def make_response(status_code, headers=None):
    """A requests Response as a stub http_client hands it back."""
    response = requests.Response()
    response.status_code = status_code
    response.headers["x-openstack-request-id"] = f"req-{uuid.uuid4()}"
    response.headers.update(headers or {})
    return response


SIZE = 5 * DOWNLOAD_CHUNK_SIZE + 1234


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cloud():
    return FakeCloud()


@pytest.fixture
def data():
    return os.urandom(SIZE)


@pytest.fixture
def image_id(cloud, data):
    return cloud.add_image(data)


class Sleeps(list):
    """A ``sleep`` that remembers its pauses instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


def make_facade(cloud, download_retries=3, poll_interval=0.001, sleep=None):
    settings = conf.Settings(poll_interval=poll_interval,
                             download_retries=download_retries)
    return facade.Cloud(cloud.client_factory(), cloud.context(), settings,
                        sleep=Sleeps() if sleep is None else sleep)


def resume_warnings(caplog):
    return [r for r in caplog.records
            if r.name == download.__name__ and r.levelno == logging.WARNING]


# --- resuming -------------------------------------------------------------------

def test_a_download_without_faults_is_one_request(cloud, data, image_id):
    assert b"".join(make_facade(cloud).image_data(image_id)) == data
    assert cloud.calls == ["image.data"]


@pytest.mark.parametrize("drops", [
    [2 * DOWNLOAD_CHUNK_SIZE + 10],
    [2 * DOWNLOAD_CHUNK_SIZE + 10, DOWNLOAD_CHUNK_SIZE - 3],
], ids=["once", "twice"])
def test_drops_mid_stream_are_resumed_byte_exact(cloud, data, image_id, drops):
    for after_bytes in drops:
        cloud.inject("image.data", "drop", after_bytes=after_bytes)
    pieces = list(make_facade(cloud).image_data(image_id))
    received = b"".join(pieces)
    assert len(received) == len(data)
    assert sha256(received) == sha256(data)
    assert cloud.calls == ["image.data"] * (len(drops) + 1)


def test_a_drop_at_byte_0_resumes_from_the_start(cloud, data, image_id):
    cloud.inject("image.data", "drop", after_bytes=0)
    assert b"".join(make_facade(cloud).image_data(image_id)) == data
    assert cloud.calls == ["image.data", "image.data"]


def test_a_drop_before_the_last_byte_fetches_just_that_byte(cloud, data, image_id):
    cloud.inject("image.data", "drop", after_bytes=len(data) - 1)
    pieces = list(make_facade(cloud).image_data(image_id))
    assert b"".join(pieces) == data
    assert pieces[-1] == data[-1:]


def test_a_drop_after_the_last_byte_needs_no_resume(cloud, data, image_id, caplog):
    cloud.inject("image.data", "drop", after_bytes=len(data))
    assert b"".join(make_facade(cloud, download_retries=0).image_data(image_id)) \
        == data
    assert cloud.calls == ["image.data"]
    assert resume_warnings(caplog) == []


def test_each_resume_is_logged_with_image_and_offset(cloud, image_id, caplog):
    cloud.inject("image.data", "drop", after_bytes=DOWNLOAD_CHUNK_SIZE + 5)
    cloud.inject("image.data", "drop", after_bytes=7)
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        b"".join(make_facade(cloud).image_data(image_id))
    first, second = [r.getMessage() for r in resume_warnings(caplog)]
    assert image_id in first and f"at byte {DOWNLOAD_CHUNK_SIZE + 5} " in first
    assert image_id in second and f"at byte {DOWNLOAD_CHUNK_SIZE + 12} " in second


def test_resumes_pause_a_little_longer_each_time(cloud, data, image_id):
    for _ in range(3):
        cloud.inject("image.data", "drop", after_bytes=100)
    sleeps = Sleeps()
    facade_ = make_facade(cloud, poll_interval=0.3, sleep=sleeps)
    assert b"".join(facade_.image_data(image_id)) == data
    assert sleeps == [0.1, 0.2, 0.3]


def test_pauses_are_capped_even_with_a_long_poll_interval(cloud, image_id):
    for _ in range(6):
        cloud.inject("image.data", "drop", after_bytes=1)
    sleeps = Sleeps()
    b"".join(make_facade(cloud, download_retries=6, poll_interval=60,
                         sleep=sleeps).image_data(image_id))
    assert len(sleeps) == 6 and max(sleeps) == download.MAX_PAUSE


# --- giving up ------------------------------------------------------------------

def test_more_drops_than_retries_fail_naming_image_and_offset(cloud, data, image_id):
    cloud.inject("image.data", "drop", after_bytes=DOWNLOAD_CHUNK_SIZE)
    cloud.inject("image.data", "drop", times=2, after_bytes=DOWNLOAD_CHUNK_SIZE)
    received = bytearray()
    with pytest.raises(exceptions.CloudError) as caught:
        for piece in make_facade(cloud, download_retries=2).image_data(image_id):
            received += piece
    error = caught.value
    assert isinstance(error, download.DownloadInterrupted)
    assert error.resource_id == image_id and error.kind == "image"
    assert error.offset == len(received) == 3 * DOWNLOAD_CHUNK_SIZE
    assert received == data[:error.offset]  # nothing twice, nothing skipped
    assert error.resumes == 2
    assert image_id in str(error) and f"byte {error.offset}" in str(error)
    assert "DroppedConnection" in str(error)
    assert cloud.calls == ["image.data"] * 3


def test_no_retries_fail_at_the_first_drop(cloud, image_id, caplog):
    cloud.inject("image.data", "drop", after_bytes=DOWNLOAD_CHUNK_SIZE + 1)
    with pytest.raises(download.DownloadInterrupted) as caught:
        b"".join(make_facade(cloud, download_retries=0).image_data(image_id))
    assert caught.value.offset == DOWNLOAD_CHUNK_SIZE + 1
    assert caught.value.resumes == 0
    assert cloud.calls == ["image.data"]
    assert resume_warnings(caplog) == []


def test_an_http_error_on_the_resume_is_not_retried(cloud, image_id):
    cloud.inject("image.data", "drop", after_bytes=10)
    cloud.inject("image.data", "exception")
    with pytest.raises(exceptions.CloudError) as caught:
        b"".join(make_facade(cloud).image_data(image_id))
    assert not isinstance(caught.value, download.DownloadInterrupted)
    assert isinstance(caught.value.__cause__, glance_exc.HTTPInternalServerError)
    assert caught.value.resource_id == image_id
    assert cloud.calls == ["image.data", "image.data"]


def test_an_image_deleted_mid_download_is_not_retried(cloud, image_id):
    cloud.inject("image.data", "drop", after_bytes=DOWNLOAD_CHUNK_SIZE)
    stream = iter(make_facade(cloud).image_data(image_id))
    next(stream)
    del cloud.state.images[image_id]
    with pytest.raises(exceptions.CloudError) as caught:
        list(stream)
    assert isinstance(caught.value.__cause__, glance_exc.HTTPNotFound)
    assert cloud.calls == ["image.data", "image.data"]


def test_a_failed_first_request_is_not_retried(cloud, image_id):
    cloud.inject("image.data", "exception")
    with pytest.raises(exceptions.CloudError):
        make_facade(cloud).image_data(image_id)
    assert cloud.calls == ["image.data"]


# --- what the first request is ----------------------------------------------------

def test_glanceclient_does_not_checksum_the_stream(cloud, data, image_id):
    # with do_checksum=True glanceclient would raise IOError at the end; the
    # caller compares the md5 itself
    cloud.inject("image.data", "corrupt", at_byte=3)
    received = b"".join(make_facade(cloud).image_data(image_id))
    assert len(received) == len(data) and received != data
    assert cloud.calls == ["image.data"]


def test_an_image_without_data_yields_nothing(cloud):
    queued = make_facade(cloud).create_image("empty", "raw", "bare")
    assert list(make_facade(cloud).image_data(queued)) == []
    assert list(make_facade(cloud).image_data(cloud.add_image(b""))) == []


# --- a server that ignores Range ----------------------------------------------------

def test_a_200_answer_to_a_resume_is_skipped_to_the_offset(cloud, data, image_id,
                                                           caplog):
    facade_ = make_facade(cloud)
    cloud.honours_range = False
    cloud.inject("image.data", "drop", after_bytes=2 * DOWNLOAD_CHUNK_SIZE + 3)
    received = b"".join(facade_.image_data(image_id))
    assert sha256(received) == sha256(data)
    messages = [r.getMessage() for r in resume_warnings(caplog)]
    assert any("ignored the Range request" in m and image_id in m
               for m in messages)


# --- answers a resume must not accept (a stub http_client) --------------------------

class StubHttpClient(glance_http.HTTPClient):
    """Answers every Range request with the given response and body.

    A glanceclient HTTPClient as Karbor builds one (an endpoint, a token and
    a requests session), whose session is the stub itself.
    """

    endpoint = "http://glance.invalid"
    auth_token = "token"
    identity_headers = None
    timeout = None

    def __init__(self, status, headers, body=(b"x",)):
        self.response = make_response(status, headers)
        self.body = list(body)
        self.requests = []
        self.session = self

    def get(self, url, headers=None, stream=False, timeout=None):
        """The session's ``get``: what was asked (path, Range) is kept."""
        self.requests.append((url.removeprefix(self.endpoint),
                              {"Range": headers["Range"]}))
        self.response.raw = io.BytesIO(b"".join(self.body))
        return self.response


def broken_body(data, after):
    yield data[:after]
    raise ConnectionResetError("connection reset by peer")


def resume_with(http_client, data=b"0123456789", after=4, retries=1):
    return b"".join(download.resumable_download(
        lambda: http_client, "img-1", broken_body(data, after), retries=retries,
        pauses=iter(lambda: 0, None), sleep=Sleeps()))


def test_the_resume_asks_for_the_rest_of_the_image():
    http_client = StubHttpClient(206, {"Content-Range": "bytes 4-9/10"},
                                 [b"4567", b"89"])
    assert resume_with(http_client) == b"0123456789"
    assert http_client.requests == [
        ("/v2/images/img-1/file", {"Range": "bytes=4-"})]


@pytest.mark.parametrize("content_range, problem", [
    ("bytes 3-9/10", "not from byte 4"),
    ("bytes 4-19/20", "no longer"),
    ("", "malformed"),
])
def test_a_wrong_content_range_fails(content_range, problem):
    body_with_length = _WithLength(broken_body(b"0123456789", 4), 10)
    http_client = StubHttpClient(206, {"Content-Range": content_range})
    with pytest.raises(exceptions.CloudError, match=problem):
        b"".join(download.resumable_download(
            lambda: http_client, "img-1", body_with_length, retries=1,
            pauses=iter(lambda: 0, None), sleep=Sleeps()))


def test_another_success_status_fails_clearly():
    with pytest.raises(exceptions.CloudError, match="HTTP 204"):
        resume_with(StubHttpClient(204, {}))


class _WithLength:
    """An iterable with a promised length, as glanceclient's download body."""

    def __init__(self, pieces, length):
        self.pieces, self.length = pieces, length

    def __iter__(self):
        return self.pieces

    def __len__(self):
        return self.length


def test_an_answer_shorter_than_promised_is_resumed():
    short = _WithLength(iter([b"0123"]), 10)
    http_client = StubHttpClient(206, {"Content-Range": "bytes 4-9/10"},
                                 [b"456789"])
    assert b"".join(download.resumable_download(
        lambda: http_client, "img-1", short, retries=1,
        pauses=iter(lambda: 0, None),
        sleep=Sleeps())) == b"0123456789"


def test_a_failed_resume_request_counts_as_a_try():
    class Unreachable(StubHttpClient):
        calls = 0

        def get(self, url, headers=None, stream=False, timeout=None):
            self.calls += 1
            raise glance_exc.CommunicationError("connection refused")

    http_client = Unreachable(206, {})
    with pytest.raises(download.DownloadInterrupted) as caught:
        resume_with(http_client, retries=3)
    assert http_client.calls == 3
    assert caught.value.offset == 4
    assert isinstance(caught.value.cause, glance_exc.CommunicationError)


# --- the fake's Range path ----------------------------------------------------------

def test_the_fake_answers_range_requests_as_glance(cloud, data, image_id):
    http_client = cloud.client_factory().create_client("glance", None).http_client
    url = f"/v2/images/{image_id}/file"
    response, body = download.range_request(http_client, url, 100)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 100-{SIZE - 1}/{SIZE}"
    assert int(response.headers["Content-Length"]) == SIZE - 100
    assert b"".join(body) == data[100:]
    response, body = http_client.get(url)
    assert response.status_code == 200 and b"".join(body) == data
    with pytest.raises(glance_exc.HTTPException, match="HTTP 416"):
        download.range_request(http_client, url, SIZE)
    with pytest.raises(glance_exc.HTTPNotFound):
        download.range_request(http_client, "/v2/images/nope/file", 0)
    response, info = http_client.get(f"/v2/images/{image_id}")
    assert info["size"] == SIZE and info["id"] == image_id
