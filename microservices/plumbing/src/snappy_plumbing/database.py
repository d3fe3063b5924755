"""PostgreSQL with a deadline on every wait, for the services that have a database.

Four limits come from configuration (`DatabaseTimeouts`): waiting for a pooled
connection, opening one, waiting for a lock and running a statement. The last two are
enforced by the server, which a stalled server or network cannot do, so the client also
stops waiting for any answer after `answer_timeout_seconds` and drops the connection.

Needs SQLAlchemy and psycopg (the `database` extra); services without a database never
import this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session

from snappy_plumbing.config import ConfigurationError, EnvironmentReader

__all__ = [
    "AnswerDeadlineConnection",
    "DatabaseTimeouts",
    "close_request_session_quietly",
    "create_deadline_engine",
    "is_database_unavailable",
]

_Result = TypeVar("_Result")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long each step of talking to PostgreSQL may take (docs/security.md, Deadlines)."""

    pool_timeout_seconds: float = 1.0
    # libpq counts whole seconds, and at least 2.
    connect_timeout_seconds: int = 2
    lock_timeout_seconds: float = 1.0
    statement_timeout_seconds: float = 3.0
    # Client side: the longest wait for any answer, for a server or network that stalls.
    answer_timeout_seconds: float = 4.0

    @classmethod
    def from_reader(cls, reader: EnvironmentReader) -> DatabaseTimeouts:
        """The SNAPPY_DATABASE_*_TIMEOUT_SECONDS variables, checked."""
        defaults = cls()
        timeouts = cls(
            pool_timeout_seconds=reader.positive_float(
                "SNAPPY_DATABASE_POOL_TIMEOUT_SECONDS", defaults.pool_timeout_seconds
            ),
            connect_timeout_seconds=reader.positive_int(
                "SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout_seconds
            ),
            lock_timeout_seconds=reader.positive_float(
                "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS", defaults.lock_timeout_seconds
            ),
            statement_timeout_seconds=reader.positive_float(
                "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS", defaults.statement_timeout_seconds
            ),
            answer_timeout_seconds=reader.positive_float(
                "SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS", defaults.answer_timeout_seconds
            ),
        )
        timeouts.check()
        return timeouts

    def worst_case_seconds(self) -> float:
        """The longest one database call can take: checkout, a failed pre-ping, reconnect, statement."""
        return (
            self.pool_timeout_seconds
            + self.answer_timeout_seconds
            + self.connect_timeout_seconds
            + self.answer_timeout_seconds
        )

    def check(self) -> None:
        """ConfigurationError unless the limits nest: lock < statement < answer."""
        if self.connect_timeout_seconds < 2:
            raise ConfigurationError("SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS must be at least 2")
        if not self.lock_timeout_seconds < self.statement_timeout_seconds:
            raise ConfigurationError(
                "SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS must be below SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS"
            )
        if not self.statement_timeout_seconds < self.answer_timeout_seconds:
            raise ConfigurationError(
                "SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS must be below"
                " SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS, so the server cancels a slow statement"
                " before the client gives up on it"
            )


class AnswerDeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection that stops waiting for the server after `answer_timeout_seconds`."""

    answer_timeout_seconds: float = 4.0

    def wait(self, gen: PQGen[_Result], interval: float = 0.1, timeout: float | None = None) -> _Result:
        """Consume `gen`, closing the connection when the server does not answer in time."""
        limit = self.answer_timeout_seconds if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=limit)
        except psycopg.errors._WaitTimeout:
            # The protocol stopped mid-exchange: the connection cannot be used again, and a
            # closed one is what SQLAlchemy recognises as a disconnect to throw away.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"PostgreSQL did not answer within {limit} s; connection closed"
            ) from None


def create_deadline_engine(url: str, timeouts: DatabaseTimeouts) -> Engine:
    """A pooled engine whose every wait on PostgreSQL is bounded by `timeouts`."""
    engine = create_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        pool_timeout=timeouts.pool_timeout_seconds,
        connect_args={
            "connect_timeout": timeouts.connect_timeout_seconds,
            # A statement that runs away, or waits on a lock, must not hold a worker thread.
            "options": (
                f"-c statement_timeout={_milliseconds(timeouts.statement_timeout_seconds)}"
                f" -c lock_timeout={_milliseconds(timeouts.lock_timeout_seconds)}"
            ),
        },
    )

    @event.listens_for(engine, "do_connect")
    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> psycopg.Connection[Any]:
        connection = AnswerDeadlineConnection.connect(*cargs, **cparams)
        connection.answer_timeout_seconds = timeouts.answer_timeout_seconds
        return connection

    return engine


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` says PostgreSQL is down, unreachable or too slow (not a bug of ours).

    Operational errors cover a refused or dropped connection, a connect or answer timeout,
    a canceled statement (statement_timeout) and a lock not granted (lock_timeout); the
    pool's own timeout is a checkout that waited too long.
    """
    if isinstance(error, (exc.OperationalError, exc.TimeoutError)):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def close_request_session_quietly(session: Session) -> None:
    """Close a request's session; a rollback the database cannot take is logged, not raised."""
    try:
        session.close()
    except exc.SQLAlchemyError:
        # The rollback could not reach the database (it went away during the request). The
        # server drops an unfinished transaction with its connection, and the answer already
        # chosen (a 503, for that same outage) must stand rather than turn into a 500 here.
        logger.warning("could not roll back the request's session", exc_info=True)


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))
