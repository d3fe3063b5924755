"""Each version's pages in turn: the monolith renders its own, web-ui renders them in front of the services.

Both are driven in process through Flask's test client, on emptied stores; `api` (from
tests/conftest.py) reaches the same version's data through its public API.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.versions import StackUnderTest


@pytest.fixture
def pages(stack: StackUnderTest, request: pytest.FixtureRequest) -> Flask:
    """What renders `stack`'s pages: the monolith itself, or a fresh web-ui in front of the services."""
    app: Flask = request.getfixturevalue("app" if stack.name == "monolith" else "web_ui")
    return app


@pytest.fixture
def browser(pages: Flask) -> FlaskClient:
    """A browser on each version's pages."""
    return pages.test_client()
