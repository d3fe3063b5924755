"""The server-rendered pages through the test client (the browser journeys drive Chromium)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.images import image_bytes
from tests.support.api_client import ApiClient


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_up_in_browser(client: FlaskClient, username: str) -> None:
    token = csrf_token(client.get("/signup").get_data(as_text=True))
    response = client.post(
        "/signup",
        data={
            "username": username,
            "display_name": username.title(),
            "password": "correct-horse",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/", "/signup", "/login"])
def test_public_pages_render_for_visitors(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("path", ["/photos", "/upload", "/photos/1", "/users/alice"])
def test_private_pages_send_visitors_to_log_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_signed_up_user_sees_their_own_photos(client: FlaskClient, monolith_api: ApiClient) -> None:
    sign_up_in_browser(client, "alice")
    token = monolith_api.log_in("alice")
    monolith_api.upload(token, image_bytes(), caption="From the API")

    page = client.get("/photos").get_data(as_text=True)

    assert "From the API" in page


def test_sign_up_errors_are_shown_next_to_the_fields(client: FlaskClient) -> None:
    token = csrf_token(client.get("/signup").get_data(as_text=True))

    response = client.post(
        "/signup", data={"username": "A!", "display_name": "", "password": "x", "csrf_token": token}
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True).lower()
    assert "must be 3 to 32 characters" in page
    assert "must be at least 8 characters" in page
    assert "must be 1 to 64 characters" in page


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/signup", data={"username": "alice", "display_name": "A", "password": "correct-horse"}
    )

    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)


def test_an_unknown_page_is_an_html_404_for_browsers(client: FlaskClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_a_photo_the_viewer_may_not_see_is_an_html_404(client: FlaskClient, monolith_api: ApiClient) -> None:
    alice = monolith_api.user_with_token("alice")
    photo_id = monolith_api.upload(alice, image_bytes()).get_json()["id"]
    sign_up_in_browser(client, "mallory")

    response = client.get(f"/photos/{photo_id}", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_login_does_not_redirect_off_site(client: FlaskClient, monolith_api: ApiClient) -> None:
    monolith_api.sign_up("alice")
    token = csrf_token(client.get("/login").get_data(as_text=True))

    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": "correct-horse",
            "next": "//evil.example/",
            "csrf_token": token,
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
