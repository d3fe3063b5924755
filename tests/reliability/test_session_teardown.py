"""A request's session whose connection died cannot roll back: the request's answer must stand.

`test_dependency_outages.py` met this by chance (a 503 became a 500 once the database
came back mid-request); here it is made certain: the server ends the session's backend,
then the request's teardown runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask, g
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from snappy_monolith.config import sqlalchemy_url
from snappy_monolith.database import close_request_session as monolith_close
from snappy_plumbing.database import close_request_session as microservices_close
from tests.support.provisioning import MonolithResources

TEARDOWNS: dict[str, Callable[[BaseException | None], None]] = {
    "monolith": monolith_close,
    # user-service's and photo-service's, from plumbing.
    "microservices": microservices_close,
}


@pytest.mark.parametrize("component", TEARDOWNS)
def test_a_session_whose_connection_died_closes_without_raising(
    component: str, monolith_resources: MonolithResources, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(sqlalchemy_url(monolith_resources.database_url))
    try:
        with Flask(__name__).app_context():
            session = Session(engine)
            g.db_session = session
            backend_pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})
                other.commit()
            with caplog.at_level(logging.WARNING):
                TEARDOWNS[component](None)
            assert "db_session" not in g
    finally:
        engine.dispose()

    assert any("could not roll back" in record.getMessage() for record in caplog.records)
