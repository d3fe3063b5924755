"""The web UI in a real browser: what a person does with Snappy, click by click."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Response, expect

from tests.images import image_bytes

PHOTO_URL = re.compile(r"/photos/(\d+)$")
PHOTO_SIZE = (240, 160)


@dataclass(frozen=True)
class Person:
    """Someone who uses Snappy; usernames are unique per run because the live database is shared."""

    username: str
    display_name: str
    password: str

    @classmethod
    def named(cls, first_name: str) -> Person:
        """A new person called `first_name`, with a random username suffix."""
        suffix = secrets.token_hex(4)
        return cls(
            username=f"{first_name.lower()}_{suffix}",
            display_name=f"{first_name} {suffix}",
            password=f"pass-{secrets.token_hex(8)}",
        )


def flash(page: Page) -> Locator:
    """The flash messages at the top of the page."""
    return page.get_by_test_id("flash")


def expect_signed_in_as(page: Page, person: Person) -> None:
    """The navigation shows `person` signed in."""
    expect(page.get_by_test_id("current-user")).to_have_text(person.username)
    expect(page.get_by_test_id("nav-logout")).to_be_visible()
    expect(page.get_by_test_id("nav-login")).to_have_count(0)


def expect_signed_out(page: Page) -> None:
    """The navigation offers logging in and signing up, and names nobody."""
    expect(page.get_by_test_id("nav-login")).to_be_visible()
    expect(page.get_by_test_id("nav-signup")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    expect(page.get_by_test_id("nav-logout")).to_have_count(0)


def sign_up(page: Page, person: Person) -> None:
    """Create `person`'s account with the sign-up form, which also signs them in."""
    page.goto("/signup")
    form = page.get_by_test_id("signup-form")
    form.get_by_label("Username").fill(person.username)
    form.get_by_label("Display name").fill(person.display_name)
    form.get_by_label("Password").fill(person.password)
    form.get_by_role("button", name="Sign up").click()
    expect(flash(page)).to_have_text(f"Welcome to Snappy, {person.display_name}!")
    expect_signed_in_as(page, person)


def submit_login_form(page: Page, person: Person) -> None:
    """Fill in and send the login form already on the page."""
    form = page.get_by_test_id("login-form")
    form.get_by_label("Username").fill(person.username)
    form.get_by_label("Password").fill(person.password)
    form.get_by_role("button", name="Log in").click()
    expect_signed_in_as(page, person)


def log_in(page: Page, person: Person) -> None:
    """Open the login page and sign in as `person`."""
    page.goto("/login")
    submit_login_form(page, person)


def log_out(page: Page) -> None:
    """Press "Log out" in the navigation."""
    page.get_by_test_id("nav-logout").click()
    expect(flash(page)).to_have_text("You are logged out.")
    expect_signed_out(page)


def make_image(folder: Path, name: str) -> Path:
    """A real PNG on disk, as a person would pick it in the file chooser."""
    path = folder / name
    path.write_bytes(image_bytes("PNG", size=PHOTO_SIZE))
    return path


def upload_photo(page: Page, image: Path, caption: str) -> int:
    """Upload `image` with `caption` through the upload form; returns the new photo's id."""
    page.get_by_test_id("nav-upload").click()
    form = page.get_by_test_id("upload-form")
    form.get_by_label("Image").set_input_files(image)
    form.get_by_label("Caption").fill(caption)
    form.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(PHOTO_URL)
    expect(flash(page)).to_have_text("Photo uploaded.")
    match = PHOTO_URL.search(page.url)
    assert match is not None
    return int(match.group(1))


def share_photo(page: Page, username: str) -> None:
    """On the open photo's page, share it with `username`."""
    form = page.get_by_test_id("share-form")
    form.get_by_label("Share with username").fill(username)
    form.get_by_role("button", name="Share").click()
    expect(flash(page)).to_have_text(f"Shared with {username}.")


def photo_card(page: Page, photo_id: int) -> Locator:
    """The card for `photo_id` in the grid on the page."""
    return page.locator(f'[data-testid="photo-card"][data-photo-id="{photo_id}"]')


def loaded_width(page: Page, image: Locator) -> int:
    """Wait until the browser has decoded `image`; returns its natural width in pixels."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    width: int = image.evaluate("img => img.naturalWidth")
    return width


@pytest.mark.browser
def test_a_photo_travels_from_one_person_to_another(page: Page, tmp_path: Path) -> None:
    # Every request the pages make, stylesheet and images included, must succeed.
    failed: list[str] = []

    def record_failure(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", record_failure)
    alice = Person.named("Alice")
    bob = Person.named("Bob")
    caption = f"Sunset over the harbour {secrets.token_hex(3)}"

    # Both sign up; signing up signs you in, so each logs out again.
    sign_up(page, alice)
    log_out(page)
    sign_up(page, bob)
    log_out(page)

    # Alice uploads a photo and finds it on its own page and among her photos.
    log_in(page, alice)
    photo_id = upload_photo(page, make_image(tmp_path, "harbour.png"), caption)
    photo = page.get_by_test_id("photo")
    expect(photo).to_have_attribute("data-photo-id", str(photo_id))
    expect(photo.get_by_test_id("photo-caption")).to_have_text(caption)
    expect(page.get_by_test_id("photo-owner")).to_have_text(alice.display_name)
    expect(page.get_by_test_id("visibility-badge")).to_have_text("private")
    expect(page.get_by_test_id("no-shares")).to_be_visible()

    page.get_by_test_id("nav-my-photos").click()
    expect(page.get_by_role("heading", name="My photos")).to_be_visible()
    expect(photo_card(page, photo_id).get_by_test_id("photo-caption")).to_have_text(caption)

    # She shares it with Bob, and Bob is listed under Sharing.
    photo_card(page, photo_id).get_by_role("link").first.click()
    share_photo(page, bob.username)
    expect(page.locator(f'[data-testid="share-row"][data-username="{bob.username}"]')).to_be_visible()
    expect(page.get_by_test_id("no-shares")).to_have_count(0)
    log_out(page)

    # Bob finds the photo in his feed, with Alice's caption and name.
    log_in(page, bob)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Shared with you")).to_be_visible()
    card = photo_card(page, photo_id)
    expect(card.get_by_test_id("photo-caption")).to_have_text(caption)
    expect(card.get_by_role("link", name=alice.display_name)).to_be_visible()
    assert loaded_width(page, card.get_by_role("img")) > 0
    page.screenshot(path=tmp_path / "feed.png", full_page=True)

    # He opens it: the full image really loads, and he gets no owner controls.
    card.get_by_role("link", name=caption).click()
    expect(page).to_have_url(re.compile(rf"/photos/{photo_id}$"))
    expect(page.get_by_test_id("photo-caption")).to_have_text(caption)
    assert loaded_width(page, page.get_by_test_id("photo").get_by_role("img")) == PHOTO_SIZE[0]
    expect(page.get_by_test_id("share-form")).to_have_count(0)
    expect(page.get_by_test_id("delete-form")).to_have_count(0)

    # Logging out leaves the logged-out navigation and the landing page.
    log_out(page)
    expect(page.get_by_test_id("landing-signup")).to_be_visible()
    assert failed == []


@pytest.mark.browser
def test_forms_without_a_valid_csrf_token_are_refused(page: Page, context: BrowserContext) -> None:
    carol = Person.named("Carol")
    sign_up(page, carol)

    # These requests carry Carol's session cookie, but not the token her pages hold.
    logout = context.request.post("/logout", max_redirects=0)
    upload = context.request.post(
        "/upload",
        max_redirects=0,
        multipart={
            "csrf_token": "forged",
            "caption": "should never be stored",
            "file": {"name": "forged.png", "mimeType": "image/png", "buffer": image_bytes("PNG")},
        },
    )

    for response in (logout, upload):
        assert response.status == 400, response.text()
        assert "Form expired" in response.text()

    # Nothing happened: Carol is still signed in and owns no photos.
    page.goto("/photos")
    expect_signed_in_as(page, carol)
    expect(page.get_by_test_id("empty-my-photos")).to_be_visible()

    # The same logout sent from the page, with its token, works.
    log_out(page)


@pytest.mark.browser
def test_a_visitor_is_sent_to_log_in_and_back_to_the_page_they_asked_for(page: Page) -> None:
    dave = Person.named("Dave")
    sign_up(page, dave)
    log_out(page)

    page.goto("/photos")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)photos$"))
    expect_signed_out(page)

    submit_login_form(page, dave)
    expect(page).to_have_url(re.compile(r"/photos$"))
    expect(page.get_by_role("heading", name="My photos")).to_be_visible()
    expect(page.get_by_test_id("nav-my-photos")).to_have_attribute("aria-current", "page")
