"""A cutover's write freeze at the edge: writes of the moving group wait, reads keep flowing.

The edge refuses, while its control file lists a route group under `freeze`, every
request that writes that group's data (`snappy_edge.routing.groups_written_by`): the
group's own API writes and the page forms that write its data. It counts the writes it is
carrying per group, so that a cutover knows when the last write that started before its
freeze has finished.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask
from werkzeug.routing import Rule

from snappy_devstack.phase import edge_state
from snappy_edge.app import EdgeSettings, create_app
from snappy_edge.control import EdgeControl, write_control
from snappy_edge.routing import PAGE_WRITES, groups_written_by, route_group_for
from snappy_topology import EDGE_PHASE, RouteGroupName
from tests.migration.test_edge_rules import BodyStream
from tests.support.web_ui import build_web_ui, web_ui_settings

USERS, PHOTOS, PAGES = RouteGroupName.USERS, RouteGroupName.PHOTOS, RouteGroupName.PAGES


@pytest.fixture
def control_file(tmp_path: Path) -> Path:
    return tmp_path / "edge-control.json"


def edge_in_phase_1(control_file: Path, transport: httpx.BaseTransport) -> Flask:
    settings = EdgeSettings.from_environ(
        {
            EDGE_PHASE: "1",
            "SNAPPY_MONOLITH_URL": "http://monolith.test",
            "SNAPPY_USER_SERVICE_URL": "http://users.test",
            "SNAPPY_EDGE_CONTROL_FILE": str(control_file),
        }
    )
    return create_app(settings, transport=transport)


@pytest.fixture
def edge(control_file: Path) -> Flask:
    """The edge in phase 1, in front of parts that answer every request with 200 and their host."""
    return edge_in_phase_1(
        control_file,
        httpx.MockTransport(
            lambda request: httpx.Response(200, stream=BodyStream(request.url.host.encode()))
        ),
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/users"),
        ("PATCH", "/api/v1/users/me"),
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/current"),
        ("POST", "/signup"),
        ("POST", "/login"),
        ("POST", "/logout"),
    ],
)
def test_a_write_of_a_frozen_group_is_a_503_to_retry_soon(
    edge: Flask, control_file: Path, method: str, path: str
) -> None:
    write_control(control_file, EdgeControl(freeze=frozenset({USERS})))

    response = edge.test_client().open(path, method=method, json={})

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    document = response.get_json()
    assert document["type"] == "https://snappy.example/problems/service-unavailable"
    assert (
        document["detail"] == "Writes to users and tokens are paused while they move; try again in a moment"
    )


@pytest.mark.parametrize(
    ("method", "path", "host"),
    [
        # Reads of the frozen group flow.
        ("GET", "/api/v1/users/alice", "users.test"),
        ("HEAD", "/.well-known/jwks.json", "users.test"),
        ("GET", "/signup", "monolith.test"),
        # Writes of the other groups flow.
        ("POST", "/api/v1/photos", "monolith.test"),
        ("POST", "/upload", "monolith.test"),
        ("POST", "/photos/7/shares/bob/revoke", "monolith.test"),
    ],
)
def test_reads_and_other_groups_writes_go_on_during_a_freeze(
    edge: Flask, control_file: Path, method: str, path: str, host: str
) -> None:
    write_control(control_file, EdgeControl(freeze=frozenset({USERS})))

    response = edge.test_client().open(path, method=method, json={} if method == "POST" else None)

    assert response.status_code == 200
    if method != "HEAD":
        assert response.get_data(as_text=True) == host


def test_the_end_of_a_freeze_lets_writes_through_again(edge: Flask, control_file: Path) -> None:
    client = edge.test_client()
    write_control(control_file, EdgeControl(freeze=frozenset({USERS})))
    assert client.post("/api/v1/users", json={}).status_code == 503

    write_control(control_file, EdgeControl())

    assert client.post("/api/v1/users", json={}).status_code == 200
    assert edge_state(client.get("/metrics").get_data(as_text=True)).phase == 1


def test_the_edge_counts_the_writes_in_flight_per_group_and_reports_the_freeze(control_file: Path) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow_part(request: httpx.Request) -> httpx.Response:
        arrived.set()
        release.wait(10)
        return httpx.Response(201, stream=BodyStream(b""))

    edge = edge_in_phase_1(control_file, httpx.MockTransport(slow_part))
    client = edge.test_client()
    # Closed as a server closes each answer once sent: that ends the write.
    writing = threading.Thread(
        target=lambda: edge.test_client().post("/signup", data={"username": "a"}).close()
    )
    writing.start()
    try:
        assert arrived.wait(10)
        write_control(control_file, EdgeControl(freeze=frozenset({USERS})))
        during = client.get("/metrics").get_data(as_text=True)
    finally:
        release.set()
        writing.join()
    after = client.get("/metrics").get_data(as_text=True)

    # A page form that writes users counts for both the pages group and the users group.
    assert 'snappy_edge_writes_in_flight{group="users and tokens"} 1.0' in during
    assert 'snappy_edge_writes_in_flight{group="web pages"} 1.0' in during
    assert 'snappy_edge_write_freeze{group="users and tokens"} 1.0' in during
    assert 'snappy_edge_write_freeze{group="photos, shares, feed"} 0.0' in during
    assert 'snappy_edge_writes_in_flight{group="users and tokens"} 0.0' in after
    # As `snappy phase status` reads them.
    assert edge_state(during).frozen == {USERS}
    assert edge_state(during).writes_in_flight[USERS] == 1
    assert edge_state(after).writes_in_flight[USERS] == 0


@pytest.mark.parametrize(
    ("method", "path", "written"),
    [
        ("GET", "/api/v1/users", set()),
        ("OPTIONS", "/api/v1/photos", set()),
        ("POST", "/api/v1/users", {USERS}),
        ("DELETE", "/api/v1/photos/7", {PHOTOS}),
        ("POST", "/upload", {PAGES, PHOTOS}),
        ("POST", "/photos/7/edit", {PAGES, PHOTOS}),
        ("POST", "/signup", {PAGES, USERS}),
        ("POST", "/photos/7", {PAGES}),
    ],
)
def test_what_a_request_writes(method: str, path: str, written: set[RouteGroupName]) -> None:
    assert groups_written_by(method, path) == written


def _sample_path(rule: Rule) -> str:
    """A path the rule matches: each variable part filled with a plausible value."""
    parts = []
    for is_variable, text in rule._trace:  # werkzeug's parsed rule: the simplest source
        if is_variable:
            parts.append("7" if "id" in text else "alice")
        elif text != "|":
            parts.append(text)
    return "".join(parts)


def _form_paths(app: Flask) -> Iterator[tuple[str, str]]:
    """(rule, sample path) of each page route that takes a POST."""
    for rule in app.url_map.iter_rules():
        path = _sample_path(rule)
        if "POST" in (rule.methods or set()) and route_group_for(path) == PAGES:
            yield rule.rule, path


def test_every_page_form_of_both_versions_writes_one_declared_group(app: Flask) -> None:
    """A form that PAGE_WRITES misses would keep writing through its group's freeze."""
    web_ui = build_web_ui(web_ui_settings("http://users.test", "http://photos.test", "x" * 32))
    forms = [form for version in (app, web_ui) for form in _form_paths(version)]
    assert len(forms) >= 2 * 8, forms  # sign-up, log-in, log-out, upload, edit, delete, share, revoke

    for rule, path in forms:
        assert len(groups_written_by("POST", path) - {PAGES}) == 1, (rule, path)
    # And nothing is declared that neither version serves.
    for pattern in (pattern for patterns in PAGE_WRITES.values() for pattern in patterns):
        assert any(pattern.match(path) for _, path in forms), pattern.pattern
