"""Parity: one scenario against the monolith and the microservices, zero differences.

Both versions run under gunicorn with their own data; the scenario is sent to the
monolith and to the microservices' edge over HTTP, and the two recordings are compared
exchange by exchange after the normalization in `snappy_edge.normalization`. Any difference in
status, in a header that matters or in a body fails the test, with the steps named.

With `SNAPPY_PARITY_MONOLITH_URL` and `SNAPPY_PARITY_MICROSERVICES_URL` both set, the
scenario runs against those two running stacks instead of starting its own (as
`snappy rehearse` does after migrating the monolith's data into the microservices). It
signs up users of its own, so it runs on stacks that already hold data.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace

import httpx
import pytest

from snappy_edge.normalization import IdNumbering, normalize_body, normalize_headers
from tests.images import image_bytes
from tests.parity.scenario import PASSWORD, Exchange, run_scenario, scenario_steps
from tests.support.live import LiveMicroservices, LiveMonolith

MONOLITH_URL_VARIABLE = "SNAPPY_PARITY_MONOLITH_URL"
MICROSERVICES_URL_VARIABLE = "SNAPPY_PARITY_MICROSERVICES_URL"


@pytest.fixture
def version_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where each version answers: the running stacks named in the environment, else ones started here."""
    monolith = os.environ.get(MONOLITH_URL_VARIABLE, "").strip()
    microservices = os.environ.get(MICROSERVICES_URL_VARIABLE, "").strip()
    if monolith and microservices:
        return {"monolith": monolith.rstrip("/"), "microservices": microservices.rstrip("/")}
    live_monolith: LiveMonolith = request.getfixturevalue("live_monolith")
    live_microservices: LiveMicroservices = request.getfixturevalue("live_microservices")
    return {"monolith": live_monolith.base_url, "microservices": live_microservices.edge_url}


def differences(expected: list[Exchange], actual: list[Exchange]) -> list[str]:
    """Every way `actual` differs from `expected`, one line per differing aspect."""
    found: list[str] = []
    if len(expected) != len(actual):
        found.append(f"{len(expected)} exchanges against {len(actual)}")
    for left, right in zip(expected, actual, strict=False):
        for aspect in ("status", "headers", "body"):
            if getattr(left, aspect) != getattr(right, aspect):
                found.append(f"{left.step}: {aspect} {getattr(left, aspect)!r} != {getattr(right, aspect)!r}")
    return found


def offset_ids_on(base_url: str, username: str) -> None:
    """Create a user and a photo through the API, moving the stack's next ids along."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        http.post(
            "/api/v1/users", json={"username": username, "password": PASSWORD, "display_name": "Offset"}
        ).raise_for_status()
        token = http.post("/api/v1/tokens", json={"username": username, "password": PASSWORD}).json()
        http.post(
            "/api/v1/photos",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            files={"file": ("offset.png", image_bytes("PNG"), "image/png")},
        ).raise_for_status()


@pytest.mark.live
def test_the_monolith_and_the_microservices_answer_the_scenario_identically(
    version_urls: dict[str, str],
) -> None:
    suffix = secrets.token_hex(4)
    steps = scenario_steps(suffix)
    # One extra photo on the monolith first, so the two stacks' ids never line up by
    # chance and the id normalization is always put to work.
    offset_ids_on(version_urls["monolith"], f"offset_{suffix}")

    monolith = run_scenario(version_urls["monolith"], steps)
    microservices = run_scenario(version_urls["microservices"], steps)

    assert differences(monolith, microservices) == []
    # The scenario really exercised both versions: successes and refusals of every kind.
    statuses = {exchange.status for exchange in monolith}
    assert {200, 201, 204, 400, 401, 404, 405, 409, 415, 422} <= statuses
    assert len(monolith) == len(steps)


def test_a_changed_status_header_or_body_is_a_difference() -> None:
    ids = IdNumbering()
    body = normalize_body({"id": 7, "caption": "Sunset", "created_at": "2026-01-01T00:00:00.000001Z"}, ids)
    headers = normalize_headers({"Content-Type": "application/json", "X-Request-ID": "abc"}, ids)
    original = Exchange("get a photo", 200, headers, body)

    assert differences([original], [original]) == []
    assert differences([original], [replace(original, status=404)]) != []
    assert differences([original], [replace(original, body={**body, "caption": "Other"})]) != []
    assert differences([original], [replace(original, headers={"content-type": "text/html"})]) != []
    assert differences([original], []) != []


def test_normalization_replaces_generated_values_only() -> None:
    ids = IdNumbering()
    body = {
        "items": [{"id": 41, "owner": "alice", "created_at": "2026-11-26T10:00:00.123456Z"}],
        "next_cursor": "djE6NDE",
        "access_token": "aaa.bbb.ccc",
    }

    normalized = normalize_body(body, ids)

    assert normalized == {
        "items": [{"id": "<photo 1>", "owner": "alice", "created_at": "<timestamp>"}],
        "next_cursor": "<cursor>",
        "access_token": "<token>",
    }
    assert normalize_headers({"Location": "/api/v1/photos/41", "Date": "now"}, ids) == {
        "location": "/api/v1/photos/<photo 1>"
    }
    assert normalize_body({"detail": "No photo 41; limit 100"}, ids) == {
        "detail": "No photo <photo 1>; limit 100"
    }
    # A malformed timestamp is not hidden by the normalization.
    assert normalize_body({"created_at": "yesterday"}, ids) == {"created_at": "yesterday"}


def test_users_and_photos_are_numbered_apart() -> None:
    """A photo whose id equals a user's id on one side only must not read as a difference."""
    monolith, microservices = IdNumbering(), IdNumbering()
    monolith_user = normalize_body({"id": 5, "username": "alice"}, monolith)
    microservices_user = normalize_body({"id": 12, "username": "alice"}, microservices)

    monolith_photo = normalize_body({"id": 5, "owner": "alice"}, monolith)
    microservices_photo = normalize_body({"id": 40, "owner": "alice"}, microservices)

    assert monolith_user == microservices_user == {"id": "<user 1>", "username": "alice"}
    assert monolith_photo == microservices_photo == {"id": "<photo 1>", "owner": "alice"}
