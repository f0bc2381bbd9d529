"""What every local service does with a request before its handler runs.

Discovery documents are answered without a token. Otherwise: strip the
version (and the project id, where the URL carries one), find the route,
check the ``X-Auth-Token`` as keystonemiddleware would (401 in Keystone's
error body), negotiate the microversion, take the route's armed fault
(``slow`` waits, ``http`` answers its status), and call the handler with a
:class:`Call`. Errors are rendered by the service's own ``render_error``.
"""

import dataclasses

import webob
import webob.dec
from oslo_log import log as logging

from karbor_volume_glance.testing.localcloud import (
    errors,
    exceptions,
    faults,
    routing,
)

LOG = logging.getLogger(__name__)

_VERSION_KEY = "localcloud.api_version"


@dataclasses.dataclass
class Call:
    """One request as a handler sees it."""

    request: webob.Request
    token: object  # state.Token, or None on a public route
    version: tuple | None
    fault: faults.Fault | None
    url_project_id: str | None = None

    @property
    def failing(self):
        """Whether the request took an ``error`` fault."""
        return self.fault is not None and self.fault.kind == faults.ERROR

    @property
    def busy(self):
        """Whether the request took a ``busy`` fault (a refused deletion)."""
        return self.fault is not None and self.fault.kind == faults.BUSY

    @property
    def extra(self):
        """The ``polls`` of a ``slow`` fault: how much longer the status lasts."""
        if self.fault is not None and self.fault.kind == faults.SLOW:
            return self.fault.option("polls")
        return 0

    @property
    def corrupt_at(self):
        """The ``at_byte`` of a ``corrupt`` fault, or None."""
        if self.fault is not None and self.fault.kind == faults.CORRUPT:
            return self.fault.option("at_byte")
        return None

    @property
    def drop_after(self):
        """The ``after_bytes`` of a ``drop`` fault, or None."""
        if self.fault is not None and self.fault.kind == faults.DROP:
            return self.fault.option("after_bytes")
        return None

    def at_least(self, version):
        return self.version is not None and self.version >= version

    @property
    def host_url(self):
        return self.request.host_url


class Service:
    """A service behind a path prefix; subclasses add routes and views."""

    #: a microversions.Spec for services that have microversions
    microversions = None
    #: whether tokens must be scoped to a project (Keystone takes any token)
    needs_project = True

    def __init__(self, identity, catalog, faults_registry, jobs):
        self.identity = identity
        self.catalog = catalog
        self.faults = faults_registry
        self.jobs = jobs
        self.router = routing.Router()

    # --- for subclasses -------------------------------------------------

    def discovery(self, request):
        """A version document for ``request``, or None for an API request."""
        return None

    def api_path(self, path):
        """``(path below the version, project id in the URL or None)``."""
        return path, None

    def render_error(self, request, error):
        raise NotImplementedError

    # --- the flow ---------------------------------------------------------

    @webob.dec.wsgify
    def __call__(self, request):
        try:
            response = self.discovery(request)
            if response is None:
                response = self._handle(request)
        except exceptions.ApiError as error:
            if isinstance(error, exceptions.Unauthorized) and not error.headers:
                response = errors.unauthorized(self.catalog.url("/identity"),
                                               error.message)
            else:
                response = self.render_error(request, error)
        except Exception:
            LOG.exception("Unexpected error serving %s %s", request.method,
                          request.path)
            response = self.render_error(
                request, exceptions.ApiError(errors.explanation(500))
            )
        version = request.environ.get(_VERSION_KEY)
        if self.microversions is not None and version is not None:
            response.headers.update(self.microversions.response_headers(version))
        return response

    def _handle(self, request):
        path, url_project_id = self.api_path(request.path_info)
        route, params = self.router.match(request.method, path)
        token = None
        if route.authenticated:
            token = self.identity.lookup(request.headers.get("X-Auth-Token"))
            if token is None or (self.needs_project and token.project is None):
                raise exceptions.Unauthorized(
                    "The request you have made requires authentication."
                )
        version = None
        if self.microversions is not None:
            version = self.microversions.negotiate(request.headers)
            request.environ[_VERSION_KEY] = version
        if url_project_id is not None and url_project_id != token.project_id:
            raise exceptions.BadRequest("Malformed request url")
        fault = self._take_fault(route.step)
        call = Call(request, token, version, fault, url_project_id)
        return route.handler(call, **params)

    def _take_fault(self, step):
        fault = self.faults.take(step) if step else None
        if fault is None:
            return None
        if fault.kind == faults.SLOW:
            self.jobs.pause(fault.option("delay"))
            return fault
        if fault.kind == faults.HTTP:
            status = fault.option("status")
            raise exceptions.ApiError(
                f"Injected fault: {errors.explanation(status)} (localcloud: fault "
                f"injected at {step})",
                code=status,
                headers={"X-Localcloud-Fault": step},
            )
        return fault
