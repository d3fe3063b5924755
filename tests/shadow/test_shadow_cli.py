"""`snappy shadow start|stop|report`: on the local stack's edge by default, or on the files named.

The report is read from records a real edge app wrote (tests/shadow/mocked_parts.py), and
its drops from that app's /metrics over HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from werkzeug.serving import make_server

from snappy_devstack.cli import main
from snappy_devstack.local_stack import LOCAL_STACK_FILE, LocalStack, write_local_stack
from snappy_devstack.processes import free_ports
from snappy_edge.control import EdgeControl, Shadow, read_control, write_control
from snappy_edge.shadow import COMPARISONS_FILE, MISMATCHES_FILE
from snappy_migration.stores import ObjectStore
from snappy_topology import PartName, RouteGroupName
from tests.shadow.mocked_parts import PHOTO, MockedParts, ShadowedEdge, json_answer

PHOTOS = RouteGroupName.PHOTOS


@pytest.fixture
def local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """`snappy up --stack both` as its description says it runs, in the current folder's `.snappy`."""
    monkeypatch.chdir(tmp_path)
    state_dir = tmp_path / ".snappy"
    stack = LocalStack(
        monolith_database_url="postgresql://postgres@127.0.0.1:5432/snappy_monolith",
        user_service_database_url="postgresql://postgres@127.0.0.1:5432/snappy_users",
        photo_service_database_url="postgresql://postgres@127.0.0.1:5432/snappy_photos",
        object_store=ObjectStore("http://127.0.0.1:9000", "us-east-1", "key-id", "secret"),
        monolith_bucket="snappy-monolith",
        photo_service_bucket="snappy-photos",
        monolith_url="http://127.0.0.1:8000",
        microservices_url=f"http://127.0.0.1:{free_ports(1)[0]}",
        edge_control_file=str(state_dir / "edge-control.json"),
        shadow_dir=str(state_dir / "shadow"),
    )
    write_local_stack(state_dir / LOCAL_STACK_FILE, stack)
    return stack


@pytest.fixture
def served_edge(edge: ShadowedEdge) -> Iterator[str]:
    """The edge app over HTTP (for its /metrics); its base URL."""
    server = make_server("127.0.0.1", free_ports(1)[0], edge.client.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def shadow(*arguments: str) -> int:
    """Run `snappy shadow ...` in process; its exit status."""
    return main(["shadow", *arguments])


def edge_options(edge: ShadowedEdge) -> list[str]:
    assert edge.directory is not None
    return ["--control-file", str(edge.control_file), "--shadow-dir", str(edge.directory)]


def read_through(edge: ShadowedEdge, path: str, **kwargs: object) -> None:
    edge.client.get(path, buffered=True, **kwargs)
    edge.settle()


# --- start and stop -----------------------------------------------------------------------------


def test_start_shadows_the_group_through_the_local_stacks_control_file(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shadow("start", "--group", "photos", "--candidate", "monolith") == 0

    assert local_stack.edge_control_file is not None
    control_file = Path(local_stack.edge_control_file)
    assert read_control(control_file) == EdgeControl(Shadow(PHOTOS, PartName.MONOLITH))
    out = capsys.readouterr().out
    assert "Shadowing photos, shares, feed" in out
    assert str(control_file) in out
    assert f"{local_stack.shadow_dir}/{COMPARISONS_FILE}" in out


@pytest.mark.parametrize(
    ("group", "candidate", "reason"),
    [
        ("photos", "web-ui", "web-ui cannot be a candidate for 'photos, shares, feed': it serves web pages"),
        ("users", "photo-service", "photo-service cannot be a candidate for 'users and tokens'"),
        ("pages", "edge", "edge cannot be a candidate for 'web pages': it serves no route group"),
    ],
)
def test_start_refuses_a_candidate_that_cannot_serve_the_group(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], group: str, candidate: str, reason: str
) -> None:
    assert shadow("start", "--group", group, "--candidate", candidate) == 2

    err = capsys.readouterr().err
    assert err.startswith("snappy shadow start: ")
    assert reason in err
    assert err.count("\n") == 1
    assert local_stack.edge_control_file is not None
    assert not Path(local_stack.edge_control_file).exists()


@pytest.mark.parametrize(
    "arguments",
    [
        ["--group", "photos", "--candidate", "mainframe"],
        ["--group", "feed", "--candidate", "monolith"],
        ["--group", "photos"],
    ],
)
def test_start_with_an_unknown_part_or_group_is_a_usage_error(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_status:
        shadow("start", *arguments)

    assert exit_status.value.code == 2
    assert "usage: snappy shadow start" in capsys.readouterr().err


def test_start_keeps_the_previous_runs_records_aside(edge: ShadowedEdge, parts: MockedParts) -> None:
    edge.shadow(PHOTOS, PartName.MONOLITH)
    read_through(edge, "/api/v1/photos/7")
    assert edge.directory is not None
    before = (edge.directory / COMPARISONS_FILE).read_text()

    assert shadow("start", "--group", "photos", "--candidate", "monolith", *edge_options(edge)) == 0

    assert not (edge.directory / COMPARISONS_FILE).exists()
    assert (edge.directory / "comparisons.previous.jsonl").read_text() == before
    read_through(edge, "/api/v1/photos/7")
    assert len(edge.comparisons()) == 1  # the new run's only


def test_stop_clears_the_shadow_and_says_where_the_records_are(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    shadow("start", "--group", "users", "--candidate", "monolith")
    capsys.readouterr()

    assert shadow("stop") == 0

    assert local_stack.edge_control_file is not None
    assert read_control(Path(local_stack.edge_control_file)) == EdgeControl()
    out = capsys.readouterr().out
    assert "Stopped shadowing users and tokens with monolith" in out
    assert f"The records stay in {local_stack.shadow_dir}: {COMPARISONS_FILE}, {MISMATCHES_FILE}" in out


def test_stop_when_nothing_is_shadowed_says_so(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shadow("stop") == 0

    assert "Nothing is shadowed now" in capsys.readouterr().out


@pytest.mark.parametrize(
    "action", [["start", "--group", "photos", "--candidate", "monolith"], ["stop"], ["report"]]
)
def test_without_a_running_stack_or_options_it_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], action: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert shadow(*action) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"no local stack is running ({tmp_path / '.snappy' / LOCAL_STACK_FILE} not found)" in err
    assert "`./snappy up --stack both`" in err


def test_a_stack_description_without_the_edges_files_asks_for_a_restart(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As `snappy up` wrote it before the edge's files were recorded.
    path = tmp_path / ".snappy" / LOCAL_STACK_FILE
    document = json.loads(path.read_text())
    del document["edge_control_file"], document["shadow_dir"]
    path.write_text(json.dumps(document))

    assert shadow("stop") == 2

    err = capsys.readouterr().err
    assert "names no edge control file" in err
    assert "--control-file" in err


# --- report --------------------------------------------------------------------------------------


def test_report_sums_up_each_route_and_exits_1_on_a_mismatch(
    edge: ShadowedEdge, parts: MockedParts, served_edge: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edge.shadow(PHOTOS, PartName.MONOLITH)
    for _ in range(3):
        read_through(edge, "/api/v1/photos/7")
    parts.answer(PartName.MONOLITH, lambda _request: json_answer(PHOTO, status=500))
    read_through(edge, "/api/v1/feed")
    read_through(edge, "/api/v1/photos/7", data=b"a body")  # dropped: a GET with a body

    status = shadow("report", *edge_options(edge), "--metrics-url", f"{served_edge}/metrics")

    assert status == 1
    out = capsys.readouterr().out
    assert "Shadowing photos, shares, feed with monolith now." in out
    assert f"4 comparisons in {edge.directory}/{COMPARISONS_FILE}" in out
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("/", "all routes"))
    }
    # route, requests, match, mismatch, candidate errors, ..., drops
    assert rows["/api/v1/photos/{id}"][1:5] == ["3", "3", "0", "0"]
    assert rows["/api/v1/photos/{id}"][-1] == "1"
    assert rows["/api/v1/feed"][1:5] == ["1", "0", "1", "0"]
    assert rows["all"][2:6] == ["4", "3", "1", "0"]
    assert "request body 1" in out
    assert (
        f"1 mismatch(es): each with both answers and its differences in {edge.directory}/{MISMATCHES_FILE}"
        in out
    )


def test_report_as_json(
    edge: ShadowedEdge, parts: MockedParts, served_edge: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edge.shadow(PHOTOS, PartName.MONOLITH)
    read_through(edge, "/api/v1/photos/7")

    def refusing(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    parts.answer(PartName.MONOLITH, refusing)
    read_through(edge, "/api/v1/photos/7/content")

    status = shadow("report", "--json", *edge_options(edge), "--metrics-url", f"{served_edge}/metrics")

    assert status == 0  # a candidate error is no mismatch
    report = json.loads(capsys.readouterr().out)
    assert report["shadow"] == {"group": "photos, shares, feed", "candidate": "monolith"}
    routes = {figures["route"]: figures for figures in report["routes"]}
    assert set(routes) == {"/api/v1/photos/{id}", "/api/v1/photos/{id}/content"}
    assert routes["/api/v1/photos/{id}"]["matches"] == 1
    content = routes["/api/v1/photos/{id}/content"]
    assert (content["requests"], content["candidate_errors"], content["candidate_ms"]) == (1, 1, None)
    assert len(content["primary_ms"]) == 3
    assert report["total"]["requests"] == 2
    assert report["drops_by_reason"] == {}
    assert report["mismatches_file"] == f"{edge.directory}/{MISMATCHES_FILE}"


def test_report_latencies_are_percentiles_by_nearest_rank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = tmp_path / COMPARISONS_FILE
    records.write_text(
        "".join(
            json.dumps(
                {
                    "route": "/api/v1/feed",
                    "outcome": "match",
                    "time": f"2026-12-01T10:00:{index % 60:02d}.000Z",
                    "primary_seconds": index / 1000,
                    "candidate_seconds": index / 500,
                }
            )
            + "\n"
            for index in range(100, 0, -1)
        )
        + "not a record\n"
    )

    assert (
        shadow("report", "--json", "--shadow-dir", str(tmp_path), "--metrics-url", "http://127.0.0.1:1/") == 0
    )

    report = json.loads(capsys.readouterr().out)
    [feed] = report["routes"]
    assert feed["primary_ms"] == [50.0, 95.0, 99.0]
    assert feed["candidate_ms"] == [100.0, 190.0, 198.0]
    assert report["unreadable_lines"] == 1


def test_report_says_the_drops_are_unknown_when_the_metrics_do_not_answer(
    edge: ShadowedEdge, capsys: pytest.CaptureFixture[str]
) -> None:
    write_control(edge.control_file, EdgeControl())
    closed = f"http://127.0.0.1:{free_ports(1)[0]}/metrics"

    assert shadow("report", *edge_options(edge), "--metrics-url", closed) == 0

    out = capsys.readouterr().out
    assert "Nothing is shadowed now." in out
    assert "No comparison recorded" in out
    assert f"Drops: unknown ({closed} did not answer: ConnectError)." in out
    assert "No mismatch." in out


def test_report_reads_the_local_stacks_records_by_default(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert local_stack.shadow_dir is not None
    Path(local_stack.shadow_dir).mkdir(parents=True)
    (Path(local_stack.shadow_dir) / COMPARISONS_FILE).write_text(
        json.dumps({"route": "/api/v1/users/me", "outcome": "mismatch", "time": "2026-12-01T10:00:00.000Z"})
        + "\n"
    )

    assert shadow("report") == 1

    out = capsys.readouterr().out
    assert f"1 comparisons in {local_stack.shadow_dir}/{COMPARISONS_FILE}" in out
    # The local edge does not answer in this test: its /metrics is where the drops would come from.
    assert f"Drops: unknown ({local_stack.microservices_url}/metrics did not answer" in out


def test_report_reads_the_strangler_edges_metrics_by_default(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    # `snappy up --stack strangler` describes its edge by its own URL, not the microservices'.
    strangler_url = f"http://127.0.0.1:{free_ports(1)[0]}"
    state_dir = Path.cwd() / ".snappy"
    write_local_stack(
        state_dir / LOCAL_STACK_FILE,
        replace(local_stack, microservices_url=None, strangler_phase=0, strangler_url=strangler_url),
    )
    assert local_stack.shadow_dir is not None
    Path(local_stack.shadow_dir).mkdir(parents=True)
    (Path(local_stack.shadow_dir) / COMPARISONS_FILE).write_text(
        json.dumps({"route": "/api/v1/users/me", "outcome": "match", "time": "2026-12-01T10:00:00.000Z"})
        + "\n"
    )

    assert shadow("report") == 0

    assert f"Drops: unknown ({strangler_url}/metrics did not answer" in capsys.readouterr().out
