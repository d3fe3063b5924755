"""The server-rendered pages of each version, through Flask's test client (tests/browser drives Chromium).

web-ui renders the monolith's pages on top of the services, so every test runs on both.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.forms import (
    csrf_token,
    flashes,
    log_in_in_browser,
    post_form,
    sign_up_in_browser,
    upload_in_browser,
)


@pytest.mark.parametrize("path", ["/", "/signup", "/login"])
def test_public_pages_render_for_visitors(browser: FlaskClient, path: str) -> None:
    response = browser.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("path", ["/photos", "/upload", "/photos/1", "/users/alice"])
def test_private_pages_send_visitors_to_log_in(browser: FlaskClient, path: str) -> None:
    response = browser.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_signed_up_user_sees_their_own_photos(browser: FlaskClient, api: ApiClient) -> None:
    sign_up_in_browser(browser, "alice")
    token = api.log_in("alice")
    api.upload(token, image_bytes(), caption="From the API")

    page = browser.get("/photos").get_data(as_text=True)

    assert "From the API" in page
    assert 'data-testid="current-user">alice<' in page


def test_every_signed_in_page_renders(browser: FlaskClient, api: ApiClient) -> None:
    sign_up_in_browser(browser, "alice")
    photo_id = upload_in_browser(browser, caption="Sunset", visibility="public")

    for path in ["/", "/photos", "/upload", f"/photos/{photo_id}", "/users/alice"]:
        response = browser.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html"
    profile = browser.get("/users/alice").get_data(as_text=True)
    assert 'data-testid="profile-display-name">Alice<' in profile
    assert "Sunset" in profile


def test_welcome_and_upload_are_flashed(browser: FlaskClient) -> None:
    sign_up_in_browser(browser, "alice")
    assert "Welcome to Snappy, Alice!" in flashes(browser)

    photo_id = upload_in_browser(browser, caption="First")

    page = flashes(browser, f"/photos/{photo_id}")
    assert "Photo uploaded." in page
    assert 'data-testid="photo-owner">Alice<' in page
    assert 'data-testid="no-shares"' in page


def test_images_and_thumbnails_are_served_as_jpeg(browser: FlaskClient) -> None:
    sign_up_in_browser(browser, "alice")
    photo_id = upload_in_browser(browser)

    image = browser.get(f"/photos/{photo_id}/image")
    thumbnail = browser.get(f"/photos/{photo_id}/thumb")

    assert image.status_code == 200
    assert image.mimetype == "image/jpeg"
    assert image.get_data() == image_bytes()
    assert image.headers["Cache-Control"] == "private, max-age=60"
    assert thumbnail.status_code == 200
    assert thumbnail.mimetype == "image/jpeg"
    assert thumbnail.get_data()[:2] == b"\xff\xd8"


def test_share_journey_reaches_the_other_users_feed(pages: Flask, api: ApiClient) -> None:
    alice, bob = pages.test_client(), pages.test_client()
    sign_up_in_browser(bob, "bob")
    assert 'data-testid="empty-feed"' in bob.get("/").get_data(as_text=True)
    sign_up_in_browser(alice, "alice")
    photo_id = upload_in_browser(alice, caption="For Bob")

    response = post_form(alice, f"/photos/{photo_id}", f"/photos/{photo_id}/shares", {"username": " bob "})

    assert response.status_code == 302
    detail = flashes(alice, f"/photos/{photo_id}")
    assert "Shared with bob." in detail
    assert 'data-username="bob"' in detail
    feed = bob.get("/").get_data(as_text=True)
    assert f'data-photo-id="{photo_id}"' in feed
    assert "For Bob" in feed
    assert ">Alice</a>" in feed
    assert bob.get(f"/photos/{photo_id}/thumb").status_code == 200


def test_share_errors_are_flashed(browser: FlaskClient, api: ApiClient) -> None:
    api.sign_up("bob")
    sign_up_in_browser(browser, "alice")
    photo_id = upload_in_browser(browser)
    page, action = f"/photos/{photo_id}", f"/photos/{photo_id}/shares"

    post_form(browser, page, action, {"username": "nobody"})
    assert "No user named &#39;nobody&#39;" in flashes(browser, page)
    post_form(browser, page, action, {"username": "alice"})
    assert "a photo cannot be shared with its owner" in flashes(browser, page)
    post_form(browser, page, action, {"username": "bob"})
    post_form(browser, page, action, {"username": "bob"})
    assert "is already shared with &#39;bob&#39;" in flashes(browser, page)


def test_edit_revoke_and_delete(browser: FlaskClient, api: ApiClient) -> None:
    api.sign_up("bob")
    sign_up_in_browser(browser, "alice")
    photo_id = upload_in_browser(browser, caption="Before")
    page = f"/photos/{photo_id}"

    post_form(browser, page, f"{page}/edit", {"caption": "After", "visibility": "public"})
    detail = flashes(browser, page)
    assert "Photo updated." in detail
    assert "After" in detail
    assert 'data-testid="visibility-badge">public<' in detail

    post_form(browser, page, f"{page}/edit", {"caption": "x", "visibility": "secret"})
    assert "visibility:" in flashes(browser, page)

    post_form(browser, page, f"{page}/shares", {"username": "bob"})
    post_form(browser, page, f"{page}/shares/bob/revoke", {})
    detail = flashes(browser, page)
    assert "No longer shared with bob." in detail
    assert 'data-testid="no-shares"' in detail

    response = post_form(browser, page, f"{page}/delete", {})
    assert response.headers["Location"] == "/photos"
    assert "Photo deleted." in flashes(browser, "/photos")
    assert browser.get(page, headers={"Accept": "text/html"}).status_code == 404


def test_sign_up_errors_are_shown_next_to_the_fields(browser: FlaskClient) -> None:
    token = csrf_token(browser.get("/signup").get_data(as_text=True))

    response = browser.post(
        "/signup", data={"username": "A!", "display_name": "", "password": "x", "csrf_token": token}
    )

    assert response.status_code == 422
    page = response.get_data(as_text=True).lower()
    assert "must be 3 to 32 characters" in page
    assert "must be at least 8 characters" in page
    assert "must be 1 to 64 characters" in page


def test_a_taken_username_is_a_409_on_the_form(browser: FlaskClient, api: ApiClient) -> None:
    api.sign_up("alice")
    token = csrf_token(browser.get("/signup").get_data(as_text=True))

    response = browser.post(
        "/signup",
        data={"username": "alice", "display_name": "A", "password": "correct-horse", "csrf_token": token},
    )

    assert response.status_code == 409
    assert "The username &#39;alice&#39; is taken" in response.get_data(as_text=True)


@pytest.mark.parametrize("username", ["alice", "", "x" * 300])
def test_wrong_credentials_are_a_401_with_one_message_for_every_cause(
    browser: FlaskClient, api: ApiClient, username: str
) -> None:
    api.sign_up("alice")
    token = csrf_token(browser.get("/login").get_data(as_text=True))

    response = browser.post(
        "/login", data={"username": username, "password": "wrong-password", "csrf_token": token}
    )

    assert response.status_code == 401
    assert "The username or password is wrong" in response.get_data(as_text=True)


def test_log_in_and_out(browser: FlaskClient, api: ApiClient) -> None:
    api.sign_up("alice")
    log_in_in_browser(browser, "alice")
    assert 'data-testid="current-user">alice<' in browser.get("/").get_data(as_text=True)

    response = post_form(browser, "/", "/logout", {})

    assert response.status_code == 302
    page = flashes(browser)
    assert "You are logged out." in page
    assert 'data-testid="nav-login"' in page


def test_a_form_without_its_csrf_token_is_refused(browser: FlaskClient) -> None:
    response = browser.post(
        "/signup", data={"username": "alice", "display_name": "A", "password": "correct-horse"}
    )

    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)


def test_a_signed_in_form_with_a_forged_csrf_token_is_refused(browser: FlaskClient) -> None:
    sign_up_in_browser(browser, "alice")

    response = browser.post("/logout", data={"csrf_token": "forged"})

    assert response.status_code == 400
    assert 'data-testid="current-user">alice<' in browser.get("/").get_data(as_text=True)


def test_an_unknown_page_is_an_html_404_for_browsers(browser: FlaskClient) -> None:
    response = browser.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_a_wrong_method_is_an_html_405_that_names_the_allowed_ones(browser: FlaskClient) -> None:
    response = browser.put("/logout", headers={"Accept": "text/html"})

    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "POST" in response.headers["Allow"]


def test_an_unknown_profile_is_an_html_404(browser: FlaskClient) -> None:
    sign_up_in_browser(browser, "alice")

    response = browser.get("/users/nobody", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert "No user named &#39;nobody&#39;" in response.get_data(as_text=True)


def test_a_photo_the_viewer_may_not_see_is_an_html_404(browser: FlaskClient, api: ApiClient) -> None:
    alice = api.user_with_token("alice")
    photo_id = api.upload(alice, image_bytes()).get_json()["id"]
    sign_up_in_browser(browser, "mallory")

    response = browser.get(f"/photos/{photo_id}", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert browser.get(f"/photos/{photo_id}/thumb").status_code == 404
    share = post_form(browser, "/", f"/photos/{photo_id}/shares", {"username": "mallory"})
    assert share.status_code == 404


def test_an_unknown_cursor_shows_the_first_page(browser: FlaskClient) -> None:
    sign_up_in_browser(browser, "alice")
    upload_in_browser(browser, caption="Only one")

    response = browser.get("/photos?cursor=not-a-cursor")

    assert response.status_code == 200
    assert "Only one" in response.get_data(as_text=True)


def test_login_does_not_redirect_off_site(browser: FlaskClient, api: ApiClient) -> None:
    api.sign_up("alice")
    token = csrf_token(browser.get("/login").get_data(as_text=True))

    response = browser.post(
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


def test_an_invalid_session_token_signs_the_user_out(pages: Flask) -> None:
    client = pages.test_client()
    with client.session_transaction() as session:
        session["access_token"] = "not-a-token"

    page = client.get("/").get_data(as_text=True)

    assert "Your session has expired. Please log in again." in page
    assert 'data-testid="nav-login"' in page
