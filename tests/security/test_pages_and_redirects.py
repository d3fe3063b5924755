"""Pages and redirects: `next` targets stay on the site; every page carries the security headers.

Both versions in turn: the monolith in process, the microservices behind their edge over HTTP.
The hostile `next` targets are sent as the form field (the value the server reads, as is) and
in the query string of the login address (decoded once by the server).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from snappy_monolith import create_app as create_monolith
from snappy_monolith.config import Settings as MonolithSettings
from tests.http_client import HttpTestClient
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.live import LiveMicroservices
from tests.support.versions import StackUnderTest
from tests.support.web_ui import build_web_ui, web_ui_settings

PASSWORD = "correct-horse"
BROWSER_ACCEPT = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
}
HSTS = "Strict-Transport-Security"

HOSTILE_TARGETS = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "\t//evil.example",
    " //evil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",
    "https://evil.example",
    "HTTPS:evil.example",
    "evil.example",
    "/\x00",
    "/%00",
    "java%0ascript:alert(1)",
    "javascript:alert(1)",
    "/%0d%0aSet-Cookie:%20snappy_session=stolen",
    "/\r\nSet-Cookie: snappy_session=stolen",
    "/\u2028/evil.example",
    "/\u202e/evil.example",
    # Longer than any page's address, yet within gunicorn's 4094-byte request line (else 414).
    "/" + "a" * 3000,
    "//" + "a" * 3000 + ".example",
]


Client = FlaskClient | HttpTestClient


@pytest.fixture
def site(stack: StackUnderTest) -> Client:
    """A browser-like client of each emptied version: cookies kept, redirects not followed."""
    return stack.make_client()


def sign_up(site: Client, username: str) -> None:
    """Create a user through the API."""
    ApiClient(site).sign_up(username, PASSWORD)


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on `page`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF token"
    return match.group(1)


def log_in(site: Client, username: str, next_field: str | None = None, query: str = "") -> Any:
    """Post the login form (to `/login` plus `query`), with `next_field` as its `next` field."""
    token = csrf_token(site.get("/login").get_data(as_text=True))
    form = {"username": username, "password": PASSWORD, "csrf_token": token}
    if next_field is not None:
        form["next"] = next_field
    return site.post(f"/login{query}", data=form)


def in_query(target: str) -> str:
    """`target` as a query value, with its own percent-escapes kept as they are (decoded once)."""
    return quote(target, safe="%/:;=@!$'()*+,")


def assert_stays_on_the_site(location: str) -> None:
    """The redirect goes to the default page: a hostile target is dropped, not repaired."""
    assert location == "/", location


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_a_hostile_next_field_falls_back_to_the_feed(site: Client, target: str) -> None:
    sign_up(site, "alice")

    response = log_in(site, "alice", next_field=target)

    assert response.status_code == 302, response.get_data(as_text=True)
    assert_stays_on_the_site(response.headers["Location"])


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_a_hostile_next_in_the_login_address_falls_back_to_the_feed(site: Client, target: str) -> None:
    sign_up(site, "alice")

    shown = site.get(f"/login?next={in_query(target)}")
    response = log_in(site, "alice", query=f"?next={in_query(target)}")

    assert shown.status_code == 200
    assert 'name="next"' not in shown.get_data(as_text=True)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert_stays_on_the_site(response.headers["Location"])


@pytest.mark.parametrize(
    "target", ["/photos", "/upload", "/users/alice", "/photos?cursor=abc%3D%3D", "/users/alice?cursor=x-y_z"]
)
def test_a_next_page_on_the_site_is_where_logging_in_leads(site: Client, target: str) -> None:
    sign_up(site, "alice")

    response = log_in(site, "alice", next_field=target)

    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_a_visitor_sent_to_log_in_comes_back_to_the_page(site: Client) -> None:
    sign_up(site, "alice")
    asked = site.get("/users/alice?cursor=abc")
    login_address = asked.headers["Location"]
    token = csrf_token(site.get(login_address).get_data(as_text=True))

    response = site.post(login_address, data={"username": "alice", "password": PASSWORD, "csrf_token": token})

    assert asked.status_code == 302
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/alice?cursor=abc"


def security_headers(response: Any) -> dict[str, str]:
    """The security headers of a response that are present."""
    names = [*PAGE_HEADERS, HSTS]
    return {name: response.headers[name] for name in names if name in response.headers}


def signed_in_with_a_photo(site: Client, username: str) -> int:
    """Sign `username` up and in on `site`, with one public photo; returns its id."""
    api = ApiClient(site)
    api.sign_up(username, PASSWORD)
    upload = api.upload(api.log_in(username, PASSWORD), image_bytes(), caption="Headers", visibility="public")
    assert upload.status_code == 201
    assert log_in(site, username).status_code == 302
    photo_id: int = upload.get_json()["id"]
    return photo_id


SIGNED_IN_PAGES = [
    ("/", 200),
    ("/photos", 200),
    ("/upload", 200),
    ("/photos/{photo_id}", 200),
    ("/users/{username}", 200),
    ("/photos/999999999", 404),
    ("/users/nobody_here", 404),
    ("/no-such-page", 404),
]
VISITOR_PAGES = [("/", 200), ("/login", 200), ("/signup", 200), ("/photos", 302), ("/no-such-page", 404)]


@pytest.mark.parametrize(("path", "status"), SIGNED_IN_PAGES)
def test_every_signed_in_page_carries_the_security_headers(site: Client, path: str, status: int) -> None:
    # A name of its own: a version may still hold a deleted user's name from the last test.
    username = f"headers_{secrets.token_hex(4)}"
    photo_id = signed_in_with_a_photo(site, username)

    response = site.get(path.format(photo_id=photo_id, username=username), headers=BROWSER_ACCEPT)

    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert security_headers(response) == PAGE_HEADERS


@pytest.mark.parametrize(("path", "status"), VISITOR_PAGES)
def test_every_visitor_page_carries_the_security_headers(site: Client, path: str, status: int) -> None:
    response = site.get(path, headers=BROWSER_ACCEPT)

    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert security_headers(response) == PAGE_HEADERS


def test_refused_forms_and_redirects_carry_the_security_headers(site: Client) -> None:
    refused = site.post("/logout", data={"csrf_token": "forged"}, headers=BROWSER_ACCEPT)
    sign_up(site, "alice")
    redirected = log_in(site, "alice")

    assert refused.status_code == 400
    assert redirected.status_code == 302
    assert security_headers(refused) == PAGE_HEADERS
    assert security_headers(redirected) == PAGE_HEADERS


def test_the_api_images_and_static_files_are_never_sniffed(site: Client) -> None:
    username = f"headers_{secrets.token_hex(4)}"
    photo_id = signed_in_with_a_photo(site, username)

    token = ApiClient(site).log_in(username, PASSWORD)
    bearer = {"Authorization": f"Bearer {token}"}
    responses = {
        "user": (site.get(f"/api/v1/users/{username}", headers=bearer), 200),
        "problem": (site.get("/api/v1/photos/999999999", headers=bearer), 404),
        "unauthenticated": (site.get("/api/v1/feed"), 401),
        "image": (site.get(f"/photos/{photo_id}/image"), 200),
        "thumbnail": (site.get(f"/photos/{photo_id}/thumb"), 200),
        "stylesheet": (site.get("/static/snappy.css"), 200),
        "script": (site.get("/static/snappy.js"), 200),
    }

    for name, (response, status) in responses.items():
        assert response.status_code == status, name
        assert response.mimetype != "text/html", name
        # Not a page: `nosniff` alone (a page's policy means nothing to JSON, images or CSS).
        assert security_headers(response) == {"X-Content-Type-Options": "nosniff"}, name


def test_the_pages_script_is_javascript_and_the_only_script(site: Client) -> None:
    script = site.get("/static/snappy.js")
    page = site.get("/login").get_data(as_text=True)

    assert script.status_code == 200
    assert script.mimetype in {"text/javascript", "application/javascript"}
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/snappy.js" defer>']
    assert not re.search(r"\son[a-z]+=|\sstyle=", page)


@pytest.mark.parametrize("secure", [True, False])
def test_hsts_is_sent_exactly_when_the_session_cookie_is_secure(
    secure: bool, settings: MonolithSettings, live_microservices: LiveMicroservices
) -> None:
    monolith = create_monolith(replace(settings, session_cookie_secure=secure))
    assert settings.secret_key is not None
    web_ui = build_web_ui(
        replace(
            web_ui_settings(
                live_microservices.user_service_url, live_microservices.photo_service_url, settings.secret_key
            ),
            session_cookie_secure=secure,
        )
    )

    for app in (monolith, web_ui):
        page = app.test_client().get("/login")
        stylesheet = app.test_client().get("/static/snappy.css")
        expected = {**PAGE_HEADERS, HSTS: "max-age=31536000"} if secure else PAGE_HEADERS
        assert security_headers(page) == expected
        assert HSTS not in stylesheet.headers
