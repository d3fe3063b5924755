"""The database engine and the per-request session.

The request owns the session and decides when to commit; service functions take the
session as an argument and never commit.
"""

from __future__ import annotations

from flask import g
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from snappy_photo_service.components import components

__all__ = ["Database", "close_request_session", "request_session"]


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(
            url,
            pool_size=5,
            max_overflow=5,
            pool_pre_ping=True,
            pool_timeout=5,
            # A statement that runs away must not hold a worker thread forever.
            connect_args={"connect_timeout": 5, "options": "-c statement_timeout=15000"},
        )
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
        session.close()
