"""What the local services raise: an HTTP status and a message.

The domain modules (:mod:`.identity`, :mod:`.blockstorage`, :mod:`.imagestore`,
:mod:`.compute`) raise these; each HTTP layer renders them in its own
service's error body (see :mod:`.errors`).
"""


class ApiError(Exception):
    """An error answered with ``code`` and ``message``."""

    code = 500

    def __init__(self, message, code=None, headers=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    code = 400


class Unauthorized(ApiError):
    code = 401


class Forbidden(ApiError):
    code = 403


class NotFound(ApiError):
    code = 404


class MethodNotAllowed(ApiError):
    code = 405


class NotAcceptable(ApiError):
    code = 406


class Conflict(ApiError):
    code = 409


class Gone(ApiError):
    code = 410


class UnsupportedMediaType(ApiError):
    code = 415


class RangeNotSatisfiable(ApiError):
    code = 416
