"""What a protect's job does once, not per poll or per job (issue 16).

The requests of a wait for an image, and what a conductor imports before it
is ready rather than in its first job.
"""

from karbor_volume_glance import conf
from karbor_volume_glance.cloud import facade
from karbor_volume_glance.testing import FakeCloud


def _cloud(fake):
    settings = conf.load_settings(conf.make_config(poll_interval=0.01))
    return facade.Cloud(fake.client_factory(), fake.context(), settings,
                        sleep=lambda seconds: None)


def _counting_gets(cloud, monkeypatch):
    asked = []
    images = cloud.glance.images
    real = images.get
    monkeypatch.setattr(images, "get",
                        lambda image_id: asked.append(image_id) or real(image_id))
    return asked


def test_a_waited_image_is_read_by_its_polls_alone(monkeypatch):
    """wait_image returns the image its last poll read, and image_info of
    that image asks Glance nothing more."""
    fake = FakeCloud(transition_polls=2)
    cloud = _cloud(fake)
    image_id = fake.add_image(data=b"x" * 1000)
    asked = _counting_gets(cloud, monkeypatch)
    image = cloud.wait_image(image_id)
    polls = len(asked)
    assert polls >= 1 and set(asked) == {image_id}
    assert facade._field(image, "status") == "active"
    info = cloud.image_info(image_id)
    assert len(asked) == polls
    assert info["size"] == 1000 and info["checksum"]
    # kept for one reading only: a later one asks Glance again
    assert cloud.image_info(image_id)["size"] == 1000
    assert len(asked) == polls + 1


def test_image_info_of_an_image_not_waited_for_asks_glance(monkeypatch):
    fake = FakeCloud()
    cloud = _cloud(fake)
    image_id = fake.add_image(data=b"abc")
    asked = _counting_gets(cloud, monkeypatch)
    assert cloud.image_info(image_id)["size"] == 3
    assert asked == [image_id]


def test_only_the_last_waited_image_is_kept(monkeypatch):
    """A facade keeps one waited image at most: a restore's waits (never
    followed by image_info) do not pile up in a long-lived facade."""
    fake = FakeCloud()
    cloud = _cloud(fake)
    first, second = (fake.add_image(data=b"x" * n) for n in (10, 20))
    cloud.wait_image(first)
    cloud.wait_image(second)
    assert list(cloud._active_images) == [second]
    asked = _counting_gets(cloud, monkeypatch)
    assert cloud.image_info(first)["size"] == 10
    assert asked == [first]  # no longer kept: read again
    assert cloud.image_info(second)["size"] == 20
    assert asked == [first]  # kept: no GET
