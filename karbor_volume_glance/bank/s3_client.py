"""The S3 bank's connection to S3: boto3 (the optional extra ``[s3]``),
imported only if it is installed, the client the backend sends requests
with, and S3's own limits and checksums.

Without boto3 this module still imports; :func:`build_client` then raises a
BankError saying ``pip install 'karbor-volume-glance[s3]'``, and the
exception names below stand for :class:`~.optional.Missing`, which nothing
raises.
"""

import base64
import hashlib
import urllib.parse

from karbor_volume_glance.bank import optional
from karbor_volume_glance.exceptions import BankError

try:  # the optional extra [s3]: without it, this module still imports
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
        ResponseStreamingError,
    )
    _IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - the [s3] extra is installed
    boto3 = Config = None
    BotoCoreError = ClientError = NoCredentialsError = optional.Missing
    ParamValidationError = PartialCredentialsError = optional.Missing
    ResponseStreamingError = optional.Missing
    _IMPORT_ERROR = exc

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

DEFAULT_MULTIPART_THRESHOLD = 64 * MiB
DEFAULT_PART_SIZE = 16 * MiB
#: S3's limits on multipart uploads: every part but the last is at least
#: 5 MiB, no part is over 5 GiB, and there are at most 10,000 parts.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
#: The largest object a single PUT may carry.
MAX_SINGLE_PUT = 5 * GiB
#: Keys per ListObjectsV2 page; S3 never gives more than 1000.
DEFAULT_PAGE_SIZE = 1000
#: botocore attempts per request (the first one included), "standard" mode.
DEFAULT_MAX_ATTEMPTS = 5
ADDRESSING_STYLES = ("path", "virtual", "auto")
#: The region signed with for an ``endpoint_url`` given without one.
DEFAULT_ENDPOINT_REGION = "us-east-1"


def content_md5(data):
    """The ``Content-MD5`` header of ``data``: its MD5, base64-encoded."""
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def plan_parts(size, part_size):
    """The ``(offset, length)`` of each part of a ``size``-byte upload.

    Parts are ``part_size`` long but the last; ``part_size`` grows (to whole
    MiB) when ``size`` would otherwise need more than S3's 10,000 parts.
    """
    if size <= 0:
        return [(0, 0)]
    if -(-size // part_size) > MAX_PARTS:
        part_size = -(-size // MAX_PARTS)
        part_size = -(-part_size // MiB) * MiB
        if part_size > MAX_PART_SIZE:
            raise BankError(f"a value of {size} bytes is larger than S3 can hold")
    return [(offset, min(part_size, size - offset))
            for offset in range(0, size, part_size)]


def check_endpoint_url(endpoint_url):
    """Refuse an endpoint that is not an http(s) URL or that has user info.

    The refusal never repeats the URL, which might hold a password.
    """
    if endpoint_url is None:
        return None
    if not isinstance(endpoint_url, str) or not endpoint_url:
        raise BankError("an S3 endpoint must be an http:// or https:// URL")
    parts = urllib.parse.urlsplit(endpoint_url)
    if "@" in parts.netloc:
        raise BankError(
            "an S3 endpoint URL must not carry credentials; give them in "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or boto3's other "
            "sources) instead")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BankError(
            f"an S3 endpoint must be an http:// or https:// URL with a host, "
            f"not {endpoint_url!r}")
    return endpoint_url


def _client_config(addressing_style, max_attempts):
    options = {
        "s3": {"addressing_style": addressing_style},
        "retries": {"mode": "standard", "max_attempts": max_attempts},
        "connect_timeout": 10,
        "read_timeout": 120,
        "max_pool_connections": 16,
    }
    try:
        # botocore >= 1.36 would add a CRC32 of its own to every body; the
        # Content-MD5 we send, which S3 servers check, already covers it
        return Config(request_checksum_calculation="when_required", **options)
    except TypeError:  # an older botocore, which never adds them
        return Config(**options)


def build_client(endpoint_url=None, region=None, access_key=None,
                 secret_key=None, addressing_style="path",
                 max_attempts=DEFAULT_MAX_ATTEMPTS):
    """The boto3 S3 client an :class:`S3Backend` builds for these arguments.

    Its retries are botocore's "standard" mode; it sends no checksum of its
    own (the backend sends Content-MD5). Thread-safe, unlike the boto3
    session it is made with, which is used once here and then dropped.
    """
    if boto3 is None:
        raise optional.missing("S3", "boto3", "s3", _IMPORT_ERROR)
    session = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name=region or None)
    return session.client("s3", endpoint_url=check_endpoint_url(endpoint_url),
                          config=_client_config(addressing_style, max_attempts))
