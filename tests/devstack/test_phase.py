"""`snappy phase`: a running edge changes phase without a restart, and says which it is in.

Live edges (`python -m snappy_edge`, nginx in front and the lane alone) in front of
stand-in parts that name themselves: after `snappy phase set`, new requests reach the
part the new phase names, while a request already in flight finishes at the part it
started on. The edge's /metrics reports the phase, the routing and the front's phase.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from snappy_devstack import cli
from snappy_devstack.phase import edge_state
from snappy_edge.app import EdgeSettings, create_app
from snappy_edge.control import ControlFileError, EdgeControl, Shadow, read_control, write_control
from snappy_topology import EDGE_PHASE, PartName, RouteGroupName
from tests.migration.test_edge_front import RunningEdge, start_edge, stop
from tests.support.echo_server import EchoServer, echo_parts
from tests.support.gunicorn import wait_until_ready

_PARTS = (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[PartName, EchoServer]]:
    """A stand-in for every part, each saying its name."""
    with echo_parts() as running:
        yield running


@pytest.fixture(scope="module")
def parts(servers: dict[PartName, EchoServer]) -> dict[PartName, str]:
    """Where each stand-in answers."""
    return {name: server.url for name, server in servers.items()}


@pytest.fixture(params=["nginx", "none"])
def edge(request: pytest.FixtureRequest, parts: dict[PartName, str], tmp_path: Path) -> Iterator[RunningEdge]:
    """An edge started in phase 2, with an address for every part: nginx in front, or the lane alone."""
    running = start_edge(tmp_path, request.param, parts, **{EDGE_PHASE: "2"})
    try:
        wait_until_ready(running.url, running.process, running.log_path)
        yield running
    finally:
        stop(running)


def phase_command(edge: RunningEdge, *arguments: str) -> int:
    return cli.main(["phase", *arguments, "--edge-url", edge.url, "--control-file", str(edge.control_file)])


def part_answering(edge: RunningEdge, target: str) -> str:
    answer = httpx.get(edge.url + target, timeout=10)
    assert answer.status_code == 200, answer.text
    part: str = answer.json()["part"]
    return part


def test_a_phase_change_routes_new_requests_and_lets_those_in_flight_finish(
    edge: RunningEdge, servers: dict[PartName, EchoServer], capsys: pytest.CaptureFixture[str]
) -> None:
    assert part_answering(edge, "/") == PartName.MONOLITH
    in_flight: list[str] = []
    # A page that takes 3 s, asked for before the change: phase 2 sends pages to the monolith.
    monolith = servers[PartName.MONOLITH]
    monolith.slow_arrived.clear()
    slow = threading.Thread(target=lambda: in_flight.append(part_answering(edge, "/slow/3")))
    slow.start()
    try:
        assert monolith.slow_arrived.wait(10), "the slow page never reached the monolith"
        assert phase_command(edge, "set", "3") == 0
        # From now on, phase 3: pages go to web-ui.
        assert part_answering(edge, "/") == PartName.WEB_UI
        assert part_answering(edge, "/api/v1/photos") == PartName.PHOTO_SERVICE
    finally:
        slow.join()

    assert in_flight == [PartName.MONOLITH]
    printed = capsys.readouterr().out
    assert "phase 2 -> 3" in printed
    assert "web pages" in printed
    assert "(was monolith)" in printed
    assert read_control(edge.control_file).phase == 3


def test_status_reports_the_phase_the_routing_and_the_front(
    edge: RunningEdge, capsys: pytest.CaptureFixture[str]
) -> None:
    assert phase_command(edge, "set", "1") == 0
    capsys.readouterr()

    assert phase_command(edge, "status", "--json") == 0

    status = json.loads(capsys.readouterr().out)
    assert status["phase"] == 1
    assert status["routes"] == {
        str(RouteGroupName.USERS): PartName.USER_SERVICE,
        str(RouteGroupName.PHOTOS): PartName.MONOLITH,
        str(RouteGroupName.PAGES): PartName.MONOLITH,
    }
    assert status["configured_parts"] == sorted(_PARTS)
    assert status["write_freeze"] == []
    front_is_nginx = "nginx" in httpx.get(f"{edge.url}/healthz", timeout=5).headers.get("server", "")
    assert (status["front"], status["front_phase"]) == (("nginx", 1) if front_is_nginx else (None, None))
    assert part_answering(edge, "/api/v1/users/alice") == PartName.USER_SERVICE


def test_a_phase_whose_part_has_no_address_is_refused(
    parts: dict[PartName, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Phase 0 at an edge that knows only the monolith: phase 1 would need user-service.
    running = start_edge(
        tmp_path, "nginx", {PartName.MONOLITH: parts[PartName.MONOLITH]}, **{EDGE_PHASE: "0"}
    )
    try:
        wait_until_ready(running.url, running.process, running.log_path)

        assert phase_command(running, "set", "1") == 2

        assert "phase 1 routes to user-service, which this edge has no address for" in capsys.readouterr().err
        assert read_control(running.control_file).phase is None
        assert part_answering(running, "/api/v1/users/alice") == PartName.MONOLITH
    finally:
        stop(running)


def test_an_unknown_phase_is_refused_by_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["phase", "set", "7", "--edge-url", "http://127.0.0.1:9", "--control-file", "/nonexistent"])

    assert exited.value.code == 2
    assert "'7' is not a phase; phases are 0, 1, 2, 3, 4" in capsys.readouterr().err


def test_shadowing_keeps_the_phase_and_setting_the_phase_keeps_the_shadow(tmp_path: Path) -> None:
    control_file = tmp_path / "edge-control.json"
    write_control(control_file, EdgeControl(phase=2))

    files = ["--control-file", str(control_file), "--shadow-dir", str(tmp_path)]

    assert cli.main(["shadow", "start", "--group", "pages", "--candidate", "web-ui", *files]) == 0
    assert read_control(control_file) == EdgeControl(Shadow(RouteGroupName.PAGES, PartName.WEB_UI), phase=2)
    assert (
        cli.main(["shadow", "stop", "--control-file", str(control_file), "--shadow-dir", str(tmp_path)]) == 0
    )
    assert read_control(control_file) == EdgeControl(phase=2)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": 1, "phase": 5}, "'phase' must be one of [0, 1, 2, 3, 4], got 5"),
        ({"version": 1, "phase": "2"}, "'phase' must be a whole number or null, got '2'"),
        ({"version": 1, "phase": True}, "'phase' must be a whole number or null, got True"),
    ],
)
def test_a_control_document_with_a_bad_phase_is_refused(document: dict[str, object], message: str) -> None:
    with pytest.raises(ControlFileError) as refused:
        EdgeControl.from_document(document)

    assert str(refused.value) == message


def test_the_edge_reports_its_phase_and_routing_in_metrics(tmp_path: Path) -> None:
    control_file = tmp_path / "edge-control.json"
    settings = EdgeSettings.from_environ(
        {
            EDGE_PHASE: "0",
            "SNAPPY_MONOLITH_URL": "http://monolith.test",
            "SNAPPY_USER_SERVICE_URL": "http://users.test",
            "SNAPPY_EDGE_CONTROL_FILE": str(control_file),
        }
    )
    app = create_app(settings, transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    client = app.test_client()

    before = edge_state(client.get("/metrics").get_data(as_text=True))
    write_control(control_file, EdgeControl(phase=1))
    after = edge_state(client.get("/metrics").get_data(as_text=True))

    assert (before.phase, after.phase) == (0, 1)
    assert before.routes[RouteGroupName.USERS] == PartName.MONOLITH
    assert after.routes[RouteGroupName.USERS] == PartName.USER_SERVICE
    assert after.configured_parts == {PartName.MONOLITH, PartName.USER_SERVICE}
    # The lane alone: no front has taken a phase.
    assert (after.front, after.front_phase) == (None, None)
