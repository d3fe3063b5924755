"""The edge router forwards each request to its component, and fails clearly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, request
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from snappy_devstack.processes import free_ports
from snappy_edge.app import EdgeSettings, create_app
from snappy_plumbing.config import ConfigurationError
from snappy_topology import PartName


def echo_component(name: str) -> Flask:
    """A stand-in component that says who it is and what it received."""
    app = Flask(name)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
    def echo(path: str) -> Response:
        body: dict[str, Any] = {
            "component": name,
            "method": request.method,
            "path": request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI"),
            "body_length": len(request.get_data()),
            "request_id": request.headers.get("X-Request-ID"),
            "forwarded_for": request.headers.get("X-Forwarded-For"),
        }
        response = Response(json.dumps(body), status=201 if request.method == "POST" else 200)
        response.headers["Content-Type"] = "application/json"
        response.headers["X-PartName"] = name
        return response

    return app


@pytest.fixture(scope="module")
def components() -> Iterator[dict[PartName, str]]:
    servers: list[BaseWSGIServer] = []
    urls: dict[PartName, str] = {}
    for component in (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE):
        server = make_server("127.0.0.1", free_ports(1)[0], echo_component(str(component)), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls[component] = f"http://127.0.0.1:{server.server_port}"
    yield urls
    for server in servers:
        server.shutdown()


def edge_client(phase: int, upstreams: dict[PartName, str]) -> FlaskClient:
    return create_app(EdgeSettings(phase=phase, upstreams=upstreams)).test_client()


@pytest.mark.parametrize(
    ("phase", "path", "component"),
    [
        (0, "/api/v1/users/me", "monolith"),
        (1, "/api/v1/users/me", "user-service"),
        (1, "/api/v1/photos", "monolith"),
        (2, "/api/v1/photos", "photo-service"),
        (2, "/api/v1/users/alice/photos", "photo-service"),
        (2, "/.well-known/jwks.json", "user-service"),
        (2, "/photos/3", "monolith"),
    ],
)
def test_requests_reach_the_component_of_their_phase(
    components: dict[PartName, str], phase: int, path: str, component: str
) -> None:
    response = edge_client(phase, components).get(path)

    assert response.status_code == 200
    assert response.get_json()["component"] == component
    assert response.headers["X-PartName"] == component


def test_method_body_query_and_encoded_path_are_forwarded_unchanged(components: dict[PartName, str]) -> None:
    client = edge_client(2, components)

    response = client.post("/api/v1/photos/1/shares?limit=5&cursor=a%2Fb", data=b"x" * 100_000)

    assert response.status_code == 201
    echoed = response.get_json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/api/v1/photos/1/shares?limit=5&cursor=a%2Fb"
    assert echoed["body_length"] == 100_000


def test_an_encoded_slash_in_a_path_is_refused_not_forwarded(components: dict[PartName, str]) -> None:
    # A server further on that decodes before it routes would read another path.
    response = edge_client(2, components).get("/api/v1/users/a%2Fb")

    assert response.status_code == 400
    assert response.get_json()["type"] == "https://snappy.example/problems/ambiguous-path"
    assert "X-PartName" not in response.headers


def test_the_request_id_and_client_address_travel_with_the_request(components: dict[PartName, str]) -> None:
    response = edge_client(2, components).get("/api/v1/feed", headers={"X-Request-ID": "edge-trace"})

    echoed = response.get_json()
    assert echoed["request_id"] == "edge-trace"
    assert response.headers["X-Request-ID"] == "edge-trace"
    assert echoed["forwarded_for"]


@pytest.mark.parametrize("path", ["/internal/v1/users/lookup", "/internal"])
def test_internal_paths_are_not_reachable(components: dict[PartName, str], path: str) -> None:
    response = edge_client(3, components).post(path, json={"ids": [1]})

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_edge_answers_its_operational_endpoints_itself(
    components: dict[PartName, str], path: str
) -> None:
    client = edge_client(2, components)

    assert "X-PartName" not in client.get(path).headers
    options = client.options(path)
    assert sorted(options.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]
    assert client.post(path).status_code == 405


def test_a_component_that_does_not_answer_is_a_503_naming_it() -> None:
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    client = edge_client(2, {PartName.USER_SERVICE: dead, PartName.PHOTO_SERVICE: dead})

    response = client.get("/api/v1/feed")

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "photo-service" in response.get_json()["detail"]


def test_a_component_missing_from_the_configuration_is_a_503(components: dict[PartName, str]) -> None:
    response = edge_client(3, components).get("/")

    assert response.status_code == 503
    assert "web-ui" in response.get_json()["detail"]


def test_readyz_checks_the_components_of_its_phase(components: dict[PartName, str]) -> None:
    assert edge_client(2, components).get("/readyz").status_code == 200
    dead = {**components, PartName.PHOTO_SERVICE: f"http://127.0.0.1:{free_ports(1)[0]}"}
    assert edge_client(2, dead).get("/readyz").status_code == 503


@pytest.mark.parametrize("phase", ["5", "-1", "three"])
def test_an_unknown_phase_is_a_configuration_error(phase: str) -> None:
    with pytest.raises(ConfigurationError, match="SNAPPY_EDGE_PHASE"):
        EdgeSettings.from_environ({"SNAPPY_EDGE_PHASE": phase})


def test_settings_come_from_the_environment() -> None:
    settings = EdgeSettings.from_environ(
        {"SNAPPY_EDGE_PHASE": "0", "SNAPPY_MONOLITH_URL": "http://127.0.0.1:8000/"}
    )

    assert settings.phase == 0
    assert settings.upstreams == {PartName.MONOLITH: "http://127.0.0.1:8000"}
