"""What every deployable answers its operators, as deployed: over HTTP to the live parts.

Health, readiness, request ids, metrics by route template and the answer to a route or
method it does not serve, for the monolith and for each microservice. What depends on a
part's own dependencies (readiness failing without them) is tested in its own folder.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from snappy_topology import PartName
from tests.http_client import HttpTestClient
from tests.support.api_client import ApiClient
from tests.support.live import LiveMicroservices, LiveMonolith
from tests.support.openapi import assert_httpx_conforms

pytestmark = pytest.mark.live

PARTS = [PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI]
PROBLEMS = "https://snappy.example/problems/"
# A request each part counts once a user exists, and lines its /metrics must then hold.
COUNTED = {
    PartName.MONOLITH: (
        "/api/v1/photos/12345",
        [
            'snappy_http_requests_total{method="GET",route="/api/v1/photos/<photo_id:photo_id>",status="404"}',
            'snappy_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/v1/users"}',
        ],
    ),
    PartName.USER_SERVICE: (
        "/api/v1/users/nobody",
        [
            'snappy_http_requests_total{method="GET",route="/api/v1/users/<username>",status="404"}',
            'snappy_http_requests_total{method="POST",route="/api/v1/tokens",status="201"}',
        ],
    ),
    PartName.PHOTO_SERVICE: (
        "/api/v1/photos/12345",
        ['snappy_http_requests_total{method="GET",route="/api/v1/photos/<photo_id:photo_id>",status="404"}'],
    ),
    PartName.WEB_UI: ("/", ['snappy_http_requests_total{method="GET",route="/",status="200"}']),
}
# Requests with a method the route does not allow, and a method the answer's Allow names.
WRONG_METHODS: dict[PartName, list[tuple[str, str, str]]] = {
    PartName.MONOLITH: [("PUT", "/api/v1/feed", "GET")],
    PartName.USER_SERVICE: [("PUT", "/api/v1/users/me", "GET"), ("GET", "/api/v1/tokens", "POST")],
    PartName.PHOTO_SERVICE: [("PUT", "/api/v1/feed", "GET")],
    PartName.WEB_UI: [("PUT", "/logout", "POST")],
}


@dataclass(frozen=True)
class Deployed:
    """One part under gunicorn, and where its users sign up and log in."""

    name: PartName
    client: HttpTestClient
    accounts: ApiClient


@pytest.fixture(params=PARTS, ids=str)
def deployed(request: pytest.FixtureRequest) -> Iterator[Deployed]:
    """Each part of the live versions in turn."""
    name: PartName = request.param
    if name is PartName.MONOLITH:
        live_monolith: LiveMonolith = request.getfixturevalue("live_monolith")
        url = accounts_url = live_monolith.base_url
    else:
        live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
        url, accounts_url = live_microservices.part_urls[name], live_microservices.user_service_url
    client, accounts = HttpTestClient(url), HttpTestClient(accounts_url)
    yield Deployed(name, client, ApiClient(accounts))
    client.close()
    accounts.close()


def test_healthz_answers_without_dependencies(deployed: Deployed) -> None:
    response = deployed.client.get("/healthz")

    assert_httpx_conforms(response.raw)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_when_its_dependencies_answer(deployed: Deployed) -> None:
    response = deployed.client.get("/readyz")

    assert_httpx_conforms(response.raw)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_metrics_count_requests_by_route_template_and_status(deployed: Deployed) -> None:
    path, lines = COUNTED[deployed.name]
    token = deployed.accounts.user_with_token(f"ops_{secrets.token_hex(4)}")
    deployed.client.get(path, headers={"Authorization": f"Bearer {token}"})

    response = deployed.client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in lines:
        assert line in text


def test_a_sane_request_id_is_echoed(deployed: Deployed) -> None:
    response = deployed.client.get("/healthz", headers={"X-Request-ID": "abc-123"})

    assert response.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 200, "semi;colon"])
def test_a_missing_or_unsafe_request_id_is_replaced(deployed: Deployed, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}

    response = deployed.client.get("/healthz", headers=headers)

    generated = response.headers["X-Request-ID"]
    assert generated != incoming
    assert len(generated) == 32


def test_an_unknown_route_is_a_problem_document(deployed: Deployed) -> None:
    response = deployed.client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == PROBLEMS + "not-found"


def test_a_wrong_method_is_405_with_allow(deployed: Deployed) -> None:
    for method, path, allowed in WRONG_METHODS[deployed.name]:
        response = deployed.client.open(path, method=method)

        assert response.status_code == 405, (method, path)
        if deployed.name is PartName.WEB_UI:
            # web-ui serves pages, not the API: what a browser gets is a page.
            assert response.mimetype == "text/html"
        else:
            assert response.mimetype == "application/problem+json"
            assert response.get_json()["type"] == PROBLEMS + "method-not-allowed"
        assert allowed in response.headers["Allow"]
