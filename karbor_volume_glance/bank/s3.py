"""A bank in an S3 bucket (AWS S3, Ceph RGW, MinIO, SeaweedFS …), one object
per bank object.

Layout of a bank in bucket ``<bucket>`` under prefix ``<prefix>``::

    <prefix>~bank.json    {"owner_id": "<uuid>", "format": 1}
    <prefix>a/b           the object /a/b
    <prefix>a/b/c         the object /a/b/c

The bank key ``/a/b`` is the object name ``<prefix>a/b``: the key without its
leading ``/``, after the prefix. A non-empty prefix has no leading ``/`` and
ends with exactly one (``karbor/``), so ``prefix=""`` puts the bank at the
top of the bucket. Keys map one to one, so ``/a/b`` and ``/a/b/c`` are two
objects side by side. ``~`` never occurs in a key, so the bank's own
``~bank.json`` can never be mistaken for an object, and objects whose names
are not bank keys (``a//b``, ``a/`` directory markers, other tools' files)
are never listed.

A value is the object's body, as :mod:`~karbor_volume_glance.bank.codec`
encodes it, with its kind and SHA-256 in the object's metadata
(``x-amz-meta-kvg-kind``, ``x-amz-meta-kvg-sha256``): a bytes value is stored
as is, a JSON one is readable in any S3 browser. A read checks the SHA-256.

Writes are atomic because S3 makes them so: a PUT, or the completion of a
multipart upload, replaces the whole object at once. Every request body sends
its ``Content-MD5``, which the server checks before it stores anything, so a
body damaged on the way is refused (``BadDigest``) rather than stored. Values
larger than ``multipart_threshold`` go up in ``part_size`` parts; a failed
multipart upload is aborted so that its parts do not linger (and cost).

Listing does not trust the server to sort: S3 promises UTF-8 binary order,
but SeaweedFS, for one, lists a directory tree (``a/b/c`` before ``a/b-x``)
and its ``StartAfter`` and page boundaries skip keys that are also
"directories". So a listing walks the key tree one level at a time with
``Delimiter="/"`` (each level paged by ``ListObjectsV2`` continuation
tokens), sorts each level itself, enters only the sub-trees the marker and
prefix leave in play, and stops as soon as ``limit`` keys are found.

S3 deletes a missing object without complaint, so :meth:`delete_object`
asks (HEAD) first; of two concurrent deletes of one object both may succeed.

Credentials come from the arguments or boto3's own chain (the
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` environment variables, a
profile, an instance role …); never from a bank URL. They appear in no
message, log line, ``repr`` or :meth:`describe`.
"""

import hashlib
import http
import itertools
import re
import threading
import urllib.parse

from oslo_config import cfg
from oslo_log import log as logging

from karbor_volume_glance.bank import (
    capabilities,
    codec,
    keys,
    listing,
    options,
    owner,
)
from karbor_volume_glance.bank.base import BankBackend
from karbor_volume_glance.bank.s3_client import (  # noqa: F401 - re-exported
    ADDRESSING_STYLES,
    DEFAULT_ENDPOINT_REGION,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    BotoCoreError,
    ClientError,
    GiB,
    KiB,
    MiB,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ResponseStreamingError,
    build_client,
    check_endpoint_url,
    content_md5,
    plan_parts,
)
from karbor_volume_glance.exceptions import (
    BankError,
    BankObjectNotFound,
    BankObjectTooLarge,
    InvalidBankKey,
    check_object_size,
)

LOG = logging.getLogger(__name__)

#: Whole GETs tried when the body breaks off while it is read.
_READ_ATTEMPTS = 3

FORMAT = owner.FORMAT
#: The bank's own object under the prefix; ``~`` is in no bank key.
OWNER_OBJECT = owner.OWNER_OBJECT
KIND_METADATA = "kvg-kind"
SHA256_METADATA = "kvg-sha256"
FORMAT_METADATA = "kvg-format"

_CONTENT_TYPES = {
    codec.BYTES: "application/octet-stream",
    codec.STR: "text/plain; charset=utf-8",
    codec.JSON: "application/json",
}
#: Error codes of a missing object (HEAD answers with the bare status).
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: Error codes of a conditional PUT that lost to an existing object.
_EXISTS_CODES = frozenset({"PreconditionFailed", "412",
                           "ConditionalRequestConflict", "409"})
_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")

#: The provider-file section of the S3 bank (``volume-glance-s3-bank``).
GROUP = "volume_glance_s3_bank"
OPTS = [
    cfg.StrOpt("bucket", help="The bucket that holds the bank. As a URL: "
               "s3://bucket/prefix?option=value&..."),
    cfg.StrOpt("prefix", default="", help="A key prefix inside the bucket."),
    cfg.StrOpt("endpoint_url",
               help="The S3 endpoint (Ceph RGW, SeaweedFS, …); AWS's when "
               "unset. In a URL: endpoint=."),
    cfg.StrOpt("region", help="The bucket's region (us-east-1 for an "
               "endpoint_url given without one)."),
    cfg.StrOpt("access_key",
               help="Access key; boto3's own chain (environment, ~/.aws) "
               "when unset. Never in a URL."),
    cfg.StrOpt("secret_key", secret=True, help="Secret key. Never in a URL."),
    cfg.StrOpt("addressing_style", default="path",
               choices=list(ADDRESSING_STYLES),
               help="How the bucket is named in requests."),
    cfg.BoolOpt("create_bucket", default=False,
                help="Create the bucket if it does not exist."),
    cfg.IntOpt("multipart_threshold", default=DEFAULT_MULTIPART_THRESHOLD,
               help="Values larger than this many bytes are uploaded in "
               "parts (0 to 5 GiB)."),
    cfg.IntOpt("part_size", default=DEFAULT_PART_SIZE,
               help="The size in bytes of an upload part (5 MiB to 5 GiB)."),
    cfg.IntOpt("page_size", default=DEFAULT_PAGE_SIZE,
               help="Keys asked for per listing request (1 to 1000)."),
]
#: URL query names that stand for an opt of another name.
URL_ALIASES = {"endpoint": "endpoint_url"}
_CREDENTIALS_HINT = ("give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                     "(or boto3's other sources) instead")


class S3BankError(BankError):
    """An S3 request of the bank failed.

    ``operation`` (``"write"``, ``"read"``, ``"list"`` …), ``bucket``, ``key``
    (the bank key, or None) and ``code`` (S3's error code, or the botocore
    error's class name) say which and why.
    """

    def __init__(self, message, operation, bucket, key=None, code=None):
        self.operation = operation
        self.bucket = bucket
        self.code = code
        super().__init__(message, key=key)


def normalize_object_prefix(prefix):
    """``prefix`` as object names start with it: ``""`` or ``"a/b/"``."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise BankError(f"an S3 bank prefix must be a str, not "
                        f"{type(prefix).__name__}")
    parts = [part for part in prefix.split("/") if part]
    if not all(map(keys.is_valid_part, parts)):
        raise BankError(
            f"S3 bank prefix {prefix!r} may contain only letters, digits and "
            "/ _ . - @, without '.' or '..' parts")
    return "".join(part + "/" for part in parts)


class S3Backend(BankBackend):
    """A thread-safe bank in S3 bucket ``bucket`` under ``prefix``.

    ``endpoint_url`` names a server other than AWS (``http://host:8333``),
    ``region`` its region (us-east-1 if an ``endpoint_url`` is given without
    one; boto3 finds AWS's). ``access_key``/``secret_key`` are optional: without
    them boto3 finds credentials itself. Values over ``multipart_threshold``
    bytes are uploaded in parts of ``part_size`` bytes (at least 5 MiB).
    ``create_bucket`` creates the bucket if it does not exist. ``client`` is
    a ready boto3 S3 client to use instead of building one (then the
    connection arguments are only used by :meth:`describe`). ``page_size`` is
    the number of keys asked for per listing request.
    """

    #: S3 lists and reads what finished before (AWS since December 2020;
    #: Ceph RGW and SeaweedFS on one site) and replaces whole objects; its
    #: If-None-Match is not honoured by every server, so no conditional create.
    CAPABILITIES = frozenset({capabilities.LISTING_SEES_WRITES,
                              capabilities.ATOMIC_REPLACE})

    def __init__(self, bucket, prefix="", endpoint_url=None, region=None,
                 access_key=None, secret_key=None,
                 multipart_threshold=DEFAULT_MULTIPART_THRESHOLD,
                 part_size=DEFAULT_PART_SIZE, addressing_style="path",
                 create_bucket=False, client=None, page_size=DEFAULT_PAGE_SIZE,
                 max_attempts=DEFAULT_MAX_ATTEMPTS):
        if not isinstance(bucket, str) or not _BUCKET_NAME.fullmatch(bucket):
            raise BankError(f"{bucket!r} is not an S3 bucket name")
        self._bucket = bucket
        self._prefix = normalize_object_prefix(prefix)
        self._endpoint_url = check_endpoint_url(endpoint_url)
        # a server of one's own needs a region only to sign with: without
        # one, boto3 would ask the EC2 instance metadata service for it
        self._region = region or (DEFAULT_ENDPOINT_REGION if endpoint_url else None)
        self._check_sizes(multipart_threshold, part_size, page_size)
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size
        self._page_size = page_size
        if addressing_style not in ADDRESSING_STYLES:
            raise BankError(f"S3 addressing style must be one of "
                            f"{', '.join(ADDRESSING_STYLES)}, not "
                            f"{addressing_style!r}")
        self._addressing_style = addressing_style
        if (access_key is None) != (secret_key is None):
            raise BankError("give both an S3 access key and a secret key, or "
                            "neither (then boto3 looks for them itself)")
        if client is None:
            client = build_client(self._endpoint_url, self._region, access_key,
                                  secret_key, addressing_style, max_attempts)
        self._client = client
        self._owner_id = None
        self._owner_lock = threading.Lock()
        if create_bucket:
            self._create_bucket()
        LOG.debug("Opened S3 bank at %s", self.describe()[1])

    @staticmethod
    def _check_sizes(multipart_threshold, part_size, page_size):
        def whole(value):
            return isinstance(value, int) and not isinstance(value, bool)

        if not whole(part_size) or not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise BankError(
                f"S3 part_size must be a whole number of bytes from "
                f"{MIN_PART_SIZE} (5 MiB) to {MAX_PART_SIZE} (5 GiB), not "
                f"{part_size!r}")
        if (not whole(multipart_threshold)
                or not 0 <= multipart_threshold <= MAX_SINGLE_PUT):
            raise BankError(
                f"S3 multipart_threshold must be a whole number of bytes from "
                f"0 to {MAX_SINGLE_PUT} (5 GiB), not {multipart_threshold!r}")
        if not whole(page_size) or not 1 <= page_size <= 1000:
            raise BankError(f"S3 page_size must be from 1 to 1000, not "
                            f"{page_size!r}")

    # --- naming ------------------------------------------------------------

    @property
    def bucket(self):
        return self._bucket

    @property
    def prefix(self):
        """The object name prefix: ``""`` or ``"a/b/"``."""
        return self._prefix

    @property
    def client(self):
        """The boto3 S3 client (thread-safe) this bank sends requests with."""
        return self._client

    def object_name(self, key):
        """The S3 object name of absolute, normalised bank key ``key``."""
        is_absolute = isinstance(key, str) and key.startswith("/")
        parts = key.split("/")[1:] if is_absolute else []
        if not parts or not all(map(keys.is_valid_part, parts)):
            raise InvalidBankKey(key, "a backend key must be absolute and normalised")
        return self._prefix + key[1:]

    def bank_key(self, name):
        """The bank key of S3 object ``name``, or None if it names none."""
        if not name.startswith(self._prefix):
            return None
        rest = name[len(self._prefix):]
        if not all(map(keys.is_valid_part, rest.split("/"))):
            return None
        return "/" + rest

    def describe(self):
        location = f"s3://{self._bucket}/{self._prefix.rstrip('/')}"
        query = [(name, value) for name, value in (
            ("endpoint", self._endpoint_url), ("region", self._region)) if value]
        if self._addressing_style != "path":
            query.append(("addressing_style", self._addressing_style))
        if query:
            location += "?" + urllib.parse.urlencode(query)
        return "s3", location

    def __repr__(self):
        details = f"bucket={self._bucket!r}, prefix={self._prefix!r}"
        if self._endpoint_url:
            details += f", endpoint_url={self._endpoint_url!r}"
        return f"{type(self).__name__}({details})"

    @classmethod
    def from_options(cls, options):
        """The bank its options (``{opt.dest: value}`` of :data:`OPTS`) name."""
        if not options.get("bucket"):
            raise BankError("an S3 bank needs a bucket")
        return cls(**options)

    @classmethod
    def from_url(cls, url):
        """The bank at ``s3://bucket/prefix?endpoint=…&region=…``.

        Query parameters are the :data:`OPTS` but the credentials
        (``endpoint`` stands for ``endpoint_url``). Credentials are never
        taken from the URL: boto3 finds them (``AWS_ACCESS_KEY_ID`` and
        ``AWS_SECRET_ACCESS_KEY``, a profile, a role …), and a URL that
        carries some is refused.
        """
        example = ("as in 's3://my-bucket/karbor?endpoint=http://127.0.0.1:8333"
                   "&region=us-east-1'")
        if "@" in url.netloc:
            raise BankError(f"an S3 bank URL must not carry credentials; "
                            f"{_CREDENTIALS_HINT}")
        settings, _given = options.from_query(
            url.query, [opt for opt in OPTS if opt.name not in ("bucket", "prefix")],
            "S3", aliases=URL_ALIASES, credentials_hint=_CREDENTIALS_HINT)
        if url.fragment:
            raise BankError(f"an S3 bank URL takes no fragment ({example})")
        bucket = url.netloc
        if not bucket or ":" in bucket:
            raise BankError(f"an S3 bank URL names a bucket, without a port, "
                            f"after s3:// ({example})")
        settings.update(bucket=bucket, prefix=urllib.parse.unquote(url.path))
        return cls.from_options(settings)

    # --- errors ------------------------------------------------------------

    def _error(self, operation, exc, key=None, what=None):
        """The :class:`BankError` for botocore error ``exc``."""
        what = what or (f"object {key!r}" if key is not None else "the bank")
        where = f"in bucket {self._bucket!r}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = error.get("Code") or str(status)
            if key is not None and code in _NOT_FOUND_CODES:
                return BankObjectNotFound(key)
            reason = error.get("Message") or ""
            if not reason and status:
                try:
                    reason = http.HTTPStatus(status).phrase
                except ValueError:
                    reason = f"HTTP {status}"
            if code == "NoSuchBucket":
                reason = f"bucket {self._bucket!r} does not exist"
            elif code in ("BadDigest", "InvalidDigest"):
                reason = (f"the server refused the data as damaged on the way "
                          f"(its checksum does not match): {reason}")
            detail = f"{code}: {reason}" if reason else code
        elif isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            code = type(exc).__name__
            detail = ("no S3 credentials found; set AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY (or configure a boto3 profile or "
                      "role)")
        else:
            code = type(exc).__name__
            detail = f"{code}: {exc}"
        return S3BankError(f"S3 bank could not {operation} {what} {where}: {detail}",
                           operation=operation, bucket=self._bucket, key=key,
                           code=code)

    def _call(self, operation, key, method, **kwargs):
        try:
            return method(Bucket=self._bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(operation, exc, key=key) from exc

    # --- the bucket and the owner id -----------------------------------------

    def _create_bucket(self):
        arguments = {}
        region = self._client.meta.region_name
        if region and region not in ("us-east-1", "aws-global"):
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(Bucket=self._bucket, **arguments)
            LOG.info("Created S3 bucket %s for the bank", self._bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise self._error("create", exc, what="the bucket") from exc
        except BotoCoreError as exc:
            raise self._error("create", exc, what="the bucket") from exc

    def get_owner_id(self, context=None):
        with self._owner_lock:
            if self._owner_id is None:
                self._owner_id = self._read_or_create_owner_id()
            return self._owner_id

    def _read_or_create_owner_id(self):
        return owner.read_or_create(
            self._read_owner_object, self._create_owner_object,
            where=lambda name: f"the bank's {name} in bucket {self._bucket!r}",
            names=(OWNER_OBJECT,))

    def _read_owner_object(self, name):
        """The bytes of the bank's object ``name``, or None if there is none."""
        what = f"the bank's {name}"
        try:
            response = self._client.get_object(Bucket=self._bucket,
                                               Key=self._prefix + name)
            return response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                return None
            raise self._error("read", exc, what=what) from exc
        except BotoCoreError as exc:
            raise self._error("read", exc, what=what) from exc

    def _create_owner_object(self, name, body):
        """Store ``body`` as the bank's object ``name`` unless it exists."""
        what = f"the bank's {name}"
        arguments = {"Bucket": self._bucket, "Key": self._prefix + name,
                     "Body": body, "ContentMD5": content_md5(body),
                     "ContentType": "application/json"}
        try:
            # only the first creator wins where the server honours
            # If-None-Match; the others read what it wrote
            try:
                self._client.put_object(IfNoneMatch="*", **arguments)
            except ParamValidationError:  # a botocore older than If-None-Match
                self._client.put_object(**arguments)
            LOG.info("Created the owner id of S3 bank %s", self.describe()[1])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _EXISTS_CODES:
                raise self._error("create", exc, what=what) from exc
        except BotoCoreError as exc:
            raise self._error("create", exc, what=what) from exc

    # --- writing -------------------------------------------------------------

    def update_object(self, key, value, context=None):
        kind, payload = codec.encode(value)
        name = self.object_name(key)
        headers = {
            "Metadata": {
                KIND_METADATA: kind,
                SHA256_METADATA: hashlib.sha256(payload).hexdigest(),
                FORMAT_METADATA: str(FORMAT),
            },
            "ContentType": _CONTENT_TYPES[kind],
        }
        if len(payload) > self._multipart_threshold:
            self._put_multipart(key, name, payload, headers)
        else:
            self._call("write", key, self._client.put_object, Key=name,
                       Body=payload, ContentMD5=content_md5(payload), **headers)

    def _put_multipart(self, key, name, payload, headers):
        upload = self._call("start the multipart upload of", key,
                            self._client.create_multipart_upload, Key=name,
                            **headers)
        upload_id = upload["UploadId"]
        plan = plan_parts(len(payload), self._part_size)
        LOG.debug("Uploading bank object %s (%d bytes) to S3 in %d parts",
                  key, len(payload), len(plan))
        try:
            view = memoryview(payload)
            parts = []
            for number, (offset, length) in enumerate(plan, start=1):
                body = bytes(view[offset:offset + length])
                response = self._call(
                    f"upload part {number} of", key, self._client.upload_part,
                    Key=name, UploadId=upload_id, PartNumber=number, Body=body,
                    ContentMD5=content_md5(body))
                parts.append({"PartNumber": number, "ETag": response["ETag"]})
            self._call("complete the multipart upload of", key,
                       self._client.complete_multipart_upload, Key=name,
                       UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort_upload(key, name, upload_id)
            raise

    def _abort_upload(self, key, name, upload_id):
        try:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=name, UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            LOG.warning("Could not abort the failed multipart upload of bank "
                        "object %s in S3 bucket %s: %s", key, self._bucket,
                        self._error("abort the multipart upload of", exc, key=key))

    # --- reading -------------------------------------------------------------

    def get_object(self, key, context=None, max_size=None):
        name = self.object_name(key)
        for attempt in range(1, _READ_ATTEMPTS + 1):
            response = self._call("read", key, self._client.get_object, Key=name)
            try:
                with response["Body"] as body:
                    length = response.get("ContentLength")
                    if (max_size is not None and isinstance(length, int)
                            and length > max_size):
                        raise BankObjectTooLarge(key, max_size, length)
                    payload = check_object_size(key, body.read(
                        None if max_size is None else max_size + 1), max_size)
                break
            except (ResponseStreamingError, BotoCoreError) as exc:
                if attempt == _READ_ATTEMPTS:
                    raise self._error("read", exc, key=key) from exc
                LOG.debug("Reading bank object %s from S3 broke off (%s); "
                          "reading it again", key, type(exc).__name__)
        return codec.decode(self._check_payload(key, name, response, payload),
                            payload, key=key)

    def _check_payload(self, key, name, response, payload):
        """The value kind of a read object; BankError if it is damaged."""
        metadata = {name.lower(): value
                    for name, value in response.get("Metadata", {}).items()}
        damaged = f"bank object {key!r} in S3 bucket {self._bucket!r} is damaged"
        kind = metadata.get(KIND_METADATA)
        if kind not in codec.KINDS:
            raise BankError(f"{damaged}: its metadata has no known value kind "
                            f"(x-amz-meta-{KIND_METADATA}: {kind!r})", key=key)
        expected = metadata.get(SHA256_METADATA)
        if expected is not None and hashlib.sha256(payload).hexdigest() != expected:
            raise BankError(f"{damaged}: its data does not match its SHA-256 "
                            f"({len(payload)} bytes read)", key=key)
        return kind

    # --- listing -------------------------------------------------------------

    def list_objects(
        self, prefix=None, limit=None, marker=None, sort_dir=None, context=None
    ):
        listing.check_listing_arguments(limit, sort_dir)
        prefix = prefix or "/"
        if not prefix.startswith("/"):
            return []
        directory = prefix[: prefix.rfind("/") + 1]
        if not all(map(keys.is_valid_part, directory.split("/")[1:-1])):
            return []  # "//", "..", "~" …: no stored key can start with it
        found = self._walk(prefix, marker or None,
                           sort_dir == listing.DESCENDING)
        found = list(itertools.islice(found, limit))
        # the walk already selects and orders; this keeps the shared rules
        return listing.select_keys(found, prefix, limit, marker, sort_dir)

    def _walk(self, level_prefix, marker, descending):
        """The keys starting with ``level_prefix``, in listing order, lazily.

        ``level_prefix`` is a bank key prefix; one request (or page chain)
        lists the keys and sub-trees directly under its last ``/``. Sub-trees
        that lie wholly before the marker are skipped unlisted.
        """
        files, trees = self._list_level(level_prefix)
        entries = sorted([(name, False) for name in files]
                         + [(tree, True) for tree in trees], reverse=descending)
        for name, is_tree in entries:
            if is_tree:
                if _tree_is_wanted(name, marker, descending):
                    yield from self._walk(name, marker, descending)
            elif marker is None or (name < marker if descending else name > marker):
                yield name

    def _list_level(self, level_prefix):
        """``(keys, trees)`` directly under ``level_prefix``'s last ``/``.

        ``keys`` are bank keys, ``trees`` bank key prefixes ending in ``/``;
        objects whose names are no bank keys are left out.
        """
        s3_prefix = self._prefix + level_prefix[1:]
        what = f"the objects under {level_prefix!r}"
        arguments = {"Prefix": s3_prefix, "Delimiter": "/",
                     "MaxKeys": self._page_size}
        files, trees, seen_tokens = [], [], set()
        while True:
            try:
                page = self._client.list_objects_v2(Bucket=self._bucket,
                                                    **arguments)
            except (BotoCoreError, ClientError) as exc:
                raise self._error("list", exc, what=what) from exc
            for item in page.get("Contents", ()):
                key = self.bank_key(item["Key"])
                if key is not None and key.startswith(level_prefix):
                    files.append(key)
            for item in page.get("CommonPrefixes", ()):
                tree = item["Prefix"]
                key = self.bank_key(tree[:-1]) if tree.endswith("/") else None
                # a tree strictly below the level: the walk always descends
                if key is not None and len(key) >= len(level_prefix) and (
                        key.startswith(level_prefix)):
                    trees.append(key + "/")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
            if token in seen_tokens:
                raise S3BankError(
                    f"S3 bank could not list {what} in bucket {self._bucket!r}: "
                    "the server sent the same continuation token twice",
                    operation="list", bucket=self._bucket)
            seen_tokens.add(token)
            arguments["ContinuationToken"] = token
        return set(files), set(trees)

    # --- deleting --------------------------------------------------------------

    def delete_object(self, key, context=None):
        name = self.object_name(key)
        # S3 deletes a missing object without a word: ask first
        self._call("delete", key, self._client.head_object, Key=name)
        self._call("delete", key, self._client.delete_object, Key=name)


def _tree_is_wanted(tree, marker, descending):
    """Whether sub-tree ``tree`` (a prefix ending in ``/``) may hold keys after
    ``marker`` in listing order.

    Every key of the tree starts with ``tree``: if the marker does too, the
    tree must be entered; otherwise the whole tree lies on one side of it.
    """
    if marker is None or marker.startswith(tree):
        return True
    return tree < marker if descending else tree > marker
