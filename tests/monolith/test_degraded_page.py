"""The monolith's pages when its database does not answer: web-ui's degraded page, not a bare error.

Both versions show a person the same page when part of Snappy is down (tests/browser's visual
parity test compares them pixel by pixel); here, what the monolith's page says and sends.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask

from snappy_monolith import create_app as create_monolith
from snappy_monolith.config import DatabaseTimeouts, Settings
from tests.support.dependency_faults import Faults, proxied_settings
from tests.support.forms import csrf_token, sign_up_in_browser

DEGRADED_MESSAGE = "Photos are temporarily unavailable, try again in a moment"
HTML = {"Accept": "text/html"}


@pytest.fixture
def monolith(settings: Settings, faults: Faults) -> Iterator[Flask]:
    """The monolith on its session database, reached through a fault proxy."""
    proxied = proxied_settings(
        faults, database_url=settings.database_url, s3=settings.s3, timeouts=DatabaseTimeouts
    )
    app = create_monolith(replace(settings, **proxied))
    app.config["TESTING"] = True
    try:
        yield app
    finally:
        app.extensions["snappy"].database.dispose()


def test_a_log_in_while_the_database_refuses_is_the_degraded_page(monolith: Flask, faults: Faults) -> None:
    browser = monolith.test_client()
    token = csrf_token(browser.get("/login").get_data(as_text=True))

    faults.database.refuse()
    response = browser.post(
        "/login", data={"username": "alice", "password": "correct-horse", "csrf_token": token}, headers=HTML
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert 'data-testid="degraded"' in page
    assert DEGRADED_MESSAGE in page
    # A form's address answers POST alone: trying again starts from the home page.
    assert 'href="/" data-testid="degraded-retry"' in page


def test_a_page_read_while_the_database_refuses_offers_to_try_that_page_again(
    monolith: Flask, faults: Faults
) -> None:
    browser = monolith.test_client()
    sign_up_in_browser(browser, f"degraded_{secrets.token_hex(4)}")

    faults.database.refuse()
    response = browser.get("/photos", headers=HTML)

    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert 'data-testid="degraded"' in page
    assert 'href="/photos" data-testid="degraded-retry"' in page


def test_other_errors_keep_their_own_page(monolith: Flask) -> None:
    response = monolith.test_client().get("/no-such-page", headers=HTML)

    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'data-testid="error-page"' in page
    assert 'data-testid="degraded"' not in page
