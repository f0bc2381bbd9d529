"""Karbor's ClientFactory interface, handing out fake clients of one cloud."""

from karbor_volume_glance.testing.fake_cinder import FakeCinderClient
from karbor_volume_glance.testing.fake_glance import FakeGlanceClient
from karbor_volume_glance.testing.fake_nova import FakeNovaClient

_CLIENTS = {
    "cinder": FakeCinderClient,
    "glance": FakeGlanceClient,
    "nova": FakeNovaClient,
}


class FakeClientFactory:
    """``create_client(service, context)`` as Karbor's ClientFactory offers it."""

    def __init__(self, cloud):
        self.cloud = cloud

    def create_client(self, service, context, **kwargs):
        """A new fake client of ``service`` (cinder, glance or nova)."""
        try:
            client_class = _CLIENTS[service]
        except KeyError:
            raise ValueError(
                f"the fake cloud has no service {service!r}; "
                f"it has: {', '.join(_CLIENTS)}"
            ) from None
        return client_class(self.cloud, context)
