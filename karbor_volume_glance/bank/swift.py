"""A bank in an OpenStack Swift container, through python-swiftclient.

Opening one by URL::

    swift://<container>/<prefix>?cloud=<clouds.yaml cloud>
    swift://<container>/<prefix>                  (the cloud OS_CLOUD names)
    swift://<container>/<prefix>?auth_url=http://host:8080/auth/v1.0&user=acct:user

The first two authenticate through Keystone with a keystoneauth1 session made
from clouds.yaml (:func:`~karbor_volume_glance.cloud.factory.from_cloud_config`)
and find Swift in the service catalog. The third uses Swift's v1 auth
(tempauth, as test clusters have it) and reads the key from the environment
variable ``KVG_SWIFT_KEY`` (``key_env=NAME`` names another one): a URL that
carries a key, password or token is refused, because URLs end up in logs,
command lines and notifications. Further query parameters:
``segment_container``, ``large_object_threshold`` and ``segment_size`` (bytes),
``create_container`` (``true``/``false``), ``retries`` and ``timeout`` (s).

Layout: the bank object ``/a/b`` is the Swift object ``<prefix>a/b`` of the
container, so the objects ``/a/b`` and ``/a/b/c`` coexist as they do in Swift.
The bank's owner id lives in ``<prefix>~bank.json`` (a bank made before
keeps its ``<prefix>~kvg-bank.json``, read first); no bank key can
contain ``~``, so it never meets a bank object and is never listed. A value
is stored as its :mod:`~karbor_volume_glance.bank.codec` payload, with its kind
and the payload's MD5 in the object's metadata (``X-Object-Meta-Kvg-Kind``,
``X-Object-Meta-Kvg-Md5``).

Integrity: every PUT sends the payload's MD5 as ``ETag``, so Swift refuses a
body damaged on the way (HTTP 422), and the ETag Swift answers with is
compared as well. Every read checks the MD5 of what came back; a read that
finds a large object's segments gone (HTTP 409, or a body cut short) or data
that does not match is tried again a few times, because that is what a reader
sees while a writer replaces the object, before it is reported.

Large values (above ``large_object_threshold`` bytes) are stored as a Static
Large Object: segments ``<object>/<upload id>/<index>`` in the segment container
(``<container>_segments`` unless named), each PUT with its ETag, then the
manifest (``multipart-manifest=put``, with the ETag Swift computes from the
segments'). Replacing or deleting a large object replaces or removes the old
manifest first and deletes its segments after: a reader gets the whole old
value, the whole new value or BankObjectNotFound, and one that fetched the
old manifest just before finds its segments gone and reads again. The old
segments are deleted one by one rather than with ``multipart-manifest=delete``
because that call answers 200 even when deleting a segment failed, and
python-swiftclient drops the body that says so. Two writers replacing the same
large object at the same moment may leave the loser's segments behind
(unreferenced, never read); they are never the ones a manifest points to.

Listing pages through Swift's ascending listing (``marker``/``limit``, at most
``listing_page_size`` names a request); a descending listing reads the names
before the marker (``end_marker``) and reverses them, since Swift's own
``reverse`` is not available everywhere.

Threads: a swiftclient ``Connection`` is not thread-safe, so each thread gets
its own (a ``threading.local``); a ``Connection`` passed in as ``connection``
is shared under a lock instead, and a callable passed as ``connection`` makes
one per thread. Errors are :class:`SwiftBankError` (a
:class:`~karbor_volume_glance.exceptions.BankError`) naming the operation,
the key and the container; keys, passwords and tokens never appear in
errors, logs, :meth:`SwiftBackend.describe` or ``repr``.
"""

import io
import json
import os
import threading
import time
import urllib.parse
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from karbor_volume_glance.bank import (
    capabilities,
    codec,
    keys,
    listing,
    options,
    owner,
    swift_connection,
)
from karbor_volume_glance.bank.base import BankBackend
from karbor_volume_glance.bank.swift_connection import (  # noqa: F401 - re-exported
    SwiftBankError,
    is_cut_off,
    md5,
    normalize_etag,
    swift_client,
)
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectTooLarge,
    VolumeGlanceError,
)

LOG = logging.getLogger(__name__)

MiB = 1024 * 1024

#: Values larger than this many bytes become Static Large Objects.
DEFAULT_LARGE_OBJECT_THRESHOLD = 512 * MiB
#: The size of one segment of a Static Large Object.
DEFAULT_SEGMENT_SIZE = 128 * MiB
#: Swift's default ``max_manifest_segments``: segments grow to stay below it.
MAX_SEGMENTS = 1000
#: Swift's largest container listing page.
LISTING_PAGE_SIZE = 10000
#: The environment variable holding the key of a ``swift://…?auth_url=`` URL.
KEY_ENVIRONMENT_VARIABLE = "KVG_SWIFT_KEY"
#: The object (under the prefix) holding the bank's owner id.
METADATA_OBJECT = owner.OWNER_OBJECT
FORMAT = owner.FORMAT
#: Reads of an object that changed while it was read (a replaced large
#: object's old segments deleted under the reader) are tried this many times.
READ_ATTEMPTS = 3
READ_RETRY_DELAY = 0.05
#: A read bounded by ``max_size`` takes the body in pieces of this size.
BOUNDED_READ_PIECE = 1024 * 1024

KIND_HEADER = "X-Object-Meta-Kvg-Kind"
MD5_HEADER = "X-Object-Meta-Kvg-Md5"
CONTENT_TYPES = {
    codec.BYTES: "application/octet-stream",
    codec.STR: "text/plain; charset=utf-8",
    codec.JSON: "application/json",
}

#: The provider-file section of the Swift bank (``volume-glance-swift-bank``).
GROUP = "volume_glance_swift_bank"
OPTS = [
    cfg.StrOpt("container", help="The container that holds the bank. As a "
               "URL: swift://container/prefix?option=value&..."),
    cfg.StrOpt("prefix", default="", help="An object prefix in the container."),
    cfg.StrOpt("cloud", help="A clouds.yaml cloud whose Keystone session "
               "reaches Swift (OS_CLOUD's when neither this nor auth_url is "
               "set)."),
    cfg.StrOpt("clouds_yaml", help="The clouds.yaml file (default: the usual "
               "places)."),
    cfg.StrOpt("auth_url", help="A Swift v1 auth (tempauth) URL, instead of "
               "cloud."),
    cfg.StrOpt("user", help="The tempauth user, as account:user."),
    cfg.StrOpt("key", secret=True, help="The tempauth key; when unset, read "
               "from the environment variable key_env. Never in a URL."),
    cfg.StrOpt("key_env", default=KEY_ENVIRONMENT_VARIABLE,
               help="The environment variable holding the tempauth key."),
    cfg.StrOpt("segment_container",
               help="The container of large objects' segments (default: "
               "<container>_segments)."),
    cfg.IntOpt("large_object_threshold", default=DEFAULT_LARGE_OBJECT_THRESHOLD,
               help="Values larger than this many bytes become Static Large "
               "Objects."),
    cfg.IntOpt("segment_size", default=DEFAULT_SEGMENT_SIZE,
               help="The size in bytes of a large object's segment."),
    cfg.BoolOpt("create_container", default=True,
                help="Create the container (and the segment container) if "
                "missing."),
    cfg.IntOpt("retries", default=5, help="python-swiftclient's retries of "
               "one request."),
    cfg.FloatOpt("timeout", default=60.0, help="Seconds a request may take."),
    cfg.BoolOpt("consistent_listings", default=False,
                help="Declare that this cluster's container listings see every "
                "finished write (one region, container updates that do not "
                "lag), which incremental backups need; without it they are "
                "made full."),
]
#: Opts that only name a bank in the provider file or the URL's host and path.
_NOT_IN_QUERY = ("container", "prefix")
_CREDENTIALS_HINT = (f"set the key in the environment variable "
                     f"{KEY_ENVIRONMENT_VARIABLE} instead")


def _without_userinfo(url):
    """``url`` without user info, query or fragment (for describe())."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _normalize_prefix(prefix):
    """``"a/b"``, ``"/a/b/"`` -> ``"a/b/"``; ``""``/``None`` -> ``""``."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise BankError(f"a Swift bank prefix must be a str, not "
                        f"{type(prefix).__name__}")
    parts = [part for part in prefix.split("/") if part]
    if not all(map(keys.is_valid_part, parts)):
        raise BankError(
            f"the Swift bank prefix {prefix!r} may contain only letters, digits "
            "and / _ . - @, and no '.' or '..' parts"
        )
    return "".join(part + "/" for part in parts)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BankError(f"{name} must be a whole number >= 1, not {value!r}")
    return value


class SwiftBackend(BankBackend):
    """A bank in Swift container ``container``, under ``prefix``.

    Authentication, in order of precedence: ``connection`` (a swiftclient
    ``Connection``, shared under a lock, or a callable returning a new one for
    each thread); ``session`` (a keystoneauth1 session; ``region_name`` and
    ``interface`` pick the endpoint in its catalog); ``cloud`` (a clouds.yaml
    cloud, read with :func:`~karbor_volume_glance.cloud.factory.from_cloud_config`);
    ``auth_url``/``user``/``key`` (Swift v1 auth unless ``auth_version`` says
    otherwise). ``retries`` and ``timeout`` go to each ``Connection``.

    Values above ``large_object_threshold`` bytes are stored as Static Large
    Objects of ``segment_size`` segments in ``segment_container`` (default
    ``<container>_segments``). ``create_container`` creates the container
    now, and the segment container when first needed; otherwise both must
    exist. ``listing_page_size`` is the number of names asked of Swift at a
    time (at most 10000). ``consistent_listings`` declares that this
    cluster's container listings see every finished write (one region, with
    container updates that do not lag), which incremental backups need.
    """

    #: A PUT replaces an object (or a large object's manifest) whole, and
    #: ``If-None-Match: *`` creates only what does not exist; container
    #: listings are updated asynchronously, so they are declared consistent
    #: only by the operator (``consistent_listings``).
    CAPABILITIES = frozenset({capabilities.ATOMIC_REPLACE,
                              capabilities.CONDITIONAL_CREATE})

    def __init__(self, container, prefix="", connection=None, session=None,
                 auth_url=None, user=None, key=None, auth_version="1.0",
                 large_object_threshold=DEFAULT_LARGE_OBJECT_THRESHOLD,
                 segment_size=DEFAULT_SEGMENT_SIZE, create_container=True,
                 segment_container=None, cloud=None, region_name=None,
                 interface=None, retries=5, timeout=60.0,
                 listing_page_size=LISTING_PAGE_SIZE, consistent_listings=False,
                 clouds_yaml=None):
        if not isinstance(container, str) or not container or "/" in container:
            raise BankError(
                f"a Swift container name must be a non-empty str without '/', "
                f"not {container!r}"
            )
        self._container = container
        self._prefix = _normalize_prefix(prefix)
        self._segment_container = segment_container or f"{container}_segments"
        if "/" in self._segment_container:
            raise BankError(f"a Swift segment container name must not contain "
                            f"'/': {self._segment_container!r}")
        self._threshold = _positive_int("large_object_threshold",
                                        large_object_threshold)
        self._segment_size = _positive_int("segment_size", segment_size)
        self._page_size = min(_positive_int("listing_page_size",
                                            listing_page_size), LISTING_PAGE_SIZE)
        self._create_container = bool(create_container)
        self._consistent_listings = bool(consistent_listings)
        self._cloud = cloud
        self._auth_url = auth_url
        self._key = key

        connection_options = None
        if connection is None:
            swift_connection.require_swiftclient()
            if session is None and auth_url is None:
                session, region_name, interface = self._cloud_session(
                    cloud, clouds_yaml, region_name, interface)
            if session is None and not (user and key):
                raise BankError(
                    "a Swift bank with auth_url needs a user and a key (for a "
                    f"URL, set the environment variable {KEY_ENVIRONMENT_VARIABLE})"
                )
            os_options = {}
            if region_name:
                os_options["region_name"] = region_name
            if interface:
                os_options["endpoint_type"] = interface
            connection_options = {
                "session": session,
                "authurl": None if session is not None else auth_url,
                "user": None if session is not None else user,
                "key": None if session is not None else key,
                "auth_version": auth_version,
                "os_options": os_options,
                "retries": retries,
                "timeout": timeout,
            }
        self._swift = swift_connection.Connections(connection, connection_options,
                                                   key)
        self._request = self._swift.request
        self._error = self._swift.error
        self._owner_id = None
        self._owner_lock = threading.Lock()
        self._segment_container_ready = False
        self._segment_container_lock = threading.Lock()
        if self._create_container:
            self._ensure_container(self._container, "open the bank's")
        LOG.debug("Opened Swift bank %s", self.describe()[1])

    # --- opening ------------------------------------------------------------

    @staticmethod
    def _cloud_session(cloud, clouds_yaml, region_name, interface):
        from karbor_volume_glance.cloud import factory

        try:
            clients = factory.from_cloud_config(cloud, clouds_yaml)
        except VolumeGlanceError as exc:
            raise BankError(f"cannot open the Swift bank: {exc}") from exc
        return (clients.session, region_name or clients.region_name,
                interface or clients.interface)

    @classmethod
    def from_options(cls, settings):
        """The bank its options (``{opt.dest: value}`` of :data:`OPTS`) name.

        Without ``cloud`` or ``auth_url``, the cloud ``OS_CLOUD`` names; with
        ``auth_url`` and no ``key``, the key is read from the environment
        variable ``key_env``.
        """
        settings = dict(settings)
        if not settings.get("container"):
            raise BankError("a Swift bank needs a container")
        if settings.get("cloud") and settings.get("auth_url"):
            raise BankError("a Swift bank takes cloud or auth_url, not both")
        variable = settings.pop("key_env", None) or KEY_ENVIRONMENT_VARIABLE
        if settings.get("auth_url") and not settings.get("key"):
            settings["key"] = os.environ.get(variable)
            if not settings["key"]:
                raise BankError(
                    f"the Swift bank of container {settings['container']!r} "
                    f"needs its key in the environment variable {variable}, "
                    "which is not set")
        return cls(**{name: value for name, value in settings.items()
                      if value is not None})

    @classmethod
    def from_url(cls, url):
        """The bank a ``swift://container/prefix?…`` URL names (see the module)."""
        example = "as in 'swift://container/prefix?cloud=mycloud'"
        if url.username is not None or url.password is not None or (
            "@" in url.netloc
        ):
            raise BankError(
                "a Swift bank URL must not carry credentials before its "
                f"container name ({example}); set the key in the environment "
                f"variable {KEY_ENVIRONMENT_VARIABLE}"
            )
        container = urllib.parse.unquote(url.netloc)
        if not container:
            raise BankError(f"a Swift bank URL must name a container ({example})")
        if url.fragment:
            raise BankError(f"a Swift bank URL takes no fragment ({example})")
        settings, given = options.from_query(
            url.query, [opt for opt in OPTS if opt.name not in _NOT_IN_QUERY],
            "Swift", allowed=("key_env",), credentials_hint=_CREDENTIALS_HINT)
        if "cloud" in given and "auth_url" in given:
            raise BankError("a Swift bank URL takes cloud= or auth_url=, not both")
        if "auth_url" in given and not settings.get("user"):
            raise BankError("a Swift bank URL with auth_url= needs user=")
        if "auth_url" not in given and given & {"user", "key_env"}:
            raise BankError("user= and key_env= go with auth_url= in a Swift "
                            "bank URL")
        settings.update(container=container,
                        prefix=urllib.parse.unquote(url.path))
        return cls.from_options(settings)

    def describe(self):
        location = f"swift://{urllib.parse.quote(self._container)}"
        if self._prefix:
            location += "/" + urllib.parse.quote(self._prefix.rstrip("/"))
        if self._cloud:
            location += "?" + urllib.parse.urlencode({"cloud": self._cloud})
        elif self._auth_url:
            location += "?" + urllib.parse.urlencode(
                {"auth_url": _without_userinfo(self._auth_url)})
        return "swift", location

    def __repr__(self):
        return f"{type(self).__name__}({self.describe()[1]!r})"

    @property
    def capabilities(self):
        if self._consistent_listings:
            return self.CAPABILITIES | {capabilities.LISTING_SEES_WRITES}
        return self.CAPABILITIES

    @property
    def container(self):
        return self._container

    @property
    def segment_container(self):
        return self._segment_container

    @property
    def prefix(self):
        """The prefix of every object name of the bank ("" or ending in "/")."""
        return self._prefix

    def object_name(self, key):
        """The Swift object name of absolute bank key ``key``."""
        return self._prefix + key[1:]

    def key_of(self, name):
        """The bank key of Swift object ``name``, or None if it is no bank key."""
        if not name.startswith(self._prefix):
            return None
        rest = name[len(self._prefix):]
        if not all(map(keys.is_valid_part, rest.split("/"))):
            return None
        return "/" + rest

    # --- connections -----------------------------------------------------------

    def close(self):
        """Close every connection this backend opened (it stays usable)."""
        self._swift.close()

    @property
    def _local(self):
        """This thread's connection, as ``_local.connection``."""
        return self._swift.local


    def _ensure_container(self, container, operation):
        found = self._request(operation, None, container, "head_container",
                              container, missing="none", what="container")
        if found is None:
            LOG.info("Creating Swift container %s", container)
            self._request(operation, None, container, "put_container", container,
                          what="container")

    def _ensure_segment_container(self, key):
        if not self._create_container or self._segment_container_ready:
            return
        with self._segment_container_lock:
            if not self._segment_container_ready:
                self._ensure_container(self._segment_container,
                                       "prepare the segment")
                self._segment_container_ready = True

    # --- writing --------------------------------------------------------------

    def _put(self, operation, key, container, name, payload, headers=None,
             etag=None, query_string=None, content_type=None, missing="error"):
        """PUT ``payload`` with its ETag and check the ETag Swift returns."""
        expected = etag or md5(payload)
        returned = self._request(
            operation, key, container, "put_object", container, name,
            io.BytesIO(payload), content_length=len(payload), etag=expected,
            content_type=content_type or CONTENT_TYPES[codec.BYTES],
            headers=headers, query_string=query_string, missing=missing,
        )
        if normalize_etag(returned) != normalize_etag(expected):
            raise SwiftBankError(
                f"Swift bank could not {operation} object {key!r} in container "
                f"{container!r}: Swift answered ETag {returned!r} for data whose "
                f"MD5 is {expected!r}",
                key=key, operation=operation, container=container,
            )
        return returned

    def update_object(self, key, value, context=None):
        kind, payload = codec.encode(value)
        name = self.object_name(key)
        old_segments = self._segments_of(key, name, "write")
        headers = {KIND_HEADER: kind, MD5_HEADER: md5(payload)}
        if len(payload) > self._threshold:
            self._put_large(key, name, payload, headers, CONTENT_TYPES[kind])
        else:
            self._put("write", key, self._container, name, payload,
                      headers=headers, content_type=CONTENT_TYPES[kind])
        self._delete_segments(key, old_segments)

    def create_object(self, key, value, context=None):
        """A PUT with ``If-None-Match: *``: Swift answers 412 when the object
        exists, and keeps it. Small objects only (a key record, never a
        large object)."""
        kind, payload = codec.encode(value)
        if len(payload) > self._threshold:
            raise SwiftBankError(
                f"Swift bank creates only objects up to {self._threshold} "
                f"bytes conditionally, not {key!r} ({len(payload)} bytes)",
                key=key, operation="create", container=self._container)
        headers = {KIND_HEADER: kind, MD5_HEADER: md5(payload),
                   "If-None-Match": "*"}
        try:
            self._put("create", key, self._container, self.object_name(key),
                      payload, headers=headers, content_type=CONTENT_TYPES[kind])
        except SwiftBankError as exc:
            if exc.http_status != 412:  # 412: another writer created it
                raise
            return False
        return True

    def _put_large(self, key, name, payload, headers, content_type):
        """Store ``payload`` as a Static Large Object: segments, then manifest."""
        self._ensure_segment_container(key)
        size = max(self._segment_size, -(-len(payload) // MAX_SEGMENTS))
        upload = uuid.uuid4().hex
        view = memoryview(payload)
        manifest, written = [], []
        try:
            for index, offset in enumerate(range(0, len(payload), size)):
                segment = bytes(view[offset:offset + size])
                segment_name = f"{name}/{upload}/{index:08d}"
                etag = md5(segment)
                self._put("write a segment of", key, self._segment_container,
                          segment_name, segment, etag=etag)
                written.append((self._segment_container, segment_name))
                manifest.append({
                    "path": f"/{self._segment_container}/{segment_name}",
                    "etag": etag,
                    "size_bytes": len(segment),
                })
            slo_etag = md5("".join(s["etag"] for s in manifest).encode("ascii"))
            self._put("write", key, self._container, name,
                      json.dumps(manifest).encode("utf-8"), headers=headers,
                      etag=slo_etag, query_string="multipart-manifest=put",
                      content_type=content_type)
        except BaseException:
            self._delete_segments(key, written)
            raise
        LOG.debug("Stored bank object %s as a large object of %d segments",
                  key, len(manifest))

    def _segments_of(self, key, name, operation, missing="none"):
        """The segments of the large object ``name`` ([] if it is not one).

        Only segments this bank would have written (in its segment container,
        under the object's name) are returned, so a foreign manifest cannot
        make the bank delete other objects. ``missing="raise"``: a missing
        object raises BankObjectNotFound; otherwise it gives ``None``.
        """
        headers = self._request(operation, key, self._container, "head_object",
                                self._container, name, missing=missing,
                                query_string="multipart-manifest=get")
        if headers is None:
            return None
        if str(headers.get("x-static-large-object", "")).lower() != "true":
            return []
        result = self._request(operation, key, self._container, "get_object",
                               self._container, name, missing="none",
                               query_string="multipart-manifest=get")
        if result is None:
            return []  # replaced or deleted since the HEAD: not ours to clean
        try:
            entries = json.loads(result[1])
        except ValueError:
            LOG.warning("The manifest of bank object %s does not parse; its "
                        "segments are left alone", key)
            return []
        segments = []
        container_path = f"/{self._segment_container}/"
        for entry in entries if isinstance(entries, list) else ():
            path = entry.get("name") or entry.get("path") or ""
            segment_name = path[len(container_path):]
            if path.startswith(container_path) and segment_name.startswith(
                name + "/"
            ):
                segments.append((self._segment_container, segment_name))
        return segments

    def _delete_segments(self, key, segments):
        """Delete ``segments`` quietly: a leftover segment is only a leak."""
        for container, name in segments or ():
            try:
                self._request("delete a segment of", key, container,
                              "delete_object", container, name, missing="none")
            except BankError as exc:
                LOG.warning("Could not delete segment %s of bank object %s: %s",
                            name, key, exc)

    # --- reading --------------------------------------------------------------

    def get_object(self, key, context=None, max_size=None):
        name = self.object_name(key)
        problem = None
        for attempt in range(READ_ATTEMPTS):
            if attempt:
                time.sleep(READ_RETRY_DELAY * attempt)
            try:
                headers, body = self._read(key, name, max_size)
            except SwiftBankError as exc:
                # 409: a large object's segment was gone when the read began;
                # a cut-off body: gone while it was read. A replaced object's
                # old segments vanish like that, so read the new one.
                if exc.http_status != 409 and not is_cut_off(exc.__cause__):
                    raise
                problem = exc
                continue
            problem = self._check_body(key, headers, body)
            if problem is None:
                kind = headers.get(KIND_HEADER.lower())
                return codec.decode(kind, body, key=key)
            LOG.debug("Bank object %s changed while it was read; reading again",
                      key)
        if isinstance(problem, BankError):
            raise problem
        raise SwiftBankError(
            f"Swift bank could not read object {key!r} in container "
            f"{self._container!r}: {problem}",
            key=key, operation="read", container=self._container,
        )

    def _read(self, key, name, max_size):
        """``(headers, body)`` of one GET of object ``name``. With
        ``max_size`` the body is read piece by piece and refused
        (BankObjectTooLarge) as soon as Swift's length or the pieces pass it."""
        if max_size is None:
            return self._request("read", key, self._container, "get_object",
                                 self._container, name, missing="raise")
        headers, pieces = self._request(
            "read", key, self._container, "get_object", self._container, name,
            missing="raise", resp_chunk_size=BOUNDED_READ_PIECE)
        try:
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > max_size:
                raise BankObjectTooLarge(key, max_size, int(length))
            body = bytearray()
            if isinstance(pieces, bytes | bytearray):  # a client that read it all
                pieces = [pieces]
            try:
                for piece in pieces:
                    body += piece
                    if len(body) > max_size:
                        raise BankObjectTooLarge(key, max_size)
            except VolumeGlanceError:
                raise
            except Exception as exc:  # requests, urllib3, sockets …
                raise self._error("read", key, self._container, exc) from exc
            return headers, bytes(body)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _check_body(key, headers, body):
        """None if ``body`` is whole, else what is wrong with it."""
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) != len(body):
            return f"got {len(body)} bytes of {length}"
        expected = headers.get(MD5_HEADER.lower())
        if not expected and str(
            headers.get("x-static-large-object", "")
        ).lower() != "true":
            expected = headers.get("etag")
        if expected and normalize_etag(expected) != md5(body):
            return (f"its data does not match its MD5 {normalize_etag(expected)} "
                    "(damaged, or replaced while being read)")
        return None

    # --- listing ---------------------------------------------------------------

    def _list_page(self, prefix, marker, end_marker, limit, key):
        _headers, entries = self._request(
            "list", key, self._container, "get_container", self._container,
            prefix=prefix or None, marker=marker or None,
            end_marker=end_marker or None, limit=limit, what="objects under",
        )
        return [entry["name"] for entry in entries if "name" in entry]

    def list_objects(self, prefix=None, limit=None, marker=None, sort_dir=None,
                     context=None):
        listing.check_listing_arguments(limit, sort_dir)
        if limit == 0:
            return []
        bank_prefix = prefix or "/"
        if not bank_prefix.startswith("/"):
            return []
        swift_prefix = self.object_name(bank_prefix)
        swift_marker = self.object_name(marker) if marker else None
        if sort_dir == listing.DESCENDING:
            found = self._list_all(swift_prefix, None, swift_marker, bank_prefix)
            found.reverse()
            return found if limit is None else found[:limit]
        return self._list_all(swift_prefix, swift_marker, None, bank_prefix, limit)

    def _list_all(self, swift_prefix, marker, end_marker, bank_prefix, limit=None):
        """The bank keys of names after ``marker`` and before ``end_marker``."""
        found = []
        while True:
            wanted = self._page_size
            if limit is not None:  # no more names than needed; Swift's own
                wanted = min(wanted, limit - len(found))  # names may add a page
            page = self._list_page(swift_prefix, marker, end_marker, wanted,
                                   bank_prefix)
            found.extend(key for key in map(self.key_of, page) if key is not None)
            if len(page) < wanted or (limit is not None and len(found) >= limit):
                return found
            marker = page[-1]

    # --- deleting --------------------------------------------------------------

    def delete_object(self, key, context=None):
        name = self.object_name(key)
        segments = self._segments_of(key, name, "delete", missing="raise")
        self._request("delete", key, self._container, "delete_object",
                      self._container, name, missing="raise")
        self._delete_segments(key, segments)

    # --- owner id ---------------------------------------------------------------

    def get_owner_id(self, context=None):
        with self._owner_lock:
            if self._owner_id is None:
                self._owner_id = self._read_or_create_owner_id()
            return self._owner_id

    def _read_or_create_owner_id(self):
        try:
            return owner.read_or_create(
                self._read_owner_object, self._create_owner_object,
                where=lambda name: (f"the bank metadata {self._prefix + name!r} "
                                    f"in container {self._container!r}"))
        except SwiftBankError:
            raise
        except BankError as exc:  # damaged: a Swift bank error all the same
            raise SwiftBankError(str(exc), operation="read",
                                 container=self._container) from exc

    def _read_owner_object(self, name):
        """The bytes of the bank's object ``name``, or None if there is none."""
        result = self._request("read", "/" + name, self._container,
                               "get_object", self._container,
                               self._prefix + name, missing="none")
        return None if result is None else result[1]

    def _create_owner_object(self, name, content):
        """Store ``content`` as the bank's object ``name`` unless it exists."""
        try:
            self._put("write", "/" + name, self._container, self._prefix + name,
                      content, headers={"If-None-Match": "*"},
                      content_type=CONTENT_TYPES[codec.JSON])
        except SwiftBankError as exc:
            if exc.http_status != 412:  # 412: another writer created it
                raise
