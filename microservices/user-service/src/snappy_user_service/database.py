"""The database engine and the per-request session.

The request owns the session and decides when to commit; service functions take the
session as an argument and never commit.
"""

from __future__ import annotations

from flask import g
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from snappy_plumbing.database import DatabaseTimeouts, close_request_session_quietly, create_deadline_engine
from snappy_user_service.components import components

__all__ = ["Database", "close_request_session", "request_session"]


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, timeouts: DatabaseTimeouts | None = None) -> None:
        # Every wait on PostgreSQL is bounded: see snappy_plumbing.database.
        self.engine: Engine = create_deadline_engine(url, timeouts or DatabaseTimeouts())
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def ping(self) -> None:
        """Run a trivial query; raises when the database does not answer."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def request_session() -> Session:
    """The current request's session, opened on first use and closed at teardown."""
    session: Session | None = g.get("db_session")
    if session is None:
        session = components().database.sessions()
        g.db_session = session
    return session


def close_request_session(_error: BaseException | None = None) -> None:
    """Close the request's session; anything not committed is rolled back."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        close_request_session_quietly(session)
