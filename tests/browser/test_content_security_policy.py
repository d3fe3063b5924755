"""The pages keep working under their Content-Security-Policy: Chromium reports no violation."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.images import image_bytes


@pytest.mark.browser
def test_no_page_breaks_the_content_security_policy(page: Page) -> None:
    violations: list[str] = []
    page.on("console", lambda message: _collect(violations, message))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    username = f"csp_{secrets.token_hex(4)}"

    page.goto("/")
    page.goto("/signup")
    form = page.get_by_test_id("signup-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Display name").fill("Policy Checker")
    form.get_by_label("Password").fill("correct-horse")
    form.get_by_role("button", name="Sign up").click()
    page.goto("/upload")
    page.get_by_label("Image").set_input_files(
        {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": image_bytes()}
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("photo")).to_be_visible()
    photo_url = page.url
    # The confirmation now comes from the site's script: dismissing it keeps the photo.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete photo").click()
    # Without the script (blocked), the form would have been sent: the photo would be gone.
    page.goto(photo_url)
    expect(page.get_by_test_id("photo")).to_be_visible()
    for path in ["/photos", f"/users/{username}", "/no-such-page"]:
        page.goto(path)
    page.once("dialog", lambda dialog: dialog.accept())
    page.goto(photo_url)
    page.get_by_role("button", name="Delete photo").click()
    expect(page).to_have_url(re.compile(r"/photos$"))
    expect(page.get_by_test_id("flash")).to_have_text("Photo deleted.")

    assert violations == []


def _collect(violations: list[str], message: ConsoleMessage) -> None:
    if "Content Security Policy" in message.text or "CSP violation" in message.text:
        violations.append(message.text)
