"""The edge as it runs: Caddy in front, the Flask lane behind, stand-in parts on real ports.

A plain read goes from the front straight to the part of its phase; every other request
goes through the lane, which keeps its rules (whole bodies, one reading of the path,
404 for /internal/). Whether the lane saw a request is read from its own request counter
in the edge's /metrics, which the lane answers.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snappy_devstack.processes import LOOPBACK, free_ports, wait_until
from snappy_edge.app import AmbiguousPath, decision_path
from snappy_edge.control import EdgeControl, Shadow, write_control
from snappy_edge.front import PLAIN_REQUEST_TARGET, decimal_above
from snappy_topology import EDGE_PHASE, PartName, RouteGroupName, url_setting
from tests.support.echo_server import PATTERN, echo_parts
from tests.support.gunicorn import STOP_GRACE_SECONDS, launch_gunicorn, wait_until_ready

pytestmark = pytest.mark.live

# nginx is a Debian package (nginx-light), not a PyPI one: .ci/run installs it.
FRONTS = ["caddy", "nginx"]

_PARTS = (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI)
_LANE_REQUEST = re.compile(
    r'^snappy_http_requests_total\{method="(\w+)",route="([^"]*)",status="\d+"\} (\S+)$'
)


@dataclass(frozen=True)
class RunningEdge:
    """An edge process and where it answers."""

    url: str
    process: subprocess.Popen[bytes]
    control_file: Path
    log_path: Path

    def lane_requests(self) -> float:
        """How many proxied requests the lane has handled (its own endpoints left out)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            match = _LANE_REQUEST.match(line)
            if match and match.group(2) not in {"/metrics", "/healthz", "/readyz"}:
                total += float(match.group(3))
        return total


def start_edge(tmp_path: Path, front: str, upstreams: dict[PartName, str], **settings: str) -> RunningEdge:
    """Start `python -m snappy_edge` in phase 3 (unless told otherwise) on a free port."""
    [port] = free_ports(1)
    control_file = tmp_path / "edge-control.json"
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SNAPPY_")},
        EDGE_PHASE: "3",
        "SNAPPY_EDGE_FRONT": front,
        "SNAPPY_EDGE_CONTROL_FILE": str(control_file),
        **{url_setting(part): url for part, url in upstreams.items()},
        **settings,
    }
    log_path = tmp_path / "edge.log"
    process = launch_gunicorn("snappy_edge", environment, port, log_path)
    return RunningEdge(f"http://{LOOPBACK}:{port}", process, control_file, log_path)


def stop(edge: RunningEdge) -> int:
    """SIGTERM the edge and wait for it; its exit status."""
    edge.process.send_signal(signal.SIGTERM)
    return edge.process.wait(timeout=STOP_GRACE_SECONDS)


@pytest.fixture(scope="module")
def parts() -> Iterator[dict[PartName, str]]:
    """A stand-in for every part, each saying its name."""
    with echo_parts() as servers:
        yield {name: server.url for name, server in servers.items()}


@pytest.fixture(scope="module", params=FRONTS)
def front(request: pytest.FixtureRequest) -> str:
    """Each proxy the edge can put in front of its lane."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def edge(
    front: str, parts: dict[PartName, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningEdge]:
    """An edge in phase 3 in front of the stand-ins, with a control file of its own."""
    running = start_edge(tmp_path_factory.mktemp("edge"), front, parts, SNAPPY_EDGE_READ_TIMEOUT_SECONDS="1")
    try:
        wait_until_ready(running.url, running.process, running.log_path)
        yield running
    finally:
        stop(running)


def echoed(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    document: dict[str, object] = response.json()
    return document


def header(document: dict[str, object], name: str) -> list[str]:
    headers = document["headers"]
    assert isinstance(headers, list)
    return [value for key, value in headers if key.lower() == name.lower()]


@pytest.mark.parametrize(
    ("target", "part"),
    [
        ("/api/v1/photos?limit=5", PartName.PHOTO_SERVICE),
        ("/api/v1/photos/7/content", PartName.PHOTO_SERVICE),
        ("/api/v1/users/alice/photos", PartName.PHOTO_SERVICE),
        ("/api/v1/feed", PartName.PHOTO_SERVICE),
        ("/api/v1/users/alice", PartName.USER_SERVICE),
        ("/.well-known/jwks.json", PartName.USER_SERVICE),
        ("/", PartName.WEB_UI),
        ("/photos/7", PartName.WEB_UI),
        ("/static/style.css", PartName.WEB_UI),
    ],
)
def test_a_plain_read_goes_straight_to_the_part_of_its_phase(
    edge: RunningEdge, target: str, part: PartName
) -> None:
    lane_before = edge.lane_requests()

    document = echoed(httpx.get(edge.url + target, timeout=5))

    assert document["part"] == part
    assert document["target"] == target
    assert edge.lane_requests() == lane_before


def test_a_write_goes_through_the_lane_with_its_whole_body(edge: RunningEdge) -> None:
    lane_before = edge.lane_requests()

    document = echoed(httpx.post(f"{edge.url}/api/v1/photos", content=b"x" * 100_000, timeout=5))

    assert document["part"] == PartName.PHOTO_SERVICE
    assert document["body_bytes"] == 100_000
    assert edge.lane_requests() == lane_before + 1


def test_a_read_with_a_percent_escape_goes_through_the_lane_unchanged(edge: RunningEdge) -> None:
    lane_before = edge.lane_requests()

    document = echoed(httpx.get(f"{edge.url}/photos/caf%C3%A9", timeout=5))

    assert document["target"] == "/photos/caf%C3%A9"
    assert edge.lane_requests() == lane_before + 1


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/%70hotos",
        "/api//photos",
        "/api/v1/./photos",
        "/api/v1/photos/%2e%2e",
        "/api/v1/photos/%00",
    ],
)
def test_an_ambiguous_path_is_refused_by_the_lane(edge: RunningEdge, target: str) -> None:
    # http.client sends the target as written; httpx would remove the dot segments first.
    connection = http.client.HTTPConnection(httpx.URL(edge.url).host, httpx.URL(edge.url).port, timeout=5)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        status, document = response.status, json.loads(response.read())
    finally:
        connection.close()

    assert status == 400
    assert document["type"].endswith("/ambiguous-path")


def test_the_fronts_own_error_pages_are_ordinary_paths_to_a_client(edge: RunningEdge) -> None:
    """nginx answers its refusals from internal locations; asked for by name, they are any page."""
    document = echoed(httpx.get(f"{edge.url}/.snappy-edge-errors/malformed", timeout=5))

    assert document["part"] == PartName.WEB_UI
    assert document["target"] == "/.snappy-edge-errors/malformed"


def test_the_edge_logs_json_lines_and_the_reads_its_front_serves(edge: RunningEdge, front: str) -> None:
    """One JSON record per line, whatever wrote it; with nginx, a fast read is logged with its id."""
    httpx.get(f"{edge.url}/api/v1/feed", headers={"X-Request-ID": "front-log-check"}, timeout=5)

    def logged() -> list[dict[str, object]]:
        return [json.loads(line) for line in edge.log_path.read_text().splitlines() if line.strip()]

    if front == "nginx":
        assert wait_until(lambda: any(r.get("request_id") == "front-log-check" for r in logged()), timeout=5)
        [record] = [r for r in logged() if r.get("request_id") == "front-log-check"]
        assert record["logger"] == "snappy_edge.front"
        assert (record["method"], record["path"], record["status"]) == ("GET", "/api/v1/feed", 200)
        assert record["part"] == PartName.PHOTO_SERVICE
    assert logged()


@pytest.mark.parametrize("target", ["/api/v1/photos/%zz", "/api/v1/photos/%", "/api/v1/photos/%0"])
def test_an_invalid_percent_escape_is_refused_by_the_front_itself(
    edge: RunningEdge, front: str, target: str
) -> None:
    """Both proxies refuse an invalid escape while they read the request line, before routing.

    nginx's refusal is answered as the lane would answer (ambiguous-path); Go's server, under
    Caddy, answers with its own plain-text 400, one of the Caddy front's declared differences
    (docs/decisions.md).
    """
    url = httpx.URL(edge.url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=5)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        status, content_type, body = response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()

    assert status == 400
    if front == "nginx":
        assert content_type == "application/problem+json"
        assert json.loads(body)["type"].endswith("/ambiguous-path")
    else:
        assert content_type is not None
        assert content_type.startswith("text/plain")


def test_a_method_the_edge_does_not_proxy_is_a_405_listing_those_it_does(edge: RunningEdge) -> None:
    # TRACE: nginx refuses it before any location; Caddy passes it to the lane, which refuses it.
    response = httpx.request("TRACE", f"{edge.url}/api/v1/photos", timeout=5)

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/method-not-allowed")
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


@pytest.mark.parametrize("target", ["/internal/users/resolve", "/internal"])
def test_internal_paths_are_not_reachable(edge: RunningEdge, target: str) -> None:
    response = httpx.get(edge.url + target, timeout=5)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_sane_request_id_is_kept_and_any_other_replaced(edge: RunningEdge) -> None:
    kept = echoed(httpx.get(f"{edge.url}/api/v1/feed", headers={"X-Request-ID": "abc-123"}, timeout=5))
    replaced = echoed(httpx.get(f"{edge.url}/api/v1/feed", headers={"X-Request-ID": "bad id!"}, timeout=5))
    fresh = echoed(httpx.get(f"{edge.url}/api/v1/feed", timeout=5))

    assert header(kept, "X-Request-ID") == ["abc-123"]
    [replacement] = header(replaced, "X-Request-ID")
    [generated] = header(fresh, "X-Request-ID")
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", replacement)
    assert replacement != "bad id!"
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", generated)


def test_the_part_sees_the_visitor_as_the_client_whichever_way_the_request_went(edge: RunningEdge) -> None:
    forged = {"X-Forwarded-For": "203.0.113.9"}

    straight = echoed(httpx.get(f"{edge.url}/api/v1/feed", headers=forged, timeout=5))
    through_lane = echoed(httpx.post(f"{edge.url}/api/v1/tokens", headers=forged, content=b"{}", timeout=5))

    # Parts believe one hop (SNAPPY_TRUSTED_PROXY_HOPS=1): its last address must be the visitor's.
    assert header(straight, "X-Forwarded-For")[-1].split(",")[-1].strip() == LOOPBACK
    assert header(through_lane, "X-Forwarded-For")[-1].split(",")[-1].strip() == LOOPBACK
    assert header(straight, "X-Forwarded-Proto") == header(through_lane, "X-Forwarded-Proto") == ["http"]


def test_a_large_answer_streams_through_byte_for_byte(edge: RunningEdge) -> None:
    count = 5_000_000
    with httpx.stream("GET", f"{edge.url}/bytes/{count}", timeout=10) as response:
        received = b"".join(response.iter_bytes())

    assert response.status_code == 200
    assert received == (PATTERN * (count // len(PATTERN) + 1))[:count]


def test_a_part_slower_than_the_read_timeout_is_a_503_naming_it(edge: RunningEdge) -> None:
    response = httpx.get(f"{edge.url}/slow/3", headers={"X-Request-ID": "slow-1"}, timeout=10)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "slow-1"
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["type"].endswith("/service-unavailable")
    assert problem["detail"] == "web-ui did not answer in time"
    assert problem["instance"] == "/slow/3"


def test_a_part_that_does_not_answer_is_a_503_naming_it(
    front: str, parts: dict[PartName, str], tmp_path: Path
) -> None:
    [closed_port] = free_ports(1)
    running = start_edge(
        tmp_path, front, {**parts, PartName.PHOTO_SERVICE: f"http://{LOOPBACK}:{closed_port}"}
    )
    try:
        assert wait_until(lambda: _answers(f"{running.url}/healthz"), timeout=60, interval=0.2)

        response = httpx.get(f"{running.url}/api/v1/photos", timeout=10)

        assert response.status_code == 503
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.json()["detail"] == "photo-service is not answering"
    finally:
        assert stop(running) == 0


def test_shadowing_a_group_sends_its_reads_through_the_lane_until_it_stops(edge: RunningEdge) -> None:
    def read_goes_through_lane() -> bool:
        before = edge.lane_requests()
        httpx.get(f"{edge.url}/api/v1/photos", timeout=5)
        return edge.lane_requests() == before + 1

    write_control(edge.control_file, EdgeControl(Shadow(RouteGroupName.PHOTOS, PartName.MONOLITH)))
    try:
        assert wait_until(read_goes_through_lane, timeout=15, interval=0.3)
        # The other groups' plain reads still go straight on.
        before = edge.lane_requests()
        assert echoed(httpx.get(f"{edge.url}/api/v1/users/alice", timeout=5))["part"] == PartName.USER_SERVICE
        assert edge.lane_requests() == before
    finally:
        write_control(edge.control_file, EdgeControl())
    assert wait_until(lambda: not read_goes_through_lane(), timeout=15, interval=0.3)


def test_the_edge_stops_front_and_lane_on_sigterm(
    front: str, parts: dict[PartName, str], tmp_path: Path
) -> None:
    running = start_edge(tmp_path, front, parts)
    wait_until_ready(running.url, running.process, running.log_path)

    assert stop(running) == 0
    assert not _answers(f"{running.url}/healthz")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


_PATH_PIECES = st.lists(
    st.sampled_from(["/", ".", "..", "%", "%2F", "%41", "a", "_", "~", "@", ":", "\\", " ", "é"])
)


@given(_PATH_PIECES)
def test_a_plain_request_target_is_read_one_way_only(pieces: list[str]) -> None:
    target = "/" + "".join(pieces)
    if re.fullmatch(PLAIN_REQUEST_TARGET, target) is None:
        return
    # What the front routes on (the decoded path) is the target itself, and the lane agrees.
    assert "%" not in target
    assert decision_path(target) == target


@pytest.mark.parametrize(
    "target", ["/", "/api/v1/photos", "/a/b/", "/.well-known/jwks.json", "/x?q=%20&a=b", "/...", "/a.b"]
)
def test_these_targets_are_plain(target: str) -> None:
    assert re.fullmatch(PLAIN_REQUEST_TARGET, target)


@pytest.mark.parametrize(
    "target", ["//a", "/a//b", "/./a", "/a/..", "/a/.", "/%61", "/a b", "/a\\b", "/é", ""]
)
def test_these_targets_are_not_plain(target: str) -> None:
    assert re.fullmatch(PLAIN_REQUEST_TARGET, target) is None


def test_what_the_lane_refuses_is_never_plain() -> None:
    for target in ["/a//b", "/./a", "/%2e%2e/x", "/%2F"]:
        with pytest.raises(AmbiguousPath):
            decision_path(target)
        assert re.fullmatch(PLAIN_REQUEST_TARGET, target) is None


def test_an_unknown_front_is_refused_at_start(parts: dict[PartName, str], tmp_path: Path) -> None:
    running = start_edge(tmp_path, "haproxy", parts)

    assert running.process.wait(timeout=30) == 2
    assert "SNAPPY_EDGE_FRONT must be one of 'auto', 'none', 'nginx', 'caddy'" in running.log_path.read_text()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"zz\r\n{}\r\n0\r\n\r\n", id="chunk size not hex"),
        pytest.param(b"2\r\n{}XX0\r\n\r\n", id="no CRLF after data"),
    ],
)
def test_a_malformed_chunked_body_is_a_400_from_the_front(edge: RunningEdge, body: bytes) -> None:
    url = httpx.URL(edge.url)
    with socket.create_connection((url.host, url.port), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/users HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n" + body
        )
        answer = connection.makefile("rb")
        head = b"".join(iter(answer.readline, b"\r\n"))
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
        document = answer.read(length)

    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(document)["type"].endswith("/malformed-request")


@pytest.mark.parametrize(
    ("settings", "public_server"),
    [
        pytest.param({}, "nginx", id="nginx installed"),
        pytest.param({"SNAPPY_EDGE_NGINX": "/nonexistent/nginx"}, "gunicorn", id="no nginx"),
    ],
)
def test_auto_puts_nginx_in_front_where_it_is_installed(
    parts: dict[PartName, str], tmp_path: Path, settings: dict[str, str], public_server: str
) -> None:
    running = start_edge(tmp_path, "auto", parts, **settings)
    try:
        wait_until_ready(running.url, running.process, running.log_path)

        assert httpx.get(f"{running.url}/healthz", timeout=5).headers["server"] == public_server
    finally:
        assert stop(running) == 0


def test_a_body_over_the_lanes_limit_is_refused_by_the_front(edge: RunningEdge) -> None:
    # Above SNAPPY_MAX_UPLOAD_BYTES (10 MiB) and its multipart allowance: the lane's worker
    # would answer early and close mid-body, which a proxy reports as the lane failing.
    response = httpx.post(f"{edge.url}/api/v1/photos", content=b"x" * (11 * 1024 * 1024), timeout=30)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/payload-too-large")


@given(
    st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12), st.integers(0, 2)
)
def test_the_content_length_refused_is_exactly_the_one_above_the_limit(
    limit: int, length: int, leading_zeros: int
) -> None:
    written = "0" * leading_zeros + str(length)

    assert (re.fullmatch(decimal_above(limit), written) is not None) == (length > limit)
