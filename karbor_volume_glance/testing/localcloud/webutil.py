"""Small WebOb helpers shared by the services: JSON in and out, empty answers."""

import json

import webob

from karbor_volume_glance.testing.localcloud import exceptions


def json_response(body, status=200, headers=None):
    response = webob.Response(status=status, content_type="application/json",
                              charset="UTF-8")
    response.body = json.dumps(body).encode("utf-8")
    response.headers.update(headers or {})
    return response


def empty_response(status=204, headers=None):
    response = webob.Response(status=status)
    response.headers.update(headers or {})
    if status in (204, 304) or status < 200:
        response.content_type = None
    return response


def read_json(request, message="Malformed request body"):
    """The request's JSON body, which must be an object."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise exceptions.BadRequest(message) from None
    if not isinstance(body, dict):
        raise exceptions.BadRequest(message)
    return body


def entity(body, key):
    """``body[key]``, which must be an object (``{"volume": {...}}``)."""
    value = body.get(key)
    if not isinstance(value, dict):
        raise exceptions.BadRequest(
            f"Missing required element '{key}' in request body."
        )
    return value
