"""A fake python-glanceclient v2 client over a :class:`~.fakecloud.FakeCloud`.

It offers what the plugin uses of ``glanceclient.v2.client.Client``: the
``images`` controller (see :mod:`.glance_images`).
"""

from karbor_volume_glance.testing.glance_images import FakeImagesController


class FakeGlanceClient:
    def __init__(self, cloud, context=None):
        self.context = context
        self.images = FakeImagesController(cloud)
