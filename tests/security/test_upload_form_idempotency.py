"""The upload page's form is one upload however often it is sent: a double submit or a browser retry.

Both versions in turn: the monolith in process, the microservices behind their edge over
HTTP. Each rendering of the form carries a random hidden key, which the monolith's page
gives to the API's upload use case and web-ui sends to photo-service as Idempotency-Key.
"""

from __future__ import annotations

import io
import re
import secrets
from typing import Any

from flask.testing import FlaskClient

from tests.http_client import HttpTestClient
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.versions import StackUnderTest

PASSWORD = "correct-horse"
# A photo and its thumbnail.
OBJECTS_PER_PHOTO = 2

Client = FlaskClient | HttpTestClient


def hidden_field(page: str, name: str) -> str:
    """The value of the hidden field `name` of the first form on `page`."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"the page has no {name} field"
    return match.group(1)


def signed_in(stack: StackUnderTest) -> Client:
    """A browser-like client of the emptied version, signed in through the login form."""
    # A name of its own: web-ui keeps profiles by username, and ids are not reused.
    username = f"uploader_{secrets.token_hex(4)}"
    site = stack.make_client()
    ApiClient(site).sign_up(username, PASSWORD)
    token = hidden_field(site.get("/login").get_data(as_text=True), "csrf_token")
    response = site.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return site


def upload_form(site: Client) -> dict[str, str]:
    """The hidden fields of a fresh rendering of the upload form."""
    page = site.get("/upload").get_data(as_text=True)
    return {name: hidden_field(page, name) for name in ("csrf_token", "idempotency_key")}


def submit(site: Client, hidden: dict[str, str], caption: str = "Sunset", image: bytes | None = None) -> Any:
    """Send the upload form with these hidden fields, as a browser does."""
    data = {
        **hidden,
        "file": (io.BytesIO(image or image_bytes()), "sunset.jpg"),
        "caption": caption,
        "visibility": "private",
    }
    return site.post("/upload", data=data, content_type="multipart/form-data")


def test_each_rendering_of_the_upload_form_has_its_own_key(stack: StackUnderTest) -> None:
    site = signed_in(stack)

    keys = {upload_form(site)["idempotency_key"] for _ in range(3)}

    assert len(keys) == 3
    assert all(len(key) >= 32 for key in keys)


def test_the_same_upload_form_sent_twice_makes_one_photo(stack: StackUnderTest) -> None:
    site = signed_in(stack)
    hidden = upload_form(site)

    first = submit(site, hidden)
    again = submit(site, hidden)

    assert first.status_code == 302, first.get_data(as_text=True)
    assert again.status_code == 302, again.get_data(as_text=True)
    assert first.headers["Location"].startswith("/photos/")
    assert again.headers["Location"] == first.headers["Location"]
    assert stack.photo_count() == 1
    assert len(stack.object_keys()) == OBJECTS_PER_PHOTO
    photo_page = site.get(again.headers["Location"])
    assert photo_page.status_code == 200
    assert "Sunset" in photo_page.get_data(as_text=True)


def test_two_renderings_of_the_form_make_two_photos(stack: StackUnderTest) -> None:
    site = signed_in(stack)

    first = submit(site, upload_form(site))
    second = submit(site, upload_form(site))

    assert (first.status_code, second.status_code) == (302, 302)
    assert first.headers["Location"] != second.headers["Location"]
    assert stack.photo_count() == 2


def test_a_form_key_spent_on_another_upload_is_refused_and_a_fresh_form_follows(
    stack: StackUnderTest,
) -> None:
    site = signed_in(stack)
    hidden = upload_form(site)
    assert submit(site, hidden, caption="Sunset").status_code == 302

    refused = submit(site, hidden, caption="Another caption", image=image_bytes(color=(10, 20, 30)))

    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "was used for another upload" in page
    assert stack.photo_count() == 1
    # The form shown again has a key of its own, so sending it uploads the new photo.
    fresh_key = hidden_field(page, "idempotency_key")
    assert fresh_key != hidden["idempotency_key"]
    retried = submit(site, {**hidden, "idempotency_key": fresh_key}, caption="Another caption")
    assert retried.status_code == 302, retried.get_data(as_text=True)
    assert stack.photo_count() == 2


def test_a_form_whose_key_is_no_valid_idempotency_key_is_refused(stack: StackUnderTest) -> None:
    site = signed_in(stack)
    hidden = upload_form(site)

    response = submit(site, {**hidden, "idempotency_key": "k" * 256})

    assert response.status_code == 400
    assert "Idempotency-Key must be 1 to 255 printable ASCII characters" in response.get_data(as_text=True)
    assert stack.photo_count() == 0
    assert stack.object_keys() == []


def test_a_form_without_a_key_still_uploads(stack: StackUnderTest) -> None:
    # A form rendered before the key existed: each sending is an upload of its own.
    site = signed_in(stack)
    csrf_only = {"csrf_token": upload_form(site)["csrf_token"]}

    first = submit(site, csrf_only)
    again = submit(site, csrf_only)

    assert (first.status_code, again.status_code) == (302, 302)
    assert stack.photo_count() == 2
