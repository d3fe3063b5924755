"""A fresh browser context for every browser test, in the session's Chromium (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.live import LiveMicroservices, LiveMonolith

# A page that breaks should fail the test within seconds, not hang until the CI job times out.
DEFAULT_TIMEOUT_MS = 10_000


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
