"""PostgreSQL for the services that have a database: deadlines, request sessions, units of work.

Deadlines. Four limits come from configuration (`DatabaseTimeouts`): waiting for a pooled
connection, opening one, waiting for a lock and running a statement. The last two are
enforced by the server, which a stalled server or network cannot do, so the client also
stops waiting for any answer after `answer_timeout_seconds` and drops the connection.

Transactions. Domain functions (sign up, update a photo, revoke a token) take a session,
change rows and flush, and never commit. What one request writes is one unit of work:
its handler puts the calls that write inside `with unit_of_work(session):`, which commits
when the block ends and rolls back when it raises; nothing else commits. What must wait
for the commit, such as deleting the objects of a deleted photo, follows the block. A use
case that must act on how its commit went (an upload removes the objects it stored when
its row is not committed) opens the unit of work itself, and its handler opens none.
Reading needs no unit of work: the request's session (`request_session`, given to each
request by `install_request_sessions`) is rolled back and closed when the request ends.

Needs SQLAlchemy and psycopg (the `database` extra); services without a database never
import this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from flask import Flask, current_app, g
from psycopg.abc import PQGen
from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.orm import Session, sessionmaker

from snappy_plumbing.config import (
    ConfigurationError,
    ServiceSettings,
    check_request_budget,
    positive_float,
    positive_int,
    postgresql_url,
    section,
    variable,
)

__all__ = [
    "NAMING_CONVENTION",
    "AnswerDeadlineConnection",
    "Database",
    "DatabaseServiceSettings",
    "DatabaseTimeouts",
    "add_in_savepoint",
    "close_request_session",
    "create_deadline_engine",
    "install_request_sessions",
    "is_database_unavailable",
    "request_session",
    "unit_of_work",
]

# Stable constraint and index names for Alembic: the monolith's, so its rows copy into a service's tables.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_EXTENSION_KEY = "snappy.database"

_Result = TypeVar("_Result")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long each step of talking to PostgreSQL may take (docs/security.md, Deadlines)."""

    pool_timeout_seconds: float = field(
        default=1.0, metadata=variable("SNAPPY_DATABASE_POOL_TIMEOUT_SECONDS", positive_float)
    )
    # libpq counts whole seconds, and at least 2.
    connect_timeout_seconds: int = field(
        default=2, metadata=variable("SNAPPY_DATABASE_CONNECT_TIMEOUT_SECONDS", positive_int)
    )
    lock_timeout_seconds: float = field(
        default=1.0, metadata=variable("SNAPPY_DATABASE_LOCK_TIMEOUT_SECONDS", positive_float)
    )
    statement_timeout_seconds: float = field(
        default=3.0, metadata=variable("SNAPPY_DATABASE_STATEMENT_TIMEOUT_SECONDS", positive_float)
    )
    # Client side: the longest wait for any answer, for a server or network that stalls.
    answer_timeout_seconds: float = field(
        default=4.0, metadata=variable("SNAPPY_DATABASE_ANSWER_TIMEOUT_SECONDS", positive_float)
    )

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


@dataclass(frozen=True, kw_only=True)
class DatabaseServiceSettings(ServiceSettings):
    """What the settings of a service with a database hold: the database, and the request budget.

    The budget is the longest a request may take when one dependency fails: below web-ui's
    write timeout, the edge's upstream timeout and gunicorn's worker timeout, and above the
    longest call to each dependency, which is checked here.
    """

    database_url: str = field(metadata=variable("SNAPPY_DATABASE_URL", postgresql_url))
    database: DatabaseTimeouts = field(default_factory=DatabaseTimeouts, metadata=section())
    request_budget_seconds: float = field(
        default=15.0, metadata=variable("SNAPPY_REQUEST_BUDGET_SECONDS", positive_float)
    )

    def __post_init__(self) -> None:
        self.database.check()
        calls = {"a PostgreSQL call": self.database.worst_case_seconds(), **self.other_worst_cases()}
        check_request_budget(self.request_budget_seconds, calls)

    def other_worst_cases(self) -> dict[str, float]:
        """The longest each call to another dependency can take, by the call's name in a sentence."""
        return {}


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


class Database:
    """One engine, every wait on PostgreSQL bounded (`create_deadline_engine`), and its session factory."""

    def __init__(self, url: str, timeouts: DatabaseTimeouts | None = None) -> None:
        self.engine: Engine = create_deadline_engine(url, timeouts or DatabaseTimeouts())
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def ping(self) -> None:
        """Run a trivial query; raises when the database does not answer."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def install_request_sessions(app: Flask, database: Database) -> None:
    """Give each request of `app` its own session of `database`, closed when the request ends."""
    app.extensions[_EXTENSION_KEY] = database
    app.teardown_appcontext(close_request_session)


def request_session() -> Session:
    """The current request's session, opened on first use and closed at teardown."""
    session: Session | None = g.get("db_session")
    if session is None:
        database: Database = current_app.extensions[_EXTENSION_KEY]
        session = database.sessions()
        g.db_session = session
    return session


def close_request_session(_error: BaseException | None = None) -> None:
    """Close the request's session; anything not committed is rolled back."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        _roll_back_quietly(session.close)


@contextmanager
def unit_of_work(session: Session) -> Iterator[None]:
    """Commit `session` when the block ends; roll it back when the block or the commit raises.

    It continues the transaction the session may have begun already (a request reads
    before it writes, to authenticate its caller), which `Session.begin()` refuses to do.
    """
    try:
        yield
        session.commit()
    except BaseException:
        _roll_back_quietly(session.rollback)
        raise


def add_in_savepoint(session: Session, row: object) -> bool:
    """Insert `row` in a savepoint: False when a constraint refuses it, the transaction intact."""
    try:
        with session.begin_nested():
            session.add(row)
    except exc.IntegrityError:
        return False
    return True


def _roll_back_quietly(roll_back: Callable[[], None]) -> None:
    """Call `roll_back`; a rollback the database cannot take is logged, not raised."""
    try:
        roll_back()
    except exc.SQLAlchemyError:
        # The rollback could not reach the database (it went away during the request). The
        # server drops an unfinished transaction with its connection, and the error already
        # raised (a 503, for that same outage) must stand rather than turn into a 500 here.
        logger.warning("could not roll back the session", exc_info=True)


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))
