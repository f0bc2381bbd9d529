"""A fake python-glanceclient v2 client over a :class:`~.fakecloud.FakeCloud`.

It offers what the plugin uses of ``glanceclient.v2.client.Client``: the
``images`` controller (see :mod:`.glance_images`) and the ``http_client``
requests go through (see :mod:`.glance_http`), for a ``Range`` request.
"""

from karbor_volume_glance.testing.glance_http import FakeGlanceHttpClient
from karbor_volume_glance.testing.glance_images import FakeImagesController


class FakeGlanceClient:
    def __init__(self, cloud, context=None):
        self.context = context
        self.http_client = FakeGlanceHttpClient(cloud)
        self.images = FakeImagesController(cloud)
