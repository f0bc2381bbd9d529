"""Parallel ranged downloads (issue 16, item 2): ``download_streams``
concurrent Range requests, assembled in order, each range resumed on its
own; a Glance that ignores Range is read in one stream (FakeCloud door, the
real glanceclient and keystoneauth1 over the in-process WSGI app).

The ranges are made 64 KiB here (``download.RANGE_SIZE`` patched) so that
small images span several.
"""

import hashlib
import logging
import os
import threading
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance import conf, exceptions
from karbor_volume_glance.cloud import download, facade
from karbor_volume_glance.testing import FakeCloud
from tests.unit.harness import OBJECT_SIZE, Harness

RANGE = 65536
SIZE = 5 * RANGE + 1234  # six ranges, the last one short


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    monkeypatch.setattr(download, "RANGE_SIZE", RANGE)


@pytest.fixture
def cloud():
    return FakeCloud()


@pytest.fixture
def data():
    return os.urandom(SIZE)


@pytest.fixture
def image_id(cloud, data):
    return cloud.add_image(data)


@pytest.fixture
def requests_made(monkeypatch):
    """Every Range request: ``(first byte, last byte or None, thread name)``."""
    made = []
    real = download.range_request

    def recording(http_client, url, first_byte, last_byte=None):
        made.append((first_byte, last_byte, threading.current_thread().name))
        return real(http_client, url, first_byte, last_byte)

    monkeypatch.setattr(download, "range_request", recording)
    return made


def make_facade(cloud, streams=4, retries=3):
    settings = conf.Settings(poll_interval=0.001, download_retries=retries,
                             download_streams=streams)
    return facade.Cloud(cloud.client_factory(), cloud.context(), settings,
                        sleep=lambda seconds: None)


def ranges_asked(made):
    return sorted((first, last) for first, last, _ in made)


def test_an_image_comes_whole_and_in_order_from_several_ranges(
        cloud, data, image_id, requests_made):
    assert b"".join(make_facade(cloud).image_data(image_id)) == data
    # range 0 is the first answer's; each other range is one Range request
    assert ranges_asked(requests_made) == [
        (start, end - 1 if end < SIZE else None)
        for start, end in download.split_ranges(SIZE, RANGE)[1:]]
    assert cloud.calls.count("image.data") == 6
    # the probe (range 1) is asked for by the caller, the others by workers
    assert all(name.startswith("download-")
               for first, _, name in requests_made if first >= 2 * RANGE)


def test_one_stream_is_one_request(cloud, data, image_id, requests_made):
    assert b"".join(make_facade(cloud, streams=1).image_data(image_id)) == data
    assert requests_made == [] and cloud.calls.count("image.data") == 1


def test_an_image_of_one_range_is_one_request(cloud, requests_made):
    small = os.urandom(RANGE)
    image_id = cloud.add_image(small)
    assert b"".join(make_facade(cloud).image_data(image_id)) == small
    assert requests_made == []


@pytest.mark.parametrize("streams", [2, 3, 8])
def test_any_number_of_streams_gives_the_same_bytes(cloud, data, image_id,
                                                    streams):
    assert b"".join(make_facade(cloud, streams).image_data(image_id)) == data


def test_a_break_in_the_first_range_is_resumed_alone(
        cloud, data, image_id, requests_made, caplog):
    cloud.inject("image.data", "drop", after_bytes=1000)  # the first answer
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        assert b"".join(make_facade(cloud).image_data(image_id)) == data
    # one more request than without the break: range 0 from byte 1000 on
    assert ranges_asked(requests_made).count((1000, RANGE - 1)) == 1
    assert cloud.calls.count("image.data") == 7
    warnings = [r.getMessage() for r in caplog.records
                if r.name == download.__name__ and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "at byte 1000" in warnings[0]


def test_a_break_in_another_range_is_resumed_alone(
        cloud, data, image_id, requests_made):
    # the first answer whole, the second one (range 1) broken after 100 bytes
    cloud.inject("image.data", "drop", after_bytes=SIZE)
    cloud.inject("image.data", "drop", after_bytes=100)
    assert b"".join(make_facade(cloud).image_data(image_id)) == data
    asked = ranges_asked(requests_made)
    assert asked.count((RANGE, 2 * RANGE - 1)) == 1
    assert asked.count((RANGE + 100, 2 * RANGE - 1)) == 1
    assert len(asked) == 6


def test_each_range_has_its_own_retries(cloud, data, image_id):
    """Four breaks, more than the three resumes a range may take, spread
    over the first two ranges: each resumes its own and the image comes."""
    cloud.inject("image.data", "drop", after_bytes=10, times=2)
    cloud.inject("image.data", "drop", after_bytes=20, times=2)
    assert b"".join(make_facade(cloud, streams=2).image_data(image_id)) == data


def test_a_range_that_breaks_too_often_fails_naming_its_byte(cloud, image_id):
    cloud.inject("image.data", "drop", after_bytes=SIZE)  # range 0 comes whole
    cloud.inject("image.data", "drop", after_bytes=7)     # the probe: range 1
    with pytest.raises(download.DownloadInterrupted) as info:
        # range 1's resumes break at once until it gives up
        cloud.inject("image.data", "drop", after_bytes=0, times=None)
        b"".join(make_facade(cloud, streams=2, retries=1).image_data(image_id))
    assert info.value.offset == RANGE + 7  # range 1, after its one resume
    assert image_id in str(info.value)


def test_a_glance_ignoring_range_is_read_in_one_stream(
        cloud, data, image_id, requests_made, caplog):
    cloud.honours_range = False
    with caplog.at_level(logging.INFO, logger=download.__name__):
        assert b"".join(make_facade(cloud).image_data(image_id)) == data
    assert len(requests_made) == 1  # the probe, answered 200 and closed
    assert cloud.calls.count("image.data") == 2
    said = [r for r in caplog.records if "in one stream" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO
    assert image_id in said[0].getMessage()


def test_stopping_early_ends_every_worker(cloud, image_id):
    pieces = make_facade(cloud, streams=3).image_data(image_id)
    assert next(pieces)
    pieces.close()
    assert not [t for t in threading.enumerate()
                if t.name.startswith(f"download-{image_id}")]


def test_a_failed_range_request_fails_the_download(cloud, image_id):
    cloud.inject("image.data", "drop", after_bytes=SIZE)
    cloud.inject("image.data", "http", status=403)  # the probe
    with pytest.raises(exceptions.CloudError, match="403|Forbidden"):
        b"".join(make_facade(cloud).image_data(image_id))


# --- the checks of protect still catch a corrupted range ---------------------

def parallel_harness(cloud, bank):
    return Harness(cloud, bank, download_streams=4)


def test_protect_reads_in_parallel_and_restores_exact(cloud, bank,
                                                      requests_made):
    data = os.urandom(3 * RANGE + 17)
    volume_id = cloud.add_volume(data=data)
    harness = parallel_harness(cloud, bank)
    meta = harness.protect(volume_id)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert len(requests_made) == 3
    assert cloud.volume_data(harness.restore(volume_id))[:len(data)] == data


def test_a_corrupted_range_fails_the_glance_hash_check(cloud, bank):
    volume_id = cloud.add_volume(data=os.urandom(4 * OBJECT_SIZE))
    cloud.inject("image.data", "corrupt", at_byte=2 * RANGE + 5, times=None)
    with pytest.raises(exceptions.ProtectFailed) as info:
        parallel_harness(cloud, bank).protect(volume_id)
    assert isinstance(info.value.cause, exceptions.ImageIntegrityError)
    assert "sha512" in str(info.value)


def test_a_corrupted_range_fails_the_md5_check_of_an_old_glance(
        cloud, bank, monkeypatch):
    finish = cloud.images.finish_saving

    def old_glance(image, result):
        finish(image, result)
        image.os_hash_algo = image.os_hash_value = None

    monkeypatch.setattr(cloud.images, "finish_saving", old_glance)
    volume_id = cloud.add_volume(data=os.urandom(4 * OBJECT_SIZE))
    cloud.inject("image.data", "corrupt", at_byte=3 * RANGE + 1, times=None)
    with pytest.raises(exceptions.ProtectFailed) as info:
        parallel_harness(cloud, bank).protect(volume_id)
    assert isinstance(info.value.cause, exceptions.ImageIntegrityError)
    assert "md5" in str(info.value)


# --- range splitting and assembly (hypothesis) --------------------------------

@given(size=st.integers(1, 10**9), count=st.integers(0, 300),
       short=st.integers(0, 10**9))
def test_ranges_cover_the_image_in_order_without_overlap(size, count, short):
    total = max(0, count * size - short % size)
    ranges = download.split_ranges(total, size)
    assert [start for start, _ in ranges] == list(range(0, total, size))
    position = 0
    for start, end in ranges:
        assert start == position and 0 < end - start <= size
        position = end
    assert position == total
    assert all(end - start == size for start, end in ranges[:-1])


def test_a_range_size_must_be_positive():
    with pytest.raises(ValueError):
        download.split_ranges(10, 0)


class _Body(list):
    """What glanceclient's ``images.data`` returns: pieces, and a length."""

    def __init__(self, pieces, length):
        super().__init__(pieces)
        self.length = length

    def __len__(self):
        return self.length


def _pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def stub_glance(data, piece, broken=()):
    """``download.range_request`` patched: a Glance of ``data`` answering
    Range requests (206) in pieces of ``piece`` bytes, and breaking off once
    each answer that starts at one of the ``broken`` offsets."""
    broken = set(broken)

    def range_request(http_client, url, first_byte, last_byte=None):
        response = type("Answer", (), {})()
        response.status_code = 206
        last = len(data) - 1 if last_byte is None else last_byte
        response.headers = {"Content-Range":
                            f"bytes {first_byte}-{last}/{len(data)}"}

        def answer():
            pieces = _pieces(data[first_byte:last + 1], piece)
            yield from pieces[:1]
            if first_byte in broken:
                broken.discard(first_byte)
                raise ConnectionResetError("cut")
            yield from pieces[1:]
        return response, answer()
    return mock.patch.object(download, "range_request", range_request)


@given(data=st.binary(min_size=0, max_size=4096),
       range_size=st.integers(1, 700), streams=st.integers(1, 6),
       piece=st.integers(1, 300),
       breaks=st.lists(st.integers(0, 4096), max_size=4))
def test_any_split_assembles_the_image_exactly(data, range_size, streams,
                                               piece, breaks):
    """A stub Glance answers Range requests in pieces of ``piece`` bytes and
    breaks off the answers that start at one of ``breaks``' offsets once."""
    with stub_glance(data, piece, breaks):
        got = b"".join(download.parallel_download(
            lambda: None, "image", _Body(_pieces(data, piece), len(data)),
            streams=streams, range_size=range_size, retries=len(breaks) + 1,
            pauses_of=lambda: iter(lambda: 0, None), sleep=lambda s: None))
    assert got == data
