"""A page log-out ends the session for real: a copy of the old cookie replayed afterwards is logged out.

The attack from outside, over HTTP, against both versions under gunicorn: the monolith,
and the microservices behind their edge (web-ui revokes the token at user-service, and
learns of the revocation within its refresh interval, short in the live stack).
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import closing

import httpx
import pytest

from tests.support.live import REVOCATION_TTL_SECONDS, LiveMicroservices, LiveMonolith

COOKIE = "snappy_session"
PASSWORD = "correct-horse-battery"


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def signed_up_browser(base_url: str, username: str) -> httpx.Client:
    """A browser signed up (hence signed in) through the pages."""
    browser = httpx.Client(base_url=base_url, timeout=15)
    token = csrf_token(browser.get("/signup").text)
    response = browser.post(
        "/signup",
        data={"username": username, "display_name": "Replay", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302, response.text
    return browser


def signed_in(base_url: str, cookie: str, username: str) -> bool:
    """True when a fresh browser holding only this session cookie is signed in as `username`."""
    with httpx.Client(base_url=base_url, timeout=15) as attacker:
        attacker.cookies.set(COOKIE, cookie)
        response = attacker.get("/photos")
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login")
            return False
        assert response.status_code == 200, response.text
        return f'data-testid="current-user">{username}<' in response.text


@pytest.fixture(params=["monolith", "microservices"])
def site(request: pytest.FixtureRequest) -> tuple[str, float]:
    """Each version's pages under gunicorn, and how long a revocation takes to reach them."""
    if request.param == "monolith":
        live_monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        return live_monolith.base_url, 0.0
    live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
    return live_microservices.edge_url, REVOCATION_TTL_SECONDS * 2


def test_a_session_cookie_replayed_after_log_out_is_logged_out(site: tuple[str, float]) -> None:
    base_url, revocation_window = site
    username = f"replay_{secrets.token_hex(4)}"
    with closing(signed_up_browser(base_url, username)) as browser:
        stolen = browser.cookies[COOKIE]
        assert signed_in(base_url, stolen, username)

        response = browser.post("/logout", data={"csrf_token": csrf_token(browser.get("/").text)})

        assert response.status_code == 302
        assert 'data-testid="nav-login"' in browser.get("/").text
    time.sleep(revocation_window)
    assert not signed_in(base_url, stolen, username)


def test_log_out_ends_only_that_session(site: tuple[str, float]) -> None:
    base_url, revocation_window = site
    username = f"replay_{secrets.token_hex(4)}"
    with closing(signed_up_browser(base_url, username)) as leaving:
        with httpx.Client(base_url=base_url, timeout=15) as staying:
            token = csrf_token(staying.get("/login").text)
            response = staying.post(
                "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
            )
            assert response.status_code == 302
            staying_cookie = staying.cookies[COOKIE]

        leaving.post("/logout", data={"csrf_token": csrf_token(leaving.get("/").text)})

    time.sleep(revocation_window)
    assert signed_in(base_url, staying_cookie, username)
