"""The databases and the buckets the migration reads and writes, and the checks that they are ready."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import botocore.session
import psycopg
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql

from snappy_migration.errors import MigrationError, SchemaMissing, StoreUnreachable
from snappy_migration.mapping import CHANGE_LOG_TABLE, TABLES, TARGETS, tables_of
from snappy_topology import PARTS, PartName

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ABSENT_CODES",
    "S3_POOL_CONNECTIONS",
    "Connection",
    "Endpoints",
    "ObjectStore",
    "Stores",
    "claim_migration",
    "column_list",
    "connect",
    "describe_database",
    "one_line",
    "open_stores",
    "pipe_copy",
    "s3_client",
    "s3_error_code",
]

Connection = psycopg.Connection[tuple[Any, ...]]

_CONNECT_TIMEOUT_SECONDS = 5
# What S3 servers answer for a bucket or an object that is not there.
ABSENT_CODES = frozenset({"404", "NoSuchBucket", "NoSuchKey", "NotFound"})
# Connections per S3 client: the copy's threads, the two listings' and the hashing reads'
# (snappy_migration.objects.COPY_THREADS is 32), so no thread waits for a free connection.
S3_POOL_CONNECTIONS = 48
# The advisory lock a writing `snappy migrate` holds on the monolith's database ("snappy" in hex).
_MIGRATION_LOCK = 0x736E61707079
# Checksums compare text renderings of rows, so both sides must render time the same way.
_SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres"


@dataclass(frozen=True)
class ObjectStore:
    """An S3 endpoint and its credentials."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class Endpoints:
    """Everything the migration talks to: one source, one database per target, two buckets.

    The source bucket is on `object_store`; the target bucket too, unless
    `target_object_store` names another endpoint or account.
    """

    source_database_url: str
    target_database_urls: Mapping[PartName, str]
    object_store: ObjectStore
    source_bucket: str
    target_bucket: str
    target_object_store: ObjectStore | None = None

    @property
    def target_store(self) -> ObjectStore:
        """The endpoint and credentials of the target bucket."""
        return self.target_object_store or self.object_store

    @property
    def server_side_copy(self) -> bool:
        """Whether one endpoint and one account serve both buckets, so objects copy inside the store."""
        return self.target_store == self.object_store


@dataclass
class Stores:
    """Open connections: the source, one per target database, and the S3 clients of both buckets."""

    source: Connection
    targets: dict[PartName, Connection]
    s3: S3Client
    endpoints: Endpoints
    # The target bucket's client: `s3` itself when one endpoint and account serve both buckets.
    target_s3: S3Client | None = None

    @property
    def buckets_differ(self) -> bool:
        """Whether objects must be copied at all: not when the services kept the monolith's bucket."""
        return (
            self.endpoints.source_bucket != self.endpoints.target_bucket
            or not self.endpoints.server_side_copy
        )

    @property
    def target(self) -> S3Client:
        """The client of the target bucket."""
        return self.target_s3 or self.s3


def one_line(error: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def describe_database(url: str) -> str:
    """`host:port/database` of a PostgreSQL URL, without its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def connect(url: str, role: str) -> Connection:
    """A connection to the database at `url`, rendering times in UTC; `role` names it in errors."""
    plain_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        return psycopg.connect(
            plain_url,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            # Each unit of work opens its own transaction; nothing is left open between them.
            autocommit=True,
            application_name="snappy-migrate",
            options=_SESSION_OPTIONS,
        )
    except psycopg.Error as error:
        raise StoreUnreachable(
            f"cannot connect to the {role} database at {describe_database(plain_url)}: {one_line(error)}"
        ) from error


def s3_client(store: ObjectStore) -> S3Client:
    """A boto3 S3 client with bounded timeouts and retries, addressing buckets as paths.

    Its timestamps stay the text the server sent: the migration reads none, and parsing the
    `LastModified` of every listed key costs most of a listing's time in this process.
    """
    botocore_session = botocore.session.get_session()
    botocore_session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=_timestamp_as_text
    )
    return boto3.session.Session(botocore_session=botocore_session).client(
        "s3",
        endpoint_url=store.endpoint_url,
        region_name=store.region,
        aws_access_key_id=store.access_key_id,
        aws_secret_access_key=store.secret_access_key,
        config=Config(
            connect_timeout=3,
            read_timeout=30,
            retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": "path"},
            # Signature version 4 for presigned listing URLs too (botocore would sign those
            # with version 2 in us-east-1, which some stores refuse).
            signature_version="s3v4",
            max_pool_connections=S3_POOL_CONNECTIONS,
        ),
    )


def _timestamp_as_text(text: str) -> str:
    return text


@contextmanager
def open_stores(endpoints: Endpoints, *, need_change_log: bool = True) -> Iterator[Stores]:
    """Connect to every store, check that each holds what the migration needs, close them after."""
    with ExitStack() as opened:
        source = opened.enter_context(connect(endpoints.source_database_url, "monolith's"))
        _require_tables(
            source,
            [table.source_table for table in TABLES] + ([CHANGE_LOG_TABLE] if need_change_log else []),
            owner="the monolith's",
            package="snappy_monolith",
        )
        targets: dict[PartName, Connection] = {}
        for target in TARGETS:
            connection = opened.enter_context(connect(endpoints.target_database_urls[target], target.value))
            _require_tables(
                connection,
                [table.target_table for table in tables_of(target)],
                owner=f"{target.value}'s",
                package=PARTS[target].package,
            )
            targets[target] = connection
        s3 = s3_client(endpoints.object_store)
        target_s3 = s3 if endpoints.server_side_copy else s3_client(endpoints.target_store)
        _require_bucket(s3, endpoints.object_store, endpoints.source_bucket)
        _require_bucket(target_s3, endpoints.target_store, endpoints.target_bucket)
        yield Stores(source=source, targets=targets, s3=s3, endpoints=endpoints, target_s3=target_s3)


def _require_tables(connection: Connection, tables: list[str], *, owner: str, package: str) -> None:
    with connection.transaction():
        missing = [
            table
            for table in tables
            if connection.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)
        ]
    if missing:
        info = connection.info
        where = f"{info.host}:{info.port}/{info.dbname}"
        raise SchemaMissing(
            f"{owner} database at {where} has no table {', '.join(missing)}: create its schema with"
            f" `python -m {package} migrate` (SNAPPY_DATABASE_URL set to that database)"
        )


def _require_bucket(s3: S3Client, store: ObjectStore, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if s3_error_code(error) in ABSENT_CODES:
            raise StoreUnreachable(f"bucket {bucket!r} does not exist at {store.endpoint_url}") from error
        raise StoreUnreachable(
            f"cannot use bucket {bucket!r} at {store.endpoint_url}: {one_line(error)}"
        ) from error
    except BotoCoreError as error:
        raise StoreUnreachable(
            f"cannot reach the object store at {store.endpoint_url}: {one_line(error)}"
        ) from error


def pipe_copy(
    source: Connection, target: Connection, copy_out: sql.Composed, copy_in: sql.Composed | sql.SQL
) -> int:
    """Stream `COPY ... TO STDOUT` on `source` into `COPY ... FROM STDIN` on `target`; return rows written.

    The blocks pass through untouched (binary COPY on both ends decodes no row here): the
    fastest way a client can move rows between two servers.
    """
    with source.cursor() as reading, target.cursor() as writing:
        with reading.copy(copy_out) as rows_out, writing.copy(copy_in) as rows_in:
            for block in rows_out:
                rows_in.write(block)
        return writing.rowcount


def claim_migration(source: Connection) -> None:
    """Hold, for this connection's life, the lock that keeps two migrations from writing at once.

    A session-level advisory lock on the monolith's database: it goes when the process does,
    SIGKILL included, so a crash never leaves it behind.
    """
    claimed = source.execute("SELECT pg_try_advisory_lock(%s)", (_MIGRATION_LOCK,)).fetchone()
    if claimed != (True,):
        holder = source.execute(
            "SELECT pid, application_name FROM pg_locks JOIN pg_stat_activity USING (pid)"
            " WHERE locktype = 'advisory' AND objid = %s LIMIT 1",
            (_MIGRATION_LOCK & 0xFFFFFFFF,),
        ).fetchone()
        who = f" (server process {holder[0]}, {holder[1] or 'unnamed'})" if holder else ""
        raise MigrationError(
            f"another migration is writing from this monolith database{who}; wait for it to end"
        )


def column_list(names: tuple[str, ...]) -> sql.Composed:
    """`"a", "b", "c"`: column names quoted and joined, for any statement the tool composes."""
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def s3_error_code(error: ClientError) -> str:
    """The S3 error code of a failed call (`NoSuchKey`, `404`, ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))
