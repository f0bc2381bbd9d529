"""Ranges read straight into their buffers over real HTTP (issue 16, item 2).

A parallel download reads each ``206`` answer with http.client's
``readinto``, below requests and urllib3 (:func:`.download._direct_source`).
These tests serve an image from a small Glance stand-in on 127.0.0.1
(:class:`http.server.ThreadingHTTPServer`, HTTP/1.1 keep-alive, plain or
TLS) that can misbehave on purpose: break an answer off, promise more or
fewer bytes than its range, or gzip its body; the client is glanceclient's
HTTPClient (endpoint and token, as Karbor builds it).
"""

import datetime
import gzip
import hashlib
import http.server
import io
import ipaddress
import os
import re
import ssl
import threading
import types

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from glanceclient.common import http as glance_http
from glanceclient.common import utils as glance_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.cloud import download, facade

IMAGE = "0b9f6c4e-readinto"
URL = download.data_url(IMAGE)
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.state.connections += 1

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        state = self.server.state
        if self.path != URL:
            self.send_error(404)
            return
        data = state.data
        match = _RANGE.match(self.headers.get("Range", ""))
        if match is None:
            start, last, status = 0, len(data) - 1, 200
        else:
            start = int(match[1])
            last = int(match[2]) if match[2] else len(data) - 1
            status = 206
        body = data[start:last + 1]
        with self.server.lock:
            state.requests.append((start, last if status == 206 else None))
            cut = state.breaks.pop(start, None) if status == 206 else None
        self.send_response(status)
        length = len(body)
        if status == 206:
            self.send_header("Content-Range",
                             f"bytes {start}-{last}/{len(data)}")
            if state.gzip:
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            if len(body) > 1000:  # not a resume's few bytes
                length = len(body) + state.extra
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if cut is not None:  # send a part, then drop the connection
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        # what Content-Length says: the range short, or with bytes after it
        self.wfile.write((body + b"\0" * max(0, length - len(body)))[:length])


def _state(data):
    return types.SimpleNamespace(data=data, breaks={}, extra=0, gzip=False,
                                 connections=0, requests=[])


def _self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that drops a connection on purpose: nothing to say


class _Glance:
    """The stand-in on a free loopback port; ``state`` says how it answers."""

    def __init__(self, tls_dir=None):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.lock = threading.Lock()
        self.server.state = _state(b"")
        self.cacert = None
        scheme = "http"
        if tls_dir is not None:
            self.cacert, key = _self_signed(tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cacert, key)
            self.server.socket = context.wrap_socket(self.server.socket,
                                                     server_side=True)
            scheme = "https"
        self.endpoint = f"{scheme}://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def serve(self, data):
        self.server.state = _state(data)
        return self.server.state

    def client(self):
        return glance_http.HTTPClient(self.endpoint, token="a-token",
                                      cacert=self.cacert)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def glance():
    server = _Glance()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_glance(tmp_path_factory):
    server = _Glance(tls_dir=tmp_path_factory.mktemp("tls"))
    yield server
    server.stop()


def read(server, client=None, streams=3, range_size=4096, retries=3,
         consume=None):
    """The image's bytes as ``parallel_download`` hands them out (each kept
    as bytes, or given to ``consume``)."""
    client = client or server.client()
    first = client.session.get(server.endpoint + URL, stream=True,
                               headers={"X-Auth-Token": "a-token"})
    body = glance_utils.IterableWithLength(
        first.iter_content(chunk_size=1024),
        int(first.headers["Content-Length"]))
    pieces = download.parallel_download(
        lambda: client, IMAGE, body, streams=streams, range_size=range_size,
        retries=retries, pauses_of=lambda: iter(lambda: 0, None),
        sleep=lambda seconds: None)
    if consume is not None:
        return consume(pieces)
    return b"".join(bytes(piece) for piece in pieces)


@pytest.fixture
def direct_reads(monkeypatch):
    """How many ranges were read with http.client's readinto."""
    made = []
    real = download._direct_source

    def recording(response, length):
        source = real(response, length)
        made.append(source is not None)
        return source

    monkeypatch.setattr(download, "_direct_source", recording)
    return made


def test_ranges_are_read_straight_from_the_socket(glance, direct_reads):
    data = os.urandom(5 * 4096 + 77)
    glance.serve(data)
    assert read(glance) == data
    assert direct_reads and all(direct_reads)


def test_a_range_read_to_its_end_gives_its_connection_back(glance):
    data = os.urandom(6 * 4096)
    state = glance.serve(data)
    assert read(glance, streams=2) == data
    # the first answer's and at most one per stream: each range after the
    # probe reuses a connection that a whole range gave back
    assert state.connections <= 1 + 2 + 1
    assert len(state.requests) == 1 + 5


def test_a_range_broken_off_is_resumed_from_its_last_byte(glance,
                                                          direct_reads):
    data = os.urandom(5 * 4096)
    state = glance.serve(data)
    state.breaks = {2 * 4096: 1000, 3 * 4096: 0}
    assert read(glance) == data
    assert (2 * 4096 + 1000, 3 * 4096 - 1) in state.requests
    assert (3 * 4096, 4 * 4096 - 1) in state.requests
    assert all(direct_reads)


def test_an_answer_promising_fewer_bytes_is_resumed(glance):
    data = os.urandom(4 * 4096)
    state = glance.serve(data)
    state.extra = -100  # Content-Length 100 short of the range
    assert read(glance, retries=8) == data
    assert (4096 + 4096 - 100, 2 * 4096 - 1) in state.requests


def test_an_answer_longer_than_its_range_fails(glance):
    data = os.urandom(4 * 4096)
    state = glance.serve(data)
    state.extra = 10
    with pytest.raises(exceptions.CloudError, match="promised 4106 bytes "
                       "for a range of 4096"):
        read(glance)


def test_an_encoded_answer_is_read_through_requests(glance, direct_reads):
    data = os.urandom(3 * 4096) + bytes(3 * 4096)
    state = glance.serve(data)
    state.gzip = True
    assert read(glance) == data
    assert direct_reads and not any(direct_reads)


def test_ranges_come_over_tls(tls_glance, direct_reads, monkeypatch):
    # requests lets these override the session's own CA file
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    data = os.urandom(5 * 4096 + 1)
    state = tls_glance.serve(data)
    state.breaks = {4096: 10}
    assert read(tls_glance) == data
    assert direct_reads and all(direct_reads)


def test_a_range_kept_by_the_consumer_is_never_written_over(glance):
    data = os.urandom(12 * 4096)
    glance.serve(data)

    def keep_views(pieces):  # views of the buffers themselves, no copy
        kept = [memoryview(piece) for piece in pieces]
        return b"".join(kept)

    assert read(glance, consume=keep_views) == data


def test_a_range_given_up_is_reused_for_a_later_one(glance, monkeypatch):
    data = os.urandom(16 * 4096)
    glance.serve(data)
    pools = []
    real = download.pool.BufferPool

    def recorded(keep):
        pools.append(real(keep))
        return pools[-1]

    monkeypatch.setattr(download.pool, "BufferPool", recorded)
    digest = hashlib.sha256()

    def hash_each(pieces):
        for piece in pieces:
            digest.update(piece)
            del piece
        return digest.hexdigest()

    assert read(glance, streams=2, consume=hash_each) == \
        hashlib.sha256(data).hexdigest()
    # two being fetched, one waiting, one handed out: no more, of 16
    assert pools[0].allocated <= 2 + 2


# real sockets on a shared machine: no deadline (no test here is timed)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture],
          max_examples=25, deadline=None, database=None)
@given(size=st.integers(1, 9000), range_size=st.integers(512, 3000),
       streams=st.integers(2, 4),
       breaks=st.dictionaries(st.integers(0, 9000), st.integers(0, 3000),
                              max_size=3))
def test_any_ranges_and_breaks_give_the_image_exactly(glance, size,
                                                      range_size, streams,
                                                      breaks):
    data = os.urandom(size)
    state = glance.serve(data)
    # only offsets a range starts at are broken (once each)
    state.breaks = {start - start % range_size: cut
                    for start, cut in breaks.items() if start < size}
    assert read(glance, streams=streams, range_size=range_size,
                retries=len(breaks) + 1) == data


def test_a_keystoneauth_session_reads_straight_from_the_socket(
        sites, direct_reads, monkeypatch):
    """The local cloud over HTTP, glanceclient's SessionClient (keystoneauth1):
    the ranges after the first are read with readinto too, byte-exact."""
    monkeypatch.setattr(download, "RANGE_SIZE", 65536)
    data = os.urandom(5 * 65536 + 3)
    site = sites.a
    image_id = site.facade.create_image("readinto", "raw", "bare")
    site.facade.upload_image(image_id, io.BytesIO(data), len(data))
    site.facade.wait_image(image_id)
    cloud = facade.Cloud(site.clients, site.context,
                         conf.Settings(poll_interval=0.01, download_streams=3))
    assert isinstance(cloud.glance.http_client, glance_http.SessionClient)
    assert b"".join(cloud.image_data(image_id, block_size=2 * 65536)) == data
    assert len(direct_reads) == 5 and all(direct_reads)
