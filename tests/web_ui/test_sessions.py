"""One session for both versions: the monolith's cookie signs the user in on web-ui, and back.

A token binds its account (id, username, creation time), so a session passes between the
versions for a user both hold identically, as after the data migration: here the user
signs up on the microservices and their row is copied into the monolith, as it is.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from snappy_monolith.config import Settings as MonolithSettings
from tests.support.api_client import ApiClient
from tests.support.forms import csrf_token, log_in_in_browser, sign_up_in_browser
from tests.support.live import LiveMicroservices
from tests.support.stores import execute_sql, fetch_rows

COOKIE = "snappy_session"


def session_cookie(client: FlaskClient) -> str:
    """The value of the client's session cookie."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def copy_user_to_the_monolith(live: LiveMicroservices, monolith: MonolithSettings, username: str) -> None:
    """Copy a user's row from user-service into the monolith, id, password hash and timestamp included."""
    columns = "id, username, display_name, password_hash, created_at"
    (row,) = fetch_rows(
        live.user_database_url,
        f"SELECT {columns} FROM users WHERE username = :name",  # noqa: S608
        {"name": username},
    )
    execute_sql(
        monolith.database_url,
        f"INSERT INTO users ({columns}) VALUES (:id, :username, :display_name, :password_hash, :created_at)",  # noqa: S608
        row,
    )


@pytest.fixture
def alice_in_both(
    client: FlaskClient,
    services_api: ApiClient,
    live_microservices: LiveMicroservices,
    settings: MonolithSettings,
) -> None:
    """alice, signed up on the microservices and copied into the (emptied) monolith."""
    services_api.sign_up("alice")
    copy_user_to_the_monolith(live_microservices, settings, "alice")


@pytest.mark.parametrize("made_by", ["monolith", "web-ui"])
@pytest.mark.usefixtures("alice_in_both")
def test_a_session_made_by_one_version_is_accepted_by_the_other(
    made_by: str, client: FlaskClient, web_ui: Flask
) -> None:
    browsers = {"monolith": client, "web-ui": web_ui.test_client()}
    (other,) = (browser for version, browser in browsers.items() if version != made_by)
    log_in_in_browser(browsers[made_by], "alice")
    other.set_cookie(COOKIE, session_cookie(browsers[made_by]))

    home = other.get("/")
    upload = other.get("/upload")

    assert home.status_code == 200
    assert 'data-testid="empty-feed"' in home.get_data(as_text=True)
    for page in (home, upload):
        assert 'data-testid="current-user">alice<' in page.get_data(as_text=True)


def test_a_form_rendered_by_one_version_is_accepted_by_the_other(
    client: FlaskClient, web_ui: Flask, services_api: ApiClient
) -> None:
    sign_up_in_browser(client, "alice")
    token = csrf_token(client.get("/").get_data(as_text=True))
    browser = web_ui.test_client()
    browser.set_cookie(COOKIE, session_cookie(client))

    response = browser.post("/logout", data={"csrf_token": token})

    assert response.status_code == 302
    assert 'data-testid="nav-login"' in browser.get("/").get_data(as_text=True)


def test_a_session_for_a_user_the_other_version_does_not_hold_is_not_accepted(
    client: FlaskClient, web_ui: Flask, services_api: ApiClient
) -> None:
    # Same key, same cookie secret, but another stack's user: web-ui signs the visitor out.
    sign_up_in_browser(client, "alice")
    services_api.sign_up("alice")
    browser = web_ui.test_client()
    browser.set_cookie(COOKIE, session_cookie(client))

    page = browser.get("/").get_data(as_text=True)

    assert 'data-testid="current-user"' not in page
    assert 'data-testid="nav-login"' in page


def test_the_cookie_has_the_monoliths_flags(web_ui: Flask, services_api: ApiClient) -> None:
    browser = web_ui.test_client()
    services_api.sign_up("alice")
    token = csrf_token(browser.get("/login").get_data(as_text=True))

    response = browser.post(
        "/login", data={"username": "alice", "password": "correct-horse", "csrf_token": token}
    )

    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{COOKIE}=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Expires=" in header


def without_csrf_tokens(page: str) -> str:
    """The page with its per-session CSRF tokens and per-rendering upload keys blanked out."""
    return re.sub(r'name="(csrf_token|idempotency_key)" value="[^"]+"', r'name="\1" value=""', page)


@pytest.mark.parametrize("path", ["/", "/signup", "/login", "/login?next=/photos"])
def test_visitor_pages_are_the_monoliths_byte_for_byte(client: FlaskClient, web_ui: Flask, path: str) -> None:
    monolith_page = client.get(path)
    web_ui_page = web_ui.test_client().get(path)

    assert web_ui_page.status_code == monolith_page.status_code
    assert web_ui_page.headers["Content-Type"] == monolith_page.headers["Content-Type"]
    assert without_csrf_tokens(web_ui_page.get_data(as_text=True)) == without_csrf_tokens(
        monolith_page.get_data(as_text=True)
    )


def test_signed_in_empty_pages_are_the_monoliths(
    client: FlaskClient, web_ui: Flask, services_api: ApiClient
) -> None:
    sign_up_in_browser(client, "alice")
    browser = web_ui.test_client()
    sign_up_in_browser(browser, "alice")

    for path in ["/", "/photos", "/upload", "/users/alice"]:
        monolith_page = without_csrf_tokens(client.get(path).get_data(as_text=True))
        web_ui_page = without_csrf_tokens(browser.get(path).get_data(as_text=True))
        # The join date is the same day, but not necessarily the same instant.
        assert re.sub(r"<time[^>]*>", "<time>", web_ui_page) == re.sub(
            r"<time[^>]*>", "<time>", monolith_page
        )
