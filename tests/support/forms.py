"""A person at the pages, through Flask's test client: forms filled in and sent as a browser sends them.

The pages are the same on both versions (web-ui renders the monolith's templates), so these
work on either.
"""

from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.images import image_bytes

__all__ = [
    "csrf_token",
    "flashes",
    "log_in_in_browser",
    "post_form",
    "sign_up_in_browser",
    "upload_in_browser",
]


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_up_in_browser(client: FlaskClient, username: str) -> None:
    """Sign up through the sign-up form; the client is signed in afterwards."""
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
    assert response.status_code == 302, response.get_data(as_text=True)


def log_in_in_browser(client: FlaskClient, username: str, password: str = "correct-horse") -> None:
    """Log in through the login form."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def upload_in_browser(client: FlaskClient, caption: str = "", visibility: str = "private") -> int:
    """Upload through the upload form; returns the new photo's id."""
    token = csrf_token(client.get("/upload").get_data(as_text=True))
    response = client.post(
        "/upload",
        data={
            "file": (io.BytesIO(image_bytes()), "photo.jpg"),
            "caption": caption,
            "visibility": visibility,
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/photos/")
    return int(location.rsplit("/", 1)[1])


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, str]) -> TestResponse:
    """Post a form found on `page` (any form: they share the session's CSRF token)."""
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token})


def flashes(client: FlaskClient, path: str = "/") -> str:
    """The page at `path`, where the flash messages of the last redirect show."""
    return client.get(path).get_data(as_text=True)
