"""The local cloud's own control endpoint: arm and clear faults over HTTP.

``POST /_localcloud/faults`` with ``{"step", "fault", "times", "options"}``
arms a fault (201 with it; 400 with ``{"error": {"message"}}`` when it is not
valid), ``GET`` lists the armed ones and ``DELETE`` clears them all (204). So
another process (a test driving a console command) can inject what
``LocalCloud.inject`` does. It needs no token: the cloud listens on a
loopback address only.
"""

import webob.dec

from karbor_volume_glance.testing.localcloud import exceptions, webutil


def _error(code, message):
    return webutil.json_response({"error": {"code": code, "message": message}},
                                 status=code)


class AdminService:
    def __init__(self, faults):
        self.faults = faults

    @webob.dec.wsgify
    def __call__(self, request):
        if request.path_info.rstrip("/") != "/faults":
            return _error(404, f"no such control resource {request.path_info!r}")
        if request.method == "GET":
            return webutil.json_response({"faults": self.faults.armed()})
        if request.method == "DELETE":
            self.faults.clear()
            return webutil.empty_response(204)
        if request.method != "POST":
            return _error(405, f"method {request.method} not allowed")
        try:
            body = webutil.read_json(request)
            options = body.get("options") or {}
            if not isinstance(options, dict):
                raise ValueError("options must be an object")
            fault = self.faults.inject(body.get("step"), body.get("fault"),
                                       body.get("times", 1), **options)
        except (ValueError, TypeError, exceptions.ApiError) as exc:
            return _error(400, str(exc))
        return webutil.json_response({"fault": fault.to_dict()}, status=201)
