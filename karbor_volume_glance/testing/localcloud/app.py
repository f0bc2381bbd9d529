"""The one WSGI application: route each request to a service by path prefix.

``/identity`` Keystone, ``/volume`` Cinder, ``/image`` Glance, ``/compute``
Nova (devstack's layout) and ``/_localcloud`` the fault control endpoint.
Every answer carries an ``X-OpenStack-Request-ID`` (and Nova's
``X-Compute-Request-Id``); every request is logged at debug level.
"""

import inspect
import uuid

import webob.dec
import webob.exc
from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import webutil

LOG = logging.getLogger(__name__)


class LocalCloudApp:
    def __init__(self, services):
        """``services``: path prefix (``"volume"``) -> WSGI application."""
        self.services = dict(services)
        self._direct = {}  # service -> whether it takes a webob Request

    def _respond(self, service, request):
        """The service's Response to ``request``.

        A service whose ``__call__`` is :class:`webob.dec.wsgify`'d is called
        with the request itself, as wsgify allows, instead of through WSGI
        and back into a new Response: the same answer, half the work.
        """
        direct = self._direct.get(service)
        if direct is None:
            direct = isinstance(inspect.getattr_static(service, "__call__", None),
                                webob.dec.wsgify)
            self._direct[service] = direct
        if not direct:
            return request.get_response(service)
        try:
            return service(request)
        except webob.exc.HTTPException as exc:
            return exc

    @webob.dec.wsgify
    def __call__(self, request):
        prefix = request.path_info_peek()
        service = self.services.get(prefix)
        if service is None:
            return webutil.json_response(
                {"error": {"code": 404, "message": "No service at "
                           f"{request.path!r}; services: "
                           f"{', '.join('/' + p for p in self.services)}"}},
                status=404,
            )
        method, path = request.method, request.path_qs
        request.path_info_pop()
        response = self._respond(service, request)
        request_id = f"req-{uuid.uuid4()}"
        response.headers["X-OpenStack-Request-ID"] = request_id
        if prefix == "compute":
            response.headers["X-Compute-Request-Id"] = request_id
        LOG.debug("%s %s -> %s (%s)", method, path, response.status, request_id)
        return response
