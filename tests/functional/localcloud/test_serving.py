"""The HTTP door's bodies over a real socket (issue 16).

waitress sends an answer's large ``bytes`` pieces from the pieces themselves
(:class:`~karbor_volume_glance.testing.localcloud.server.Piece`) and copies
anything else. Whatever the pieces' sizes and kinds, what the client reads
is the answer's bytes (also when the app reuses its buffers: the unit test
of waitress's channel, test_localcloud_server, holds the socket full to
catch a reused buffer deterministically), and Glance's ranged downloads of
an image of several pieces give the image's bytes for any range, capped or
not, with its Content-Range and Content-MD5.
"""

import hashlib
import random
import urllib.parse

import glanceclient
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from karbor_volume_glance.testing.localcloud import server
from tests.functional.localcloud.conftest import make_cloud
from tests.functional.localcloud.helpers import MIB, image_with
from tests.unit.test_localcloud_server import reused_buffer_body

BLOB = random.Random(16).randbytes(3 * MIB + 123)
IMAGE = {"service_type": "image", "interface": "public"}
EXAMPLES = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def pieces_app(environ, start_response):
    """``BLOB`` cut at ``sizes`` (cycled), as fresh bytes or, with ``reuse``,
    as one bytearray rewritten for every piece."""
    query = urllib.parse.parse_qs(environ["QUERY_STRING"])
    sizes = [int(size) for size in query["sizes"][0].split(",")]
    reuse = query.get("reuse") == ["1"]
    headers = [("Content-Type", "application/octet-stream")]
    chunked = query.get("chunked") == ["1"]
    if not chunked:  # else waitress frames it in chunks
        headers.append(("Content-Length", str(len(BLOB))))
    start_response("200 OK", headers)

    # (waitress's chunks add bytes to each piece: no views)
    return reused_buffer_body(BLOB, sizes, fresh=not reuse, views=not chunked)


@pytest.fixture(scope="module")
def pieces_url():
    background = server.BackgroundServer(pieces_app, threads=4)
    background.start()
    try:
        yield f"http://127.0.0.1:{background.port}/"
    finally:
        background.stop()


@EXAMPLES
@given(sizes=st.lists(st.sampled_from([1000, server.PIECE_MIN - 1,
                                       server.PIECE_MIN, 300_000, MIB,
                                       MIB + 1, 5 * MIB]),
                      min_size=1, max_size=6),
       reuse=st.booleans(), chunked=st.booleans())
def test_the_body_is_the_pieces_bytes_in_order(pieces_url, sizes, reuse,
                                                chunked):
    query = urllib.parse.urlencode({"sizes": ",".join(map(str, sizes)),
                                    "reuse": int(reuse),
                                    "chunked": int(chunked)})
    response = requests.get(f"{pieces_url}?{query}", timeout=60)
    assert response.status_code == 200
    assert (response.headers.get("Transfer-Encoding") == "chunked") == chunked
    assert response.content == BLOB


@pytest.fixture(scope="module", params=[None, 50 * MIB], ids=["uncapped",
                                                               "capped"])
def glance_image(request, tmp_path_factory):
    """A LocalCloud (capped or not) and an image of ``BLOB``."""
    cloud = make_cloud(tmp_path_factory.mktemp("serving"),
                       stream_cap=request.param)
    try:
        session = cloud.session("admin")
        image_id = image_with(glanceclient.Client("2", session=session), BLOB)
        yield session, image_id
    finally:
        cloud.stop()


@EXAMPLES
@given(start=st.integers(min_value=0, max_value=len(BLOB) - 1),
       length=st.integers(min_value=1, max_value=len(BLOB)))
def test_every_range_of_an_image_is_the_image_s_bytes(glance_image, start,
                                                       length):
    session, image_id = glance_image
    stop = min(start + length, len(BLOB))
    response = session.request(
        f"/v2/images/{image_id}/file", "GET", endpoint_filter=IMAGE,
        headers={"Range": f"bytes={start}-{stop - 1}"}, raise_exc=False)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == (
        f"bytes {start}-{stop - 1}/{len(BLOB)}")
    assert response.headers["Content-MD5"] == hashlib.md5(BLOB).hexdigest()
    assert response.content == BLOB[start:stop]


def test_a_whole_image_is_the_image_s_bytes(glance_image):
    session, image_id = glance_image
    response = session.request(f"/v2/images/{image_id}/file", "GET",
                               endpoint_filter=IMAGE, raise_exc=False)
    assert response.status_code == 200
    assert response.content == BLOB
