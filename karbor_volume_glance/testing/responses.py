"""HTTP responses as the real clients hand them back, for the fake clients.

The clients put a :class:`requests.Response` next to some results (Cinder's
action tuples, Glance's request-id proxies); the fakes build the same, with an
``x-openstack-request-id`` header so ``request_ids`` works as it does for real.
"""

import uuid

import requests


def make_response(status_code, headers=None):
    response = requests.Response()
    response.status_code = status_code
    response.headers["x-openstack-request-id"] = f"req-{uuid.uuid4()}"
    response.headers.update(headers or {})
    return response
