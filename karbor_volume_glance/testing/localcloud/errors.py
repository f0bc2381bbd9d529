"""Error bodies as each real service sends them.

Cinder and Nova: ``{"itemNotFound": {"message": ..., "code": 404}}`` (the
fault names of their ``wsgi.Fault``), read by cinderclient's and
novaclient's ``exceptions.from_response``. Keystone and keystonemiddleware
(a missing or unknown token at any service): ``{"error": {"code", "title",
"message"}}`` with ``WWW-Authenticate``. Glance: WebOb's own HTTP error pages,
which glanceclient's ``exc.from_response`` reads.
"""

import webob.exc

from karbor_volume_glance.testing.localcloud import webutil

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def _title(code):
    exc_class = webob.exc.status_map.get(code)
    return exc_class.title if exc_class else "Error"


def explanation(code):
    """WebOb's generic explanation of a status, as services use by default."""
    exc_class = webob.exc.status_map.get(code)
    if exc_class is None or not getattr(exc_class, "explanation", ""):
        return "The server has either erred or is incapable of performing the "\
            "requested operation."
    return exc_class.explanation


def fault(code, message, headers=None):
    """A Cinder or Nova error response."""
    name = FAULT_NAMES.get(code, "computeFault")
    return webutil.json_response({name: {"message": message, "code": code}},
                                 status=code, headers=headers)


def keystone(code, message, headers=None):
    """A Keystone error response."""
    body = {"error": {"code": code, "title": _title(code), "message": message}}
    return webutil.json_response(body, status=code, headers=headers)


def unauthorized(identity_url, message):
    """What keystonemiddleware answers for a missing or unknown token."""
    return keystone(401, message,
                    {"WWW-Authenticate": f'Keystone uri="{identity_url}"'})


def glance(code, message, headers=None):
    """A Glance error response (a WebOb HTTP exception, rendered per Accept)."""
    exc_class = webob.exc.status_map.get(code, webob.exc.HTTPInternalServerError)
    response = exc_class(explanation=message)
    response.headers.update(headers or {})
    return response
