"""Route a service's requests by method and path template to its handlers.

``router.add("GET", "/volumes/{volume_id}", handler, step="volume.get")``;
:meth:`Router.match` answers the route and the template's values, 404 for a
path no route has and 405 for a path known under other methods.
"""

import dataclasses
import re

from karbor_volume_glance.testing.localcloud import exceptions

_FIELD = re.compile(r"\{(\w+)\}")


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: object
    step: str | None = None
    authenticated: bool = True


def _compile(template):
    parts = _FIELD.split(template)  # literal, field name, literal, ...
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}/?$")


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, template, handler, step=None, authenticated=True):
        self.routes.append(
            Route(method, _compile(template), handler, step, authenticated)
        )

    def match(self, method, path):
        known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            known = True
        if known:
            raise exceptions.MethodNotAllowed(
                f"The method {method} is not allowed for this resource."
            )
        raise exceptions.NotFound("The resource could not be found.")
