"""Session-wide fixtures: real backing services, and both versions of Snappy wired to them.

PostgreSQL and S3 come from `snappy_devstack.backing`: URLs from the environment,
containers where a Docker engine answers, embedded servers otherwise. Each test
session gets its own databases and buckets, dropped at the end. What the fixtures
build lives in `tests.support`; here they only choose scope and lifetime.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Playwright, sync_playwright

from snappy_devstack.backing import BackingServices, provide_backing_services
from snappy_monolith import create_app
from snappy_monolith.config import Settings
from tests.support.api_client import ApiClient
from tests.support.browser import CHROMIUM_ARGS, require_chromium
from tests.support.dependency_faults import Faults, fault_proxies
from tests.support.live import LiveMicroservices, LiveMonolith, running_microservices, running_monolith
from tests.support.provisioning import MonolithResources, monolith_settings, provisioned_monolith
from tests.support.session import REPOSITORY_ROOT, SESSION_TAG
from tests.support.versions import VERSIONS, StackUnderTest, in_process_monolith, microservices_over_http
from tests.support.web_ui import build_web_ui, web_ui_settings

# The container-image tests build and run images with buildah (root, minutes): collected only
# where SNAPPY_IMAGE_TESTS=1 selects them (.ci/run), and otherwise not collected at all.
collect_ignore = [] if os.environ.get("SNAPPY_IMAGE_TESTS") == "1" else ["container_images"]


@pytest.fixture(scope="session")
def backing() -> Iterator[BackingServices]:
    """Real PostgreSQL and S3 for the whole test session."""
    state_dir = REPOSITORY_ROOT / ".snappy" / "test"
    state_dir.mkdir(parents=True, exist_ok=True)
    with provide_backing_services(state_dir, persistent=False) as services:
        yield services


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright for the session: its sync API runs one instance per thread at a time."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole session (tests/browser, the strangler's cutover walk)."""
    executable = require_chromium()
    chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def faults(backing: BackingServices) -> Iterator[Faults]:
    """Fault-injecting proxies in front of the session's PostgreSQL and S3, passing for now."""
    with fault_proxies(backing) as proxies:
        yield proxies


@pytest.fixture(scope="session")
def monolith_resources(backing: BackingServices) -> Iterator[MonolithResources]:
    """The database and bucket the in-process monolith uses."""
    with provisioned_monolith(backing, f"snappy_test_{SESSION_TAG}") as resources:
        yield resources


@pytest.fixture(scope="session")
def settings(backing: BackingServices, monolith_resources: MonolithResources) -> Settings:
    """The in-process monolith's settings."""
    return monolith_settings(backing, monolith_resources)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Flask:
    """The monolith, built once for the session."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="session")
def monolith_stack(
    app: Flask, backing: BackingServices, monolith_resources: MonolithResources
) -> StackUnderTest:
    """The monolith, in process."""
    return in_process_monolith(app, backing, monolith_resources)


@pytest.fixture(scope="session")
def live_monolith(
    backing: BackingServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveMonolith]:
    """The monolith under gunicorn, for tests that talk HTTP to it (contract fuzzing, browser)."""
    with running_monolith(backing, tmp_path_factory.mktemp("live-monolith")) as live:
        yield live


@pytest.fixture(scope="session")
def live_microservices(
    backing: BackingServices, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveMicroservices]:
    """The microservices and their edge under gunicorn, as `snappy up` runs them."""
    with running_microservices(backing, tmp_path_factory.mktemp("live-microservices")) as live:
        yield live


@pytest.fixture(scope="session")
def microservices_stack(backing: BackingServices, live_microservices: LiveMicroservices) -> StackUnderTest:
    """The microservices behind their edge, over HTTP."""
    return microservices_over_http(backing, live_microservices)


@pytest.fixture(params=VERSIONS)
def stack(request: pytest.FixtureRequest) -> StackUnderTest:
    """Each version of Snappy in turn, emptied before the test."""
    chosen: StackUnderTest = request.getfixturevalue(f"{request.param}_stack")
    chosen.reset()
    return chosen


@pytest.fixture
def api(stack: StackUnderTest) -> ApiClient:
    """A contract-checking API client of each version of Snappy in turn."""
    return ApiClient(stack.make_client())


@pytest.fixture
def monolith_api(monolith_stack: StackUnderTest) -> ApiClient:
    """A contract-checking API client of the in-process monolith, emptied before the test."""
    monolith_stack.reset()
    return ApiClient(monolith_stack.make_client())


@pytest.fixture
def services_api(microservices_stack: StackUnderTest) -> ApiClient:
    """A contract-checking API client of the emptied microservices, through their edge."""
    microservices_stack.reset()
    return ApiClient(microservices_stack.make_client())


@pytest.fixture
def web_ui(live_microservices: LiveMicroservices, settings: Settings) -> Flask:
    """A fresh web-ui (empty caches) in front of the live services, with the monolith's session secret."""
    assert settings.secret_key is not None
    return build_web_ui(
        web_ui_settings(
            live_microservices.user_service_url, live_microservices.photo_service_url, settings.secret_key
        )
    )


@pytest.fixture
def client(monolith_stack: StackUnderTest) -> FlaskClient:
    """A raw test client of the emptied monolith (no contract check), for pages and odd requests."""
    monolith_stack.reset()
    flask_client = monolith_stack.make_client()
    assert isinstance(flask_client, FlaskClient)
    return flask_client
