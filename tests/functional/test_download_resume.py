"""A broken-off image download is resumed over HTTP with the real glanceclient.

The local cloud's ``drop`` fault closes the connection after ``after_bytes``
bytes of one ``GET /v2/images/<id>/file``; the resume is a ``Range`` request
of the same step, so each armed fault breaks one answer (``times=1``).
"""

import hashlib
import io
import logging
import os

import glanceclient
import pytest
import requests
from glanceclient.common import http as glance_http

from karbor_volume_glance import conf
from karbor_volume_glance.cloud import download, facade
from tests.functional.sites import GIB, OBJECT_SIZE

MIB = 1024 * 1024


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def upload_image(site, data):
    image_id = site.facade.create_image("resume-test", "raw", "bare")
    site.facade.upload_image(image_id, io.BytesIO(data), len(data))
    site.facade.wait_image(image_id)
    return image_id


def cloud_with(site, download_retries):
    settings = conf.Settings(poll_interval=0.01, download_retries=download_retries)
    return facade.Cloud(site.clients, site.context, settings)


def test_a_dropped_download_is_resumed_byte_exact(sites, caplog):
    data = os.urandom(4 * MIB + 123)
    image_id = upload_image(sites.a, data)
    sites.a.cloud.inject("image.data", "drop", times=1, after_bytes=2 * MIB + 7)
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        received = b"".join(sites.a.facade.image_data(image_id))
    assert sha256(received) == sha256(data)
    [resume] = [r for r in caplog.records if r.name == download.__name__]
    assert resume.levelno == logging.WARNING
    assert image_id in resume.getMessage() and "byte 2097152" in resume.getMessage()


class EndpointGlanceFactory:
    """Glance clients made as Karbor makes them: an endpoint and a token."""

    def __init__(self, site):
        session = site.clients.session
        self.endpoint = session.get_endpoint(service_type="image",
                                             interface="public")
        self.token = session.get_token()

    def create_client(self, service, context):
        assert service == "glance"
        # as Karbor does: the version apart (the endpoint's path is /image)
        return glanceclient.Client("2", endpoint=self.endpoint, token=self.token)


@pytest.mark.filterwarnings("ignore:`version` keyword is being deprecated")
def test_a_glance_client_with_endpoint_and_token_resumes_too(sites):
    data = os.urandom(3 * MIB + 99)
    image_id = upload_image(sites.a, data)
    cloud = facade.Cloud(EndpointGlanceFactory(sites.a), sites.a.context,
                         conf.Settings(poll_interval=0.01))
    assert isinstance(cloud.glance.http_client, glance_http.HTTPClient)
    sites.a.cloud.inject("image.data", "drop", times=1, after_bytes=MIB + 1)
    sites.a.cloud.inject("image.data", "drop", times=1, after_bytes=MIB + 2)
    received = b"".join(cloud.image_data(image_id))
    assert sha256(received) == sha256(data)


def test_a_resume_that_drops_too_is_resumed_again(sites):
    data = os.urandom(3 * MIB)
    image_id = upload_image(sites.a, data)
    sites.a.cloud.inject("image.data", "drop", times=1, after_bytes=MIB + 5)
    sites.a.cloud.inject("image.data", "drop", times=1, after_bytes=MIB // 2)
    received = b"".join(cloud_with(sites.a, 2).image_data(image_id))
    assert sha256(received) == sha256(data)


def test_without_retries_the_drop_fails_naming_image_and_offset(sites):
    data = os.urandom(3 * MIB)
    image_id = upload_image(sites.a, data)
    sites.a.cloud.inject("image.data", "drop", times=1, after_bytes=2 * MIB + 1)
    received = bytearray()
    with pytest.raises(download.DownloadInterrupted) as caught:
        for piece in cloud_with(sites.a, 0).image_data(image_id):
            received += piece
    error = caught.value
    # glanceclient hands out 1 MiB pieces: the broken third one never arrives
    assert error.offset == len(received) == 2 * MIB
    assert error.resource_id == image_id and image_id in str(error)
    assert isinstance(error.cause, requests.exceptions.ChunkedEncodingError)


def test_protect_with_a_dropped_download_restores_byte_exact(sites, bank):
    data = os.urandom(3 * GIB - 4321)
    volume_id = sites.a.create_volume(data, size=3)
    sites.a.cloud.inject("image.data", "drop", times=1,
                         after_bytes=GIB + OBJECT_SIZE + 11)
    runner = sites.a.runner(bank)
    protected = runner.protect([volume_id], {volume_id: {"backup_name": "b"}})
    assert protected.ok, protected.failures()
    restored = runner.restore(protected.checkpoint_id, {})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert sites.a.volume_bytes(new_id) == sites.a.volume_bytes(volume_id)
    assert sites.a.volume_bytes(new_id)[:len(data)] == data
