"""Parallel ranged downloads over HTTP (issue 16, item 2), from a local cloud
whose Glance sends each answer no faster than a cap (``stream_cap``), with
the real glanceclient and keystoneauth1.

The ranges are made small here (``download.RANGE_SIZE`` patched) so that
images of a few MiB span several; no test is timed: the concurrency is seen
by the server (how many answers it was sending at once).
"""

import hashlib
import io
import logging
import os
import threading
import types

import pytest
import yaml

from karbor_volume_glance import conf
from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.cloud import download, facade
from karbor_volume_glance.testing.localcloud import LocalCloud, throttle
from tests.functional.sites import GIB, Site

MIB = 1024 * 1024
#: Each answer's cap: 8 MiB/s, so that a 1 MiB range lasts about 1/8 s.
CAP = 8 * MIB
RANGE = MIB
#: The longest an answer is held waiting for a second one (see ``answers``).
HOLD = 10.0


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    monkeypatch.setattr(download, "RANGE_SIZE", RANGE)


@pytest.fixture
def answers(monkeypatch):
    """How many capped answers the server was sending at once, at most.

    With ``hold`` set, an answer waits after its first piece until a second
    one is open (at most :data:`HOLD` seconds): downloads made one after the
    other then show ``most == 1`` (and take that long), concurrent ones 2 or
    more, whatever the machine's speed.
    """
    seen = types.SimpleNamespace(now=0, most=0, total=0, hold=False)
    changed = threading.Condition()
    capped = throttle.capped

    def counted(pieces, rate, *args):
        with changed:
            seen.now += 1
            seen.total += 1
            seen.most = max(seen.most, seen.now)
            changed.notify_all()
        try:
            for number, piece in enumerate(capped(pieces, rate, *args)):
                yield piece
                if number == 0 and seen.hold:
                    with changed:
                        changed.wait_for(lambda: seen.most >= 2, timeout=HOLD)
        finally:
            with changed:
                seen.now -= 1

    monkeypatch.setattr(throttle, "capped", counted)
    return seen


@pytest.fixture
def site(tmp_path):
    cloud = LocalCloud(str(tmp_path / "capped"), status_delay=0.01, gib=GIB,
                       stream_cap=CAP).start()
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(yaml.safe_dump(
        {"clouds": {"capped": cloud.cloud_config()}}))
    try:
        yield Site(cloud, "capped", str(clouds_yaml))
    finally:
        cloud.stop()


def upload_image(site, data):
    image_id = site.facade.create_image("parallel-test", "raw", "bare")
    site.facade.upload_image(image_id, io.BytesIO(data), len(data))
    site.facade.wait_image(image_id)
    return image_id


def cloud_with(site, streams):
    settings = conf.Settings(poll_interval=0.01, download_streams=streams)
    return facade.Cloud(site.clients, site.context, settings)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_a_capped_image_is_read_by_several_answers_at_once(site, answers):
    data = os.urandom(6 * RANGE + 4321)
    image_id = upload_image(site, data)
    answers.hold = True
    received = b"".join(cloud_with(site, 4).image_data(image_id))
    assert sha256(received) == sha256(data)
    assert answers.total == 7  # one answer per range
    # four ranges at once; the first answer (the whole image, cut after range
    # 0 by the client) may still be sending server-side: one more
    assert 2 <= answers.most <= 4 + 1


def test_one_stream_is_one_capped_answer(site, answers):
    data = os.urandom(2 * RANGE + 1)
    image_id = upload_image(site, data)
    assert b"".join(cloud_with(site, 1).image_data(image_id)) == data
    assert (answers.total, answers.most) == (1, 1)


def test_a_break_in_one_range_is_resumed_alone_over_http(site, caplog):
    data = os.urandom(4 * RANGE + 99)
    image_id = upload_image(site, data)
    site.cloud.inject("image.data", "drop", times=1, after_bytes=RANGE // 2)
    with caplog.at_level(logging.WARNING, logger=download.__name__):
        received = b"".join(cloud_with(site, 4).image_data(image_id))
    assert sha256(received) == sha256(data)
    [resume] = [r for r in caplog.records if r.name == download.__name__]
    # glanceclient reads 1 MiB pieces: range 0 broke before its first one
    assert "broke off at byte 0 " in resume.getMessage()
    assert site.cloud.calls.count("image.data") == 5 + 1


def test_a_glance_ignoring_range_is_read_in_one_stream_over_http(site, caplog,
                                                                 answers):
    site.cloud.app.services["image"].honours_range = False
    data = os.urandom(3 * RANGE + 5)
    image_id = upload_image(site, data)
    with caplog.at_level(logging.INFO, logger=download.__name__):
        assert b"".join(cloud_with(site, 4).image_data(image_id)) == data
    assert any("in one stream" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)
    assert answers.total == 2  # the first answer, and the probe's 200


def test_protect_reads_in_ranges_and_restores_exact(site, tmp_path, answers):
    """A protect with the cap and four streams (the "GiB" is 1 MiB here, so
    the volume is four ranges of 256 KiB), then a restore: byte-exact."""
    download.RANGE_SIZE = GIB // 4  # undone by small_ranges' monkeypatch
    data = os.urandom(GIB - 17)
    volume_id = site.create_volume(data)
    answers.total, answers.hold = 0, True
    runner = site.runner(open_bank(f"file://{tmp_path}/bank"))
    protected = runner.protect([volume_id], {volume_id: {"backup_name": "p"}})
    assert protected.ok, protected.failures()
    assert answers.total == 4 and answers.most >= 2
    details = runner.show(protected.checkpoint_id)["volumes"][volume_id]
    assert details["backup_path"] == "volume"  # auto, an available volume
    restored = runner.restore(protected.checkpoint_id, {})
    assert restored.ok, restored.failures()
    new_id = restored.outcomes[0].new_volume_id
    assert site.volume_bytes(new_id)[:len(data)] == data
