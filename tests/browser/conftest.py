"""A headless Chromium for the session, and a fresh browser context for every test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.live import LiveMicroservices, LiveMonolith

# A page that breaks should fail the test within seconds, not hang until the CI job times out.
DEFAULT_TIMEOUT_MS = 10_000

# The tests run as root (hence --no-sandbox) on machines that refuse outbound connections;
# the networking flags stop Chromium's own update, sync and telemetry traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The Chromium executable: $SNAPPY_CHROMIUM, else `chromium` or `chromium-browser` on PATH."""
    configured = os.environ.get("SNAPPY_CHROMIUM")
    if configured:
        return shutil.which(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium executable; skips the test without one, or fails when CI demands a browser."""
    executable = find_chromium()
    if executable is not None:
        return executable
    configured = os.environ.get("SNAPPY_CHROMIUM")
    reason = (
        f"SNAPPY_CHROMIUM={configured!r} is not an executable"
        if configured
        else "no Chromium found: install `chromium` or set SNAPPY_CHROMIUM to its path"
    )
    # CI sets this so that a runner without a browser is a failure, never a silent skip.
    if os.environ.get("SNAPPY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (SNAPPY_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright for the session: its sync API runs one instance per thread at a time."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    executable = require_chromium()
    chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(params=["monolith", "microservices"])
def site_url(request: pytest.FixtureRequest) -> str:
    """Each version of Snappy in turn: the monolith, then the microservices behind their edge."""
    if request.param == "monolith":
        monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        return monolith.base_url
    microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
    return microservices.edge_url


@pytest.fixture
def context(browser: Browser, site_url: str) -> Iterator[BrowserContext]:
    """A fresh context per test, so cookies never leak between tests; relative URLs hit the site."""
    fresh = browser.new_context(base_url=site_url)
    fresh.set_default_timeout(DEFAULT_TIMEOUT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab in the test's context."""
    return context.new_page()
