"""The photos' objects: copied from the monolith's bucket to photo-service's, and proven equal.

What to copy is decided from listings, not asked key by key: `list_objects_v2` of both
buckets (1,000 keys, sizes and ETags a request, read on two threads) is merged with the
sorted keys the photos name (`merge_listings`). A named key whose copy is already in the
target with the same size and MD5 ETag is done; one missing, or of another size, is
copied; one whose ETags cannot settle it is read on both sides and hashed.

Two objects are equal when their sizes match and their checksums do. S3 gives an MD5 as
the ETag of an object stored in one part (every object Snappy writes); the ETag of a
multipart upload (`<md5 of the parts' MD5s>-<parts>`) is no MD5 of the content, and some
stores (encryption with customer keys, some S3-compatible servers) give ETags that are no
MD5 at all. So equal MD5-shaped ETags settle "equal"; different sizes settle "different";
anything else (a `-` in an ETag, or two MD5-shaped ETags that differ while the sizes
match) is read in full on both sides and settled by SHA-256. That hashing happens in
three places only, and nowhere else: `copy_listed_objects` for a named key found in both
buckets unsettled; `verify`'s inventory for the same; and the check of a fresh copy whose
ETag (from the CopyObject or PutObject response) does not match the source's.

How objects move (`ObjectTransfer`):

- One endpoint serving both buckets with one set of credentials: server-side
  `copy_object`, one round trip and no bytes through this process, on `COPY_THREADS`
  threads sharing one client. The copy is checked from the response's ETag.
- Two endpoints, or two accounts: each object streams from a GET on the source into a PUT
  on the target, never touching the disk: objects up to `STREAM_PART_BYTES` in one PUT,
  larger ones as a multipart upload of parts of that size, every request with its
  Content-MD5 so the target refuses damaged bytes. At most `STREAM_THREADS` objects are in
  flight, so memory holds at most `STREAM_THREADS` x `STREAM_PART_BYTES` of content. A
  failed transfer (a dropped connection mid-body, a 5xx, throttling) starts again from
  its GET, up to `STREAM_ATTEMPTS` times with exponential backoff and jitter.

Copies are idempotent (an object is written whole or not at all), and a key deleted from
the source between the listing and its copy is reported as absent, not as a failure.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import queue
import random
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from xml.etree import ElementTree

import urllib3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from psycopg import sql

from snappy_migration.errors import MigrationError
from snappy_migration.mapping import OBJECT_KEY_COLUMNS, OBJECTS_TABLE
from snappy_migration.stores import ABSENT_CODES, Connection, Stores, one_line, s3_error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from snappy_migration.progress import Progress

__all__ = [
    "COPY_THREADS",
    "STREAM_ATTEMPTS",
    "STREAM_PART_BYTES",
    "STREAM_THREADS",
    "Action",
    "Comparison",
    "CopyOutcome",
    "Decision",
    "ObjectCopyFailed",
    "ObjectInfo",
    "ObjectTransfer",
    "Pairing",
    "Standing",
    "compare_listed",
    "content_digest",
    "copy_listed_objects",
    "copy_objects",
    "decide",
    "delete_objects",
    "inventory",
    "list_objects",
    "merge_listings",
    "named_object_keys",
    "object_info",
    "same_content",
    "standing_of_keys",
]

# Server-side copies in flight: each is a round trip that moves no bytes through here, so
# the store, not this process, sets the pace; past about 32 the embedded store gains little.
COPY_THREADS = 32
# Objects streamed between endpoints at once, and the most of one held in memory.
STREAM_THREADS = 16
STREAM_PART_BYTES = 8 * 1024 * 1024
STREAM_ATTEMPTS = 5
_BACKOFF_FIRST_SECONDS = 0.2
_BACKOFF_MOST_SECONDS = 10.0
_READ_CHUNK_BYTES = 1024 * 1024
_DELETE_BATCH = 1000
# Listing pages (1,000 keys each) read ahead of the merge, per bucket.
_PAGES_AHEAD = 8
# A listing page's request: presigned for this long, retried this often on a dropped
# connection or a 5xx, with these timeouts.
_LIST_URL_SECONDS = 300
_LIST_ATTEMPTS = 5
_LIST_CONNECT_SECONDS = 3.0
_LIST_READ_SECONDS = 30.0
# Keys fetched per round trip from the photos' server-side cursor.
_NAMED_KEYS_PER_FETCH = 5_000
# Error codes of a request worth trying again: the store was busy, slow or hurt in transit.
_RETRYABLE_CODES = frozenset(
    {
        "BadDigest",
        "InternalError",
        "RequestTimeout",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
    }
)


_T = TypeVar("_T")


class ObjectCopyFailed(MigrationError):
    """An object could not be copied, or its copy differs from the original."""


@dataclass(frozen=True)
class ObjectInfo:
    """An object's key, size in bytes and ETag (quotes removed)."""

    key: str
    size: int
    etag: str

    @property
    def md5(self) -> str | None:
        """The content's MD5 when the ETag has an MD5's shape (single-part uploads), else None."""
        return self.etag if _is_md5(self.etag) else None


class Comparison(Enum):
    """What two listings say of an object and its copy."""

    SAME = "same"
    DIFFERENT = "different"
    # Same size, and ETags that cannot be compared: only reading both settles it.
    UNSETTLED = "unsettled"


def compare_listed(original: ObjectInfo, copy: ObjectInfo) -> Comparison:
    """Sizes first, then MD5 ETags; UNSETTLED when neither decides (multipart, or no MD5 ETags)."""
    if original.size != copy.size:
        return Comparison.DIFFERENT
    if original.md5 is not None and original.md5 == copy.md5:
        return Comparison.SAME
    # Two MD5 ETags that differ at the same size are different contents on a store whose
    # ETags are MD5s, and say nothing on one whose are not: reading both is the only proof.
    return Comparison.UNSETTLED


@dataclass(frozen=True)
class Pairing:
    """One key of the merged listings: named by a photo or not, and its object on each side."""

    key: str
    named: bool
    original: ObjectInfo | None
    copy: ObjectInfo | None


def merge_listings(
    named: Iterable[str], source: Iterable[ObjectInfo], target: Iterable[ObjectInfo]
) -> Iterator[Pairing]:
    """Merge the named keys with both buckets' listings, all three sorted, in one pass.

    Yields each named key once, with its source and target objects (None where absent),
    and each target object no key names (`named=False`), in key order. Source objects no
    key names are skipped. S3 lists keys in the order of their UTF-8 bytes, which is the
    order of Python's string comparison (UTF-8 keeps code point order), so the names must
    come sorted the same way (PostgreSQL: `ORDER BY key COLLATE "C"`).
    """
    names = iter(named)
    in_source = _SortedObjects(iter(source))
    in_target = _SortedObjects(iter(target))
    previous: str | None = None
    name = next(names, None)
    while name is not None or in_target.head is not None:
        head = in_target.head
        if head is not None and (name is None or head.key < name):
            in_target.take()
            yield Pairing(head.key, named=False, original=None, copy=head)
            continue
        assert name is not None  # The loop runs while one of the two is left.
        if previous is not None and name <= previous:
            if name == previous:
                name = next(names, None)
                continue
            raise MigrationError(f"object keys out of order: {name!r} after {previous!r}")
        yield Pairing(name, named=True, original=in_source.advance_to(name), copy=in_target.advance_to(name))
        previous = name
        name = next(names, None)


class Action(Enum):
    """What the copy does with a named key."""

    # The target holds an equal object already.
    SKIP = "skip"
    # The target holds none, or one of another size: copy it.
    COPY = "copy"
    # Both hold one whose ETags do not settle it: hash both, copy if they differ.
    CHECK = "check"
    # The source holds none: the photo was deleted meanwhile, or its object is lost.
    ABSENT = "absent"


@dataclass(frozen=True)
class Decision:
    """A named key and what to do with it, with its source object when there is one."""

    key: str
    action: Action
    original: ObjectInfo | None


def decide(pairings: Iterable[Pairing]) -> Iterator[Decision]:
    """The listing diff: for each named key, skip, copy, check by hashing, or report as absent."""
    for pairing in pairings:
        if not pairing.named:
            continue
        original, copy = pairing.original, pairing.copy
        if original is None:
            action = Action.ABSENT
        elif copy is None:
            action = Action.COPY
        else:
            action = {
                Comparison.SAME: Action.SKIP,
                Comparison.DIFFERENT: Action.COPY,
                Comparison.UNSETTLED: Action.CHECK,
            }[compare_listed(original, copy)]
        yield Decision(pairing.key, action, original)


@dataclass
class CopyOutcome:
    """What a copy did: objects written, objects found equal already, pairs settled by hashing,
    and the named keys absent from the source."""

    copied: int = 0
    unchanged: int = 0
    hashed: int = 0
    absent: list[str] = field(default_factory=list)


class _Result(Enum):
    COPIED = "copied"
    UNCHANGED = "unchanged"
    ABSENT = "absent"


@dataclass(frozen=True)
class _Done:
    key: str
    result: _Result
    hashed: bool = False


class ObjectTransfer:
    """Two buckets, each with the client that reaches it, and how objects move between them.

    `server_side` when one endpoint and one set of credentials serve both buckets: then
    `copy_object` copies inside the store. Otherwise objects stream through this process.
    Clients are shared by the threads (boto3 clients are thread-safe); each needs a
    connection pool at least as large as `threads`.
    """

    def __init__(
        self,
        source: S3Client,
        source_bucket: str,
        target: S3Client,
        target_bucket: str,
        *,
        server_side: bool,
        threads: int | None = None,
        part_bytes: int = STREAM_PART_BYTES,
        attempts: int = STREAM_ATTEMPTS,
        backoff_seconds: float = _BACKOFF_FIRST_SECONDS,
    ) -> None:
        if server_side and source is not target:
            raise ValueError("a server-side copy runs on one client, which both buckets share")
        self.source = source
        self.source_bucket = source_bucket
        self.target = target
        self.target_bucket = target_bucket
        self.server_side = server_side
        self.threads = threads or (COPY_THREADS if server_side else STREAM_THREADS)
        self.part_bytes = part_bytes
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    @classmethod
    def of(cls, stores: Stores) -> ObjectTransfer:
        """The transfer between the buckets of open stores: server-side when one store serves both."""
        return cls(
            stores.s3,
            stores.endpoints.source_bucket,
            stores.target,
            stores.endpoints.target_bucket,
            server_side=stores.endpoints.server_side_copy,
        )

    def describe(self) -> str:
        """How objects move, in a few words."""
        return "copied server-side" if self.server_side else "streamed between endpoints"

    def source_listing(self) -> Iterator[ObjectInfo]:
        """The source bucket's objects, in key order."""
        return list_objects(self.source, self.source_bucket)

    def target_listing(self) -> Iterator[ObjectInfo]:
        """The target bucket's objects, in key order."""
        return list_objects(self.target, self.target_bucket)

    def source_digest(self, key: str) -> tuple[int, str] | None:
        """The size and SHA-256 of the source's object, read in full; None if it is absent."""
        return content_digest(self.source, self.source_bucket, key)

    def target_digest(self, key: str) -> tuple[int, str] | None:
        """The size and SHA-256 of the target's object, read in full; None if it is absent."""
        return content_digest(self.target, self.target_bucket, key)

    def settle(self, key: str) -> bool:
        """Whether both buckets hold `key` with the same bytes, by reading and hashing both."""
        original = self.source_digest(key)
        return original is not None and original == self.target_digest(key)

    def move(self, key: str, listed: ObjectInfo | None) -> _Done:
        """Copy one object and check the copy; `listed` is the source's as a listing or a head saw it."""
        try:
            result, hashed = self._copy_server_side(key, listed) if self.server_side else self._stream(key)
            return _Done(key, result, hashed)
        except ClientError as error:
            if s3_error_code(error) in ABSENT_CODES:
                return _Done(key, _Result.ABSENT)  # Deleted from the source after the look.
            raise self._failure(key, error) from error
        except (BotoCoreError, _DamagedRead) as error:
            raise self._failure(key, error) from error

    def _failure(self, key: str, error: BaseException) -> ObjectCopyFailed:
        return ObjectCopyFailed(
            f"cannot copy object {key!r} from bucket {self.source_bucket!r} to {self.target_bucket!r}:"
            f" {one_line(error)}"
        )

    def _copy_server_side(self, key: str, listed: ObjectInfo | None) -> tuple[_Result, bool]:
        response = self.source.copy_object(
            Bucket=self.target_bucket, Key=key, CopySource={"Bucket": self.source_bucket, "Key": key}
        )
        etag = str(response.get("CopyObjectResult", {}).get("ETag", "")).strip('"')
        if listed is not None and listed.md5 is not None and etag == listed.md5:
            return _Result.COPIED, False
        # A multipart original, a store whose ETags are no MD5, or a source rewritten since it
        # was listed: the copy is proven by reading both.
        original = self.source_digest(key)
        if original is None:
            return _Result.ABSENT, True
        if original != self.target_digest(key):
            raise ObjectCopyFailed(
                f"the copy of object {key!r} in bucket {self.target_bucket!r} differs from the original"
            )
        return _Result.COPIED, True

    def _stream(self, key: str) -> tuple[_Result, bool]:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._stream_once(key)
            except ClientError as error:
                if s3_error_code(error) in ABSENT_CODES or not _retryable(error) or attempt == self.attempts:
                    raise
            except (BotoCoreError, _DamagedRead):
                if attempt == self.attempts:
                    raise
            # Full jitter: threads that failed together do not come back together.
            delay = min(_BACKOFF_MOST_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))
            time.sleep(random.uniform(0, delay))  # noqa: S311 - spreading retries, not secrecy
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _stream_once(self, key: str) -> tuple[_Result, bool]:
        response = self.source.get_object(Bucket=self.source_bucket, Key=key)
        served = ObjectInfo(key, int(response["ContentLength"]), str(response["ETag"]).strip('"'))
        body = response["Body"]
        whole_md5 = hashlib.md5()  # noqa: S324 - S3's own content checksum, not a secret
        whole_sha256 = hashlib.sha256()
        try:
            if served.size <= self.part_bytes:
                data = body.read(self.part_bytes + 1)
                if len(data) != served.size:
                    raise _DamagedRead(f"object {key!r}: {len(data)} bytes read of {served.size}")
                _check_read(served, data, whole_md5, whole_sha256, last=True)
                put = self.target.put_object(
                    Bucket=self.target_bucket, Key=key, Body=data, ContentMD5=_content_md5(data)
                )
                expected_etag = whole_md5.hexdigest()
                written_etag = str(put.get("ETag", "")).strip('"')
            else:
                written_etag, expected_etag = self._stream_parts(served, body, whole_md5, whole_sha256)
        finally:
            body.close()
        if written_etag == expected_etag:
            return _Result.COPIED, False
        # The target's ETags are no MD5s: read the copy back and compare it with what was sent.
        if self.target_digest(key) != (served.size, whole_sha256.hexdigest()):
            raise ObjectCopyFailed(
                f"the copy of object {key!r} in bucket {self.target_bucket!r} differs from the original"
            )
        return _Result.COPIED, True

    def _stream_parts(
        self, served: ObjectInfo, body: Any, whole_md5: Any, whole_sha256: Any
    ) -> tuple[str, str]:
        """A multipart upload of the body, part by part; the target's ETag and the one expected."""
        upload = self.target.create_multipart_upload(Bucket=self.target_bucket, Key=served.key)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        part_md5s: list[bytes] = []
        read = 0
        try:
            while read < served.size:
                data = body.read(min(self.part_bytes, served.size - read))
                if not data:
                    raise _DamagedRead(f"object {served.key!r}: {read} bytes read of {served.size}")
                read += len(data)
                _check_read(served, data, whole_md5, whole_sha256, last=read >= served.size)
                part_md5 = hashlib.md5(data).digest()  # noqa: S324 - S3's content checksum
                answer = self.target.upload_part(
                    Bucket=self.target_bucket,
                    Key=served.key,
                    UploadId=upload_id,
                    PartNumber=len(parts) + 1,
                    Body=data,
                    ContentMD5=base64.b64encode(part_md5).decode(),
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
                part_md5s.append(part_md5)
            done = self.target.complete_multipart_upload(
                Bucket=self.target_bucket,
                Key=served.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            # Parts of an upload never completed take space until aborted.
            # If the abort fails too, the bucket's lifecycle rule for incomplete uploads is the backstop.
            with contextlib.suppress(BotoCoreError, ClientError):
                self.target.abort_multipart_upload(
                    Bucket=self.target_bucket, Key=served.key, UploadId=upload_id
                )
            raise
        composite = hashlib.md5(b"".join(part_md5s)).hexdigest()  # noqa: S324 - S3's own ETag rule
        return str(done.get("ETag", "")).strip('"'), f"{composite}-{len(parts)}"


class _DamagedRead(Exception):
    """The bytes read from the source are not the object it announced: read it again."""


def _check_read(served: ObjectInfo, data: bytes, whole_md5: Any, whole_sha256: Any, *, last: bool) -> None:
    """Add `data` to the running digests; at the end, check them against the source's MD5 ETag."""
    whole_md5.update(data)
    whole_sha256.update(data)
    if last and served.md5 is not None and whole_md5.hexdigest() != served.md5:
        raise _DamagedRead(f"object {served.key!r}: the bytes read do not match its ETag")


def _content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - S3's Content-MD5


def _retryable(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return status >= 500 or s3_error_code(error) in _RETRYABLE_CODES


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(character in "0123456789abcdef" for character in etag.lower())


def object_info(s3: S3Client, bucket: str, key: str) -> ObjectInfo | None:
    """The object's size and ETag, or None if there is no such object."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if s3_error_code(error) in ABSENT_CODES:
            return None
        raise
    return ObjectInfo(key, int(head["ContentLength"]), head["ETag"].strip('"'))


def list_objects(s3: S3Client, bucket: str) -> Iterator[ObjectInfo]:
    """Every object of `bucket`, in key order (S3 lists keys sorted by their UTF-8 bytes).

    Each page (1,000 keys) is fetched from a presigned `ListObjectsV2` URL and its XML read
    here: botocore's generic response parser costs about 30 microseconds a key in this
    process, which bounds a re-run or a verify on a busy machine, and the XML is read in a
    tenth of that. Signing, the endpoint and the addressing style stay botocore's. Where a
    proxy is configured for the endpoint, or the client does not presign with signature
    version 4 (`snappy_migration.stores.s3_client` does), botocore's paginator does the
    work instead.
    """
    endpoint = urllib.parse.urlsplit(s3.meta.endpoint_url)
    proxies = urllib.request.getproxies()
    proxied = endpoint.scheme in proxies and not urllib.request.proxy_bypass(endpoint.hostname or "")
    # botocore presigns with version 2 unless the client's config asks for version 4 by name,
    # whatever it signs its own requests with: the URL itself says which it got.
    probe = s3.generate_presigned_url(
        "list_objects_v2", Params={"Bucket": bucket}, ExpiresIn=_LIST_URL_SECONDS
    )
    if proxied or "X-Amz-Signature=" not in probe:
        yield from _list_objects_through_botocore(s3, bucket)
        return
    pool = urllib3.PoolManager(
        num_pools=1,
        maxsize=1,
        timeout=urllib3.Timeout(connect=_LIST_CONNECT_SECONDS, read=_LIST_READ_SECONDS),
        retries=urllib3.Retry(
            total=_LIST_ATTEMPTS, backoff_factor=_BACKOFF_FIRST_SECONDS, status_forcelist=(500, 502, 503, 504)
        ),
    )
    token: str | None = None
    try:
        while True:
            parameters: dict[str, Any] = {"Bucket": bucket, "EncodingType": "url"}
            if token is not None:
                parameters["ContinuationToken"] = token
            url = s3.generate_presigned_url("list_objects_v2", Params=parameters, ExpiresIn=_LIST_URL_SECONDS)
            try:
                response = pool.request("GET", url, preload_content=True)
            except urllib3.exceptions.HTTPError as error:
                raise EndpointConnectionError(endpoint_url=s3.meta.endpoint_url, error=error) from error
            page = _read_listing(response.status, response.data)
            yield from page.objects
            if not page.truncated or page.next_token is None:
                return
            token = page.next_token
    finally:
        pool.clear()


@dataclass(frozen=True)
class _ListingPage:
    objects: list[ObjectInfo]
    truncated: bool
    next_token: str | None


def _read_listing(status: int, body: bytes) -> _ListingPage:
    """One `ListObjectsV2` answer: its objects (keys decoded), and where the next page starts."""
    root = ElementTree.fromstring(body)  # noqa: S314 - the store's own answer, over the signed request
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if status != 200:
        raise ClientError(
            {
                "Error": {
                    "Code": root.findtext(f"{namespace}Code") or root.findtext("Code") or str(status),
                    "Message": root.findtext(f"{namespace}Message") or root.findtext("Message") or "",
                },
                "ResponseMetadata": {"HTTPStatusCode": status},  # type: ignore[typeddict-item]
            },
            "ListObjectsV2",
        )
    url_encoded = root.findtext(f"{namespace}EncodingType") == "url"

    def decode(key: str) -> str:
        # Most keys have nothing encoded in them: unquoting those would only cost time.
        return urllib.parse.unquote_plus(key) if url_encoded and ("%" in key or "+" in key) else key

    key_tag, size_tag, etag_tag = f"{namespace}Key", f"{namespace}Size", f"{namespace}ETag"
    objects = [
        ObjectInfo(
            decode(item.findtext(key_tag) or ""),
            int(item.findtext(size_tag) or 0),
            (item.findtext(etag_tag) or "").strip('"'),
        )
        for item in root.iterfind(f"{namespace}Contents")
    ]
    return _ListingPage(
        objects,
        truncated=root.findtext(f"{namespace}IsTruncated") == "true",
        next_token=root.findtext(f"{namespace}NextContinuationToken"),
    )


def _list_objects_through_botocore(s3: S3Client, bucket: str) -> Iterator[ObjectInfo]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield ObjectInfo(item["Key"], int(item["Size"]), item["ETag"].strip('"'))


def content_digest(s3: S3Client, bucket: str, key: str) -> tuple[int, str] | None:
    """An object's size and SHA-256, read in chunks of 1 MiB; None if there is no such object."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if s3_error_code(error) in ABSENT_CODES:
            return None
        raise
    digest = hashlib.sha256()
    size = 0
    with body:
        for block in iter(lambda: body.read(_READ_CHUNK_BYTES), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def same_content(
    s3: S3Client, original: ObjectInfo, original_bucket: str, copy: ObjectInfo, copy_bucket: str
) -> bool:
    """Whether two objects of one store hold the same bytes: by their listings, else by hashing both."""
    verdict = compare_listed(original, copy)
    if verdict is not Comparison.UNSETTLED:
        return verdict is Comparison.SAME
    found = content_digest(s3, original_bucket, original.key)
    return found is not None and found == content_digest(s3, copy_bucket, copy.key)


def named_object_keys(photos: Connection) -> Iterator[str]:
    """Every object key photo-service's photos name, in byte order, from a server-side cursor.

    The cursor holds one transaction open while the keys are read; the connection must be
    used for nothing else meanwhile.
    """
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {column} AS key FROM {table}").format(
            column=sql.Identifier(column), table=sql.Identifier(OBJECTS_TABLE)
        )
        for column in OBJECT_KEY_COLUMNS
    )
    query = sql.SQL('SELECT key FROM ({union}) AS named ORDER BY key COLLATE "C"').format(union=union)
    with photos.transaction(), photos.cursor(name="named_object_keys") as cursor:
        cursor.itersize = _NAMED_KEYS_PER_FETCH
        for (key,) in cursor.execute(query):
            yield key


def copy_listed_objects(
    transfer: ObjectTransfer,
    named: Iterable[str],
    *,
    progress: Progress | None = None,
    on_copied: Callable[[int], None] | None = None,
    report_every: int = 1_000,
) -> CopyOutcome:
    """Copy every named key (sorted in byte order) that the target lacks or holds different.

    Both buckets are listed once, on threads of their own, while the names stream in; the
    work the listings leave runs on `transfer.threads` threads, with a bounded number of
    keys waiting, so memory stays flat whatever the number of objects. `progress` counts
    every named key settled; `on_copied(n)` hears of `n` more objects written, at most
    every `report_every` of them and at the end (for a checkpoint).
    """
    outcome = CopyOutcome()
    pending_copies = 0

    def record(done: _Done) -> None:
        nonlocal pending_copies
        if done.result is _Result.COPIED:
            outcome.copied += 1
            pending_copies += 1
        elif done.result is _Result.UNCHANGED:
            outcome.unchanged += 1
        else:
            outcome.absent.append(done.key)
        outcome.hashed += done.hashed
        if progress is not None:
            progress.add(1)
        if on_copied is not None and pending_copies >= report_every:
            on_copied(pending_copies)
            pending_copies = 0

    with (
        _ListingAhead(transfer.source_listing()) as source,
        _ListingAhead(transfer.target_listing()) as target,
        _BoundedPool[_Done](transfer.threads) as pool,
    ):
        for decision in decide(merge_listings(named, source, target)):
            if decision.action is Action.SKIP:
                record(_Done(decision.key, _Result.UNCHANGED))
            elif decision.action is Action.ABSENT:
                record(_Done(decision.key, _Result.ABSENT))
            else:
                for done in pool.submit(_work_on, transfer, decision):
                    record(done)
        for done in pool.drain():
            record(done)
    if on_copied is not None and pending_copies:
        on_copied(pending_copies)
    return outcome


class Standing(Enum):
    """Where a key stands after comparing both buckets."""

    EQUAL = "equal"
    MISSING = "missing"
    DIFFERENT = "different"
    MISSING_IN_SOURCE = "missing_in_source"
    # In the target bucket, named by no photo.
    EXTRA = "extra"


def inventory(
    transfer: ObjectTransfer, named: Iterable[str], *, judge_extras: bool = True
) -> Iterator[tuple[str, Standing, bool]]:
    """Each named key's standing, and each unnamed target object's if `judge_extras`: from listings.

    Yields `(key, standing, hashed)`. Pairs the listings settle come in key order; pairs that
    must be read and hashed (`hashed`) are settled on `transfer.threads` threads and come when
    done. Nothing is written.
    """
    with (
        _ListingAhead(transfer.source_listing()) as source,
        _ListingAhead(transfer.target_listing()) as target,
        _BoundedPool[tuple[str, Standing, bool]](transfer.threads) as pool,
    ):
        for pairing in merge_listings(named, source, target):
            original, copy = pairing.original, pairing.copy
            if not pairing.named:
                if judge_extras:
                    yield pairing.key, Standing.EXTRA, False
            elif copy is None:
                yield pairing.key, Standing.MISSING, False
            elif original is None:
                yield pairing.key, Standing.MISSING_IN_SOURCE, False
            else:
                verdict = compare_listed(original, copy)
                if verdict is Comparison.UNSETTLED:
                    yield from pool.submit(_settle, transfer, pairing.key)
                else:
                    standing = Standing.EQUAL if verdict is Comparison.SAME else Standing.DIFFERENT
                    yield pairing.key, standing, False
        yield from pool.drain()


def standing_of_keys(transfer: ObjectTransfer, keys: Iterable[str]) -> Iterator[tuple[str, Standing, bool]]:
    """Each of a few named keys' standing, from a head of each side: no listing, extras not judged.

    For the handful of keys changed since a listing-based `inventory` (a cutover's freeze),
    where listing both buckets again would cost time in proportion to every object. Yields
    `(key, standing, hashed)` as `inventory` does, in no particular order.
    """
    with _BoundedPool[tuple[str, Standing, bool]](transfer.threads) as pool:
        for key in keys:
            yield from pool.submit(_stand_by_heads, transfer, key)
        yield from pool.drain()


def _stand_by_heads(transfer: ObjectTransfer, key: str) -> tuple[str, Standing, bool]:
    original, copy = _read_both(
        key,
        lambda: object_info(transfer.source, transfer.source_bucket, key),
        lambda: object_info(transfer.target, transfer.target_bucket, key),
    )
    if original is None or copy is None:
        return key, _absent_standing(copy), False
    verdict = compare_listed(original, copy)
    if verdict is Comparison.UNSETTLED:
        return _settle(transfer, key)
    return key, Standing.EQUAL if verdict is Comparison.SAME else Standing.DIFFERENT, False


def _settle(transfer: ObjectTransfer, key: str) -> tuple[str, Standing, bool]:
    original, copy = _read_both(key, lambda: transfer.source_digest(key), lambda: transfer.target_digest(key))
    if original is None or copy is None:
        return key, _absent_standing(copy), True
    return key, Standing.EQUAL if original == copy else Standing.DIFFERENT, True


def _read_both(
    key: str, source: Callable[[], _T | None], target: Callable[[], _T | None]
) -> tuple[_T | None, _T | None]:
    """What `source` and `target` read of `key` on each side; ObjectCopyFailed when either cannot."""
    try:
        return source(), target()
    except (BotoCoreError, ClientError) as error:
        raise ObjectCopyFailed(f"cannot read object {key!r} to compare it: {one_line(error)}") from error


def _absent_standing(copy: object | None) -> Standing:
    """The standing of a key absent on one side: missing from the target first, else from the source."""
    return Standing.MISSING if copy is None else Standing.MISSING_IN_SOURCE


def copy_objects(transfer: ObjectTransfer, keys: Iterable[str]) -> list[str]:
    """Copy each of a few keys, whatever the target holds; return the keys absent from the source.

    For the handful of keys a sync batch names, where listing whole buckets would cost more
    than it saves: server-side, a head of the source (its size and ETag, to check the copy
    against) and the copy; streamed, the GET and the PUT.
    """
    absent: list[str] = []
    with _BoundedPool[_Done](transfer.threads) as pool:
        for key in keys:
            for done in pool.submit(_copy_one, transfer, key):
                if done.result is _Result.ABSENT:
                    absent.append(done.key)
        for done in pool.drain():
            if done.result is _Result.ABSENT:
                absent.append(done.key)
    return absent


def _copy_one(transfer: ObjectTransfer, key: str) -> _Done:
    listed: ObjectInfo | None = None
    if transfer.server_side:
        try:
            listed = object_info(transfer.source, transfer.source_bucket, key)
        except ClientError as error:
            raise transfer._failure(key, error) from error
        except BotoCoreError as error:
            raise transfer._failure(key, error) from error
        if listed is None:
            return _Done(key, _Result.ABSENT)
    return transfer.move(key, listed)


def _work_on(transfer: ObjectTransfer, decision: Decision) -> _Done:
    hashed = False
    if decision.action is Action.CHECK:
        try:
            if transfer.settle(decision.key):
                return _Done(decision.key, _Result.UNCHANGED, hashed=True)
        except (BotoCoreError, ClientError) as error:
            raise transfer._failure(decision.key, error) from error
        hashed = True
    done = transfer.move(decision.key, decision.original)
    return _Done(done.key, done.result, hashed=done.hashed or hashed)


def delete_objects(s3: S3Client, bucket: str, keys: Iterable[str]) -> None:
    """Delete `keys` from `bucket`; absent keys are not an error."""
    keys = list(keys)
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        try:
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
        except (BotoCoreError, ClientError) as error:
            raise ObjectCopyFailed(
                f"cannot delete objects from bucket {bucket!r}: {one_line(error)}"
            ) from error


class _SortedObjects:
    """A sorted stream of objects that can be looked ahead into and skipped forward."""

    def __init__(self, items: Iterator[ObjectInfo]) -> None:
        self._items = items
        self.head: ObjectInfo | None = next(items, None)

    def take(self) -> None:
        self.head = next(self._items, None)

    def advance_to(self, key: str) -> ObjectInfo | None:
        """Skip objects before `key`; return the one at `key`, if any, and move past it."""
        while self.head is not None and self.head.key < key:
            self.take()
        if self.head is not None and self.head.key == key:
            found = self.head
            self.take()
            return found
        return None


_END = object()


class _ListingAhead:
    """A listing read on a thread of its own, a few pages ahead of whoever iterates it.

    Two listings and the names then arrive at once instead of one after the other; the
    queue's bound keeps memory to a few pages per bucket.
    """

    def __init__(self, items: Iterator[ObjectInfo]) -> None:
        self._items = items
        self._pages: queue.Queue[Any] = queue.Queue(maxsize=_PAGES_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="listing", daemon=True)

    def __enter__(self) -> Iterator[ObjectInfo]:
        self._thread.start()
        return self._iterate()

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _read(self) -> None:
        page: list[ObjectInfo] = []
        try:
            for item in self._items:
                page.append(item)
                if len(page) >= 1000:
                    if not self._put(page):
                        return
                    page = []
            if page:
                self._put(page)
            self._put(_END)
        except BaseException as error:  # Handed to the reader, which raises it.  # noqa: BLE001
            self._put(error)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def _iterate(self) -> Iterator[ObjectInfo]:
        while True:
            page = self._pages.get()
            if page is _END:
                return
            if isinstance(page, BaseException):
                raise page
            yield from page


class _BoundedPool(Generic[_T]):
    """A thread pool with at most a few times its threads of work queued; results as they come.

    `submit` returns the results finished meanwhile, waiting for one when the queue is full;
    the first failure is raised there, and the work not started yet is dropped.
    """

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="objects")
        self._limit = threads * 4
        self._pending: set[Future[_T]] = set()

    def __enter__(self) -> _BoundedPool[_T]:
        return self

    def __exit__(self, *_: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def submit(self, work: Callable[..., _T], *arguments: Any) -> list[_T]:
        self._pending.add(self._executor.submit(work, *arguments))
        finished: list[_T] = []
        while len(self._pending) >= self._limit:
            finished += self._collect(wait(self._pending, return_when=FIRST_COMPLETED).done)
        return finished

    def drain(self) -> list[_T]:
        finished: list[_T] = []
        while self._pending:
            finished += self._collect(wait(self._pending, return_when=FIRST_COMPLETED).done)
        return finished

    def _collect(self, done: set[Future[_T]]) -> list[_T]:
        self._pending -= done
        return [future.result() for future in done]
