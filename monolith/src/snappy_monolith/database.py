"""The database engine and the per-request session, with a deadline on every wait.

The request owns the session and decides when to commit; service functions take the
session as an argument and never commit.

PostgreSQL gets four limits (`DatabaseTimeouts`): waiting for a pooled connection,
opening one, waiting for a lock and running a statement. The last two are enforced by
the server, which a stalled server or network cannot do, so the client also stops
waiting for any answer after `answer_timeout_seconds` and drops the connection.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import psycopg
from flask import current_app, g
from psycopg.abc import PQGen
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, sessionmaker

from snappy_monolith.config import DatabaseTimeouts

__all__ = ["AnswerDeadlineConnection", "Database", "is_database_unavailable", "request_session"]

logger = logging.getLogger(__name__)

_Result = TypeVar("_Result")


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


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, timeouts: DatabaseTimeouts | None = None) -> None:
        limits = timeouts or DatabaseTimeouts()
        self.timeouts = limits
        self.engine: Engine = create_engine(
            url,
            pool_size=5,
            max_overflow=5,
            pool_pre_ping=True,
            pool_timeout=limits.pool_timeout_seconds,
            connect_args={
                "connect_timeout": limits.connect_timeout_seconds,
                # A statement that runs away, or waits on a lock, must not hold a worker thread.
                "options": (
                    f"-c statement_timeout={_milliseconds(limits.statement_timeout_seconds)}"
                    f" -c lock_timeout={_milliseconds(limits.lock_timeout_seconds)}"
                ),
            },
        )

        @event.listens_for(self.engine, "do_connect")
        def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> psycopg.Connection[Any]:
            connection = AnswerDeadlineConnection.connect(*cargs, **cparams)
            connection.answer_timeout_seconds = limits.answer_timeout_seconds
            return connection

        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def ping(self) -> None:
        """Run a trivial query; raises when the database does not answer."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` says PostgreSQL is down, unreachable or too slow (not a bug of ours).

    Operational errors cover a refused or dropped connection, a connect or answer timeout,
    a canceled statement (statement_timeout) and a lock not granted (lock_timeout); the
    pool's own timeout is a checkout that waited too long.
    """
    if isinstance(error, (exc.OperationalError, exc.TimeoutError)):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def request_session() -> Session:
    """The current request's session, opened on first use and closed at teardown."""
    session: Session | None = g.get("db_session")
    if session is None:
        database: Database = current_app.extensions["snappy"].database
        session = database.sessions()
        g.db_session = session
    return session


def close_request_session(_error: BaseException | None = None) -> None:
    """Close the request's session; anything not committed is rolled back."""
    session: Session | None = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except exc.SQLAlchemyError:
        # The rollback could not reach the database (it went away during the request). The
        # server drops an unfinished transaction with its connection, and the answer already
        # chosen (a 503, for that same outage) must stand rather than turn into a 500 here.
        logger.warning("could not roll back the request's session", exc_info=True)
