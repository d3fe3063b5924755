"""Databases on a PostgreSQL server: create, drop, and check that the server answers."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from snappy_devstack.errors import BackingServiceError, one_line

__all__ = [
    "create_database",
    "database_url",
    "describe_postgres_url",
    "drop_database",
    "postgres_answers",
]

_CONNECT_TIMEOUT_SECONDS = 5
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server that `server_url` points to."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def describe_postgres_url(url: str) -> str:
    """`host:port/database` of a PostgreSQL URL, without credentials, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or '/'}"


def postgres_answers(url: str, *, timeout_seconds: int = 2) -> bool:
    """Whether the server at `url` accepts a connection and answers a query."""
    try:
        with psycopg.connect(url, connect_timeout=timeout_seconds, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def create_database(server_url: str, name: str, *, drop_existing: bool = False) -> str:
    """Create database `name` unless it exists (recreate it if asked); return its URL."""
    _check_name(name)
    if drop_existing:
        drop_database(server_url, name)
    with _admin_connection(server_url) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            try:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # Created concurrently by someone else: the outcome asked for.
            except psycopg.Error as error:
                raise BackingServiceError(
                    f"cannot create database {name!r} on {describe_postgres_url(server_url)}: "
                    f"{one_line(error)}"
                ) from error
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name` if it exists, terminating its connections first."""
    _check_name(name)
    with _admin_connection(server_url) as connection:
        try:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
            if connection.info.server_version >= 130000:
                # FORCE also ends connections opened between the terminate and the drop.
                drop = sql.SQL("{} WITH (FORCE)").format(drop)
            connection.execute(drop)
        except psycopg.Error as error:
            raise BackingServiceError(
                f"cannot drop database {name!r} on {describe_postgres_url(server_url)}: {one_line(error)}"
            ) from error


def _admin_connection(server_url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(server_url, connect_timeout=_CONNECT_TIMEOUT_SECONDS, autocommit=True)
    except psycopg.Error as error:
        raise BackingServiceError(
            f"cannot connect to PostgreSQL at {describe_postgres_url(server_url)}: {one_line(error)}"
        ) from error


def _check_name(name: str) -> None:
    if not _DATABASE_NAME.fullmatch(name):
        raise BackingServiceError(
            f"invalid database name {name!r}: use letters, digits, '_' and '-' (at most 63)"
        )
