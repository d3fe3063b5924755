"""Both versions refuse the same ambiguous path spellings, with the same problem document.

The microservices' edge decides its route on the percent-decoding of the exact path it
forwards and refuses any spelling with a second reading (`snappy_edge.app`). The
monolith applies the same rule itself (`snappy_monolith.paths`), so that a client gets one
answer from either version: 400 ambiguous-path.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snappy_edge.app import AmbiguousPath as EdgeAmbiguousPath
from snappy_edge.app import decision_path as edge_decision_path
from snappy_monolith.errors import AmbiguousPath as MonolithAmbiguousPath
from snappy_monolith.paths import decision_path as monolith_decision_path
from tests.http_client import HttpTestClient
from tests.migration.test_edge_rules import EDGE_PATH_SETTINGS, raw_paths
from tests.support.api_client import ApiClient

AMBIGUOUS_PATH = "https://snappy.example/problems/ambiguous-path"

# Spellings a client library sends as they are (httpx removes literal dot segments itself,
# so those are covered by the raw-socket tests of the edge and by the property below).
AMBIGUOUS_SPELLINGS = [
    "/api/v1/users/%2e%2e/%2e%2e/internal/v1/users/lookup",
    "/api/v1/users/a%2Fb",
    "/api/v1/users/a%5Cb",
    "/api/v1/users/%00",
    "/api/v1/users/%61lice",
    "/api/v1//users/alice",
    "/api/v1/users/%zz",
    "/api/v1/users/%C3",
    "/%69nternal/v1/users/lookup",
]


@pytest.mark.parametrize("path", AMBIGUOUS_SPELLINGS)
def test_an_ambiguous_path_is_refused_by_both_versions(api: ApiClient, path: str) -> None:
    token = api.user_with_token("alice")

    # The raw client: most of these paths match no operation of the contract.
    response = api.client.open(path, method="GET", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["type"] == AMBIGUOUS_PATH


def test_a_header_value_outside_ascii_gets_the_same_answer_from_both_versions(api: ApiClient) -> None:
    """A Latin-1 header value reaches the application as sent, through the edge too (was a 500)."""
    token = api.user_with_token("alice")
    note = "caf\xe9"
    # httpx sends only bytes outside ASCII; Flask's test client takes the WSGI (Latin-1) text.
    value = note.encode("latin-1") if isinstance(api.client, HttpTestClient) else note

    response = api.get("/api/v1/users/me", token, headers={"X-Note": value})

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def _reading(decide: object, raw_path: str) -> str | None:
    """The path `decide` routes on, or None when it refuses `raw_path`."""
    assert callable(decide)
    try:
        reading: str = decide(raw_path)
    except (EdgeAmbiguousPath, MonolithAmbiguousPath):
        return None
    return reading


@EDGE_PATH_SETTINGS
@given(raw_path=raw_paths | st.text(max_size=12).map(lambda text: "/" + text))
def test_the_monolith_and_the_edge_read_every_path_alike(raw_path: str) -> None:
    assert _reading(monolith_decision_path, raw_path) == _reading(edge_decision_path, raw_path)
