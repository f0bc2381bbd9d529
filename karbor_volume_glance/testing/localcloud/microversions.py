"""API microversions of Cinder and Nova: read the request's, echo it back.

A request names its version in ``OpenStack-API-Version: volume 3.1`` (Nova
also reads the legacy ``X-OpenStack-Nova-API-Version: 2.1``); without one it
gets the minimum, with ``latest`` the maximum. A malformed version is a 400,
one outside the range a 406. Responses carry the version they were served
at in the same headers, and ``Vary`` on them.
"""

import dataclasses

from karbor_volume_glance.testing.localcloud import exceptions

HEADER = "OpenStack-API-Version"


def to_string(version):
    return f"{version[0]}.{version[1]}"


def parse(text):
    """``"3.1"`` -> ``(3, 1)``; ValueError for anything else."""
    major, dot, minor = text.strip().partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        raise ValueError(text)
    return int(major), int(minor)


@dataclasses.dataclass(frozen=True)
class Spec:
    service: str
    minimum: tuple
    maximum: tuple
    legacy_header: str | None = None

    @property
    def min_string(self):
        return to_string(self.minimum)

    @property
    def max_string(self):
        return to_string(self.maximum)

    def requested(self, headers):
        """The version string the request asks for, or None."""
        for item in (headers.get(HEADER) or "").split(","):
            parts = item.split()
            if len(parts) == 2 and parts[0].lower() == self.service:
                return parts[1]
        if self.legacy_header:
            return headers.get(self.legacy_header)
        return None

    def negotiate(self, headers):
        """The ``(major, minor)`` version to serve the request at."""
        requested = self.requested(headers)
        if requested is None:
            return self.minimum
        if requested.strip().lower() == "latest":
            return self.maximum
        try:
            version = parse(requested)
        except ValueError:
            raise exceptions.BadRequest(
                f"API Version String {requested} is of invalid format. Must be "
                "of format MajorNum.MinorNum."
            ) from None
        if not self.minimum <= version <= self.maximum:
            raise exceptions.NotAcceptable(
                f"Version {to_string(version)} is not supported by the API. "
                f"Minimum is {self.min_string} and maximum is {self.max_string}."
            )
        return version

    def response_headers(self, version):
        headers = {HEADER: f"{self.service} {to_string(version)}"}
        vary = [HEADER]
        if self.legacy_header:
            headers[self.legacy_header] = to_string(version)
            vary.append(self.legacy_header)
        headers["Vary"] = ", ".join(vary)
        return headers


CINDER = Spec("volume", (3, 0), (3, 70))
NOVA = Spec("compute", (2, 1), (2, 96), "X-OpenStack-Nova-API-Version")
