"""`snappy bench`: one workload on both versions, compared; and the ways it refuses to start.

One short run against the session's live monolith and microservices (concurrency 1 and
2, one second of warm-up and three measured, per step) is shared by the tests that read
its output. The figures themselves depend on the machine: only their presence, their
consistency and the absence of errors are checked.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.backing import BackingServices, S3Endpoint
from snappy_devstack.bench.preparation import Credentials, outlast
from snappy_devstack.bench.targets import targets_from_stack_file
from snappy_devstack.bench.workload import MIX
from snappy_devstack.local_stack import read_local_stack
from snappy_devstack.stack import ensure_secrets, plan_stacks, published_local_stack, server_environment
from snappy_topology import PartName
from tests.support.live import LiveMicroservices, LiveMonolith

pytestmark = pytest.mark.live

SNAPPY = [sys.executable, "-m", "snappy_devstack.cli"]
ENDPOINTS = [endpoint.name for endpoint in MIX]
VERSIONS = ("monolith", "microservices")
CONCURRENCIES = (1, 2)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RUN_TIMEOUT_SECONDS = 120
_USAGE_TIMEOUT_SECONDS = 30
SERVICES = BackingServices(
    postgres_url="postgresql://postgres@127.0.0.1:5432/postgres",
    s3=S3Endpoint("http://127.0.0.1:9000", "us-east-1", "key-id", "secret"),
    source="embedded",
)


@dataclass(frozen=True)
class BenchRun:
    """A finished `snappy bench`: what it printed, where it wrote, and its report."""

    completed: subprocess.CompletedProcess[str]
    output: Path
    report: dict[str, Any]


def _snappy(
    *arguments: str, cwd: Path, timeout: float = _USAGE_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SNAPPY, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def bench_run(
    live_monolith: LiveMonolith,
    live_microservices: LiveMicroservices,
    tmp_path_factory: pytest.TempPathFactory,
) -> BenchRun:
    """One short benchmark of the live monolith against the live microservices."""
    output = tmp_path_factory.mktemp("bench") / "run"
    completed = _snappy(
        "bench",
        "--monolith-url", live_monolith.base_url,
        "--microservices-url", live_microservices.edge_url,
        "--concurrency", ",".join(map(str, CONCURRENCIES)),
        "--duration", "3",
        "--warmup", "1",
        "--output", str(output),
        cwd=output.parent,
        timeout=_RUN_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads((output / "bench.json").read_text(encoding="utf-8"))
    return BenchRun(completed=completed, output=output, report=report)


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return f"http://127.0.0.1:{port}"


def _step(run: BenchRun, version: str, concurrency: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = run.report["steps"]
    (step,) = [step for step in steps if step["version"] == version and step["concurrency"] == concurrency]
    return step


def test_every_endpoint_has_figures_on_each_version_at_each_concurrency(bench_run: BenchRun) -> None:
    for version in VERSIONS:
        for concurrency in CONCURRENCIES:
            step = _step(bench_run, version, concurrency)
            assert list(step["endpoints"]) == ENDPOINTS
            for name, figures in step["endpoints"].items():
                assert figures["requests"] > 0, (version, concurrency, name)
                assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], (version, name)
                assert figures["requests_per_second"] > 0, (version, concurrency, name)


def test_no_request_failed(bench_run: BenchRun) -> None:
    for step in bench_run.report["steps"]:
        assert step["errors"] == [], step["folder"]
        assert step["all_requests"]["failures"] == 0
        assert all(figures["failures"] == 0 for figures in step["endpoints"].values())


def test_all_requests_add_up_the_endpoints(bench_run: BenchRun) -> None:
    for step in bench_run.report["steps"]:
        endpoints = step["endpoints"].values()
        assert step["all_requests"]["requests"] == sum(figures["requests"] for figures in endpoints)
        assert step["all_requests"]["requests_per_second"] == pytest.approx(
            sum(figures["requests_per_second"] for figures in endpoints), abs=0.1
        )


def test_the_ratios_are_the_microservices_figures_over_the_monolith_figures(bench_run: BenchRun) -> None:
    comparisons = bench_run.report["comparisons"]
    assert [(row["concurrency"], row["endpoint"]) for row in comparisons] == [
        (concurrency, name) for concurrency in CONCURRENCIES for name in [*ENDPOINTS, "all requests"]
    ]
    for row in comparisons:
        before, after = row["monolith"], row["microservices"]
        assert row["p50_ratio"] == round(after["p50_ms"] / before["p50_ms"], 3)
        assert row["throughput_ratio"] == round(
            after["requests_per_second"] / before["requests_per_second"], 3
        )
        if row["endpoint"] == "all requests":
            step = _step(bench_run, "monolith", row["concurrency"])
            assert before == step["all_requests"]


def test_the_report_records_the_settings_and_the_machine(
    bench_run: BenchRun, live_monolith: LiveMonolith, live_microservices: LiveMicroservices
) -> None:
    settings, machine = bench_run.report["settings"], bench_run.report["machine"]
    assert bench_run.report["format"] == "snappy-bench/1"
    assert settings["monolith_url"] == live_monolith.base_url
    assert settings["microservices_url"] == live_microservices.edge_url
    assert settings["concurrencies"] == [1, 2]
    assert (settings["duration_seconds"], settings["warmup_seconds"]) == (3, 1)
    assert settings["workers_per_serving_process"] is None  # not known for targets given by URL
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", settings["started_at"])
    assert machine["cores"] >= 1
    assert machine["python"] == ".".join(map(str, sys.version_info[:3]))


def test_versions_alternate_at_each_concurrency(bench_run: BenchRun) -> None:
    order = ["01-monolith-c1", "02-microservices-c1", "03-monolith-c2", "04-microservices-c2"]
    assert bench_run.report["settings"]["order"] == order
    assert [f"{step['version']}-c{step['concurrency']}" for step in bench_run.report["steps"]] == [
        slug[3:] for slug in order
    ]
    progress = [line for line in bench_run.completed.stdout.splitlines() if line.startswith("[")]
    assert [line.split(":")[0] for line in progress[1::2]] == [
        "[1/4] monolith at concurrency 1",
        "[2/4] microservices at concurrency 1",
        "[3/4] monolith at concurrency 2",
        "[4/4] microservices at concurrency 2",
    ]


def test_the_table_names_every_endpoint_and_all_requests(bench_run: BenchRun) -> None:
    table = bench_run.completed.stdout.split("Latency in ms;", 1)[1]
    for name in [*ENDPOINTS, "all requests"]:
        rows = [line for line in table.splitlines() if line.startswith(f"{name} ")]
        assert len(rows) == len(CONCURRENCIES), name
        assert all(" monolith " in row for row in rows)


@pytest.mark.parametrize("chart", ["latency.png", "throughput.png"])
def test_the_charts_are_real_pngs(bench_run: BenchRun, chart: str) -> None:
    content = (bench_run.output / chart).read_bytes()
    assert content.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", content[16:24])  # the IHDR chunk comes first
    assert (width, height) == (960, 600)
    assert len(content) > 20_000
    assert str(bench_run.output / chart) in bench_run.completed.stdout


def test_locust_writes_to_its_log_and_no_credential_is_left_behind(bench_run: BenchRun) -> None:
    for step in bench_run.report["steps"]:
        folder = Path(step["folder"])
        assert "Starting Locust" in (folder / "locust.log").read_text(encoding="utf-8")
        assert not (folder / "workload.json").exists()
    assert "Starting Locust" not in bench_run.completed.stdout + bench_run.completed.stderr


def test_without_a_running_stack_it_says_how_to_start_one(tmp_path: Path) -> None:
    result = _snappy(
        "bench", "--state-dir", str(tmp_path / "state"), "--output", str(tmp_path / "out"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no local stack is running" in result.stderr
    assert "./snappy up --stack both" in result.stderr
    assert "--monolith-url and --microservices-url" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_monolith_is_named(closed_url: str, tmp_path: Path) -> None:
    result = _snappy(
        "bench", "--monolith-url", closed_url, "--microservices-url", closed_url,
        "--output", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"the monolith at {closed_url} does not answer GET /healthz" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_microservices_stack_is_named(
    live_monolith: LiveMonolith, closed_url: str, tmp_path: Path
) -> None:
    result = _snappy(
        "bench", "--monolith-url", live_monolith.base_url, "--microservices-url", closed_url,
        "--output", str(tmp_path / "out"),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"the microservices at {closed_url} does not answer GET /healthz" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("concurrency", ["1,x", "0", "4,4", "", "2000"])
def test_a_bad_concurrency_is_a_usage_error(concurrency: str, tmp_path: Path) -> None:
    result = _snappy("bench", "--concurrency", concurrency, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: snappy bench" in result.stderr
    assert "argument --concurrency:" in result.stderr
    assert "Traceback" not in result.stderr


def test_one_url_without_the_other_is_a_usage_error(tmp_path: Path) -> None:
    result = _snappy("bench", "--monolith-url", "http://127.0.0.1:8000", cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: snappy bench" in result.stderr
    assert "give both --monolith-url and --microservices-url, or neither" in result.stderr


def test_the_targets_and_worker_count_come_from_the_stack_description(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    with published_local_stack(path, plan_stacks("both", 8123), SERVICES, workers=3):
        targets = targets_from_stack_file(path)
    assert (targets.monolith.url, targets.microservices.url) == (
        "http://127.0.0.1:8123",
        "http://127.0.0.1:8124",
    )
    assert targets.workers == 3
    assert targets.source == str(path)


def test_a_stack_description_without_a_worker_count_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    with published_local_stack(path, plan_stacks("both", 8123), SERVICES, workers=3):
        document = json.loads(path.read_text(encoding="utf-8"))
    del document["workers"]  # as written before the count was recorded
    path.write_text(json.dumps(document), encoding="utf-8")
    assert read_local_stack(path).workers is None
    assert targets_from_stack_file(path).workers is None


def test_up_gives_the_monolith_and_every_service_the_same_workers_and_leaves_the_edge_alone(
    tmp_path: Path,
) -> None:
    stack_secrets = ensure_secrets(tmp_path)
    servers = [server for stack in plan_stacks("both", 8123) for server in stack.servers]
    environments = {
        server.part.name: server_environment(
            {"PATH": "/usr/bin"}, server, services=SERVICES, stack_secrets=stack_secrets, workers=3
        )
        for server in servers
    }
    for name in (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI):
        assert environments[name]["SNAPPY_WORKERS"] == "3", name
    assert "SNAPPY_WORKERS" not in environments[PartName.EDGE]


def test_up_refuses_a_worker_count_below_one(tmp_path: Path) -> None:
    result = _snappy("up", "--workers", "0", "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert result.returncode == 2
    assert "argument --workers: '0' is not a positive integer" in result.stderr
    assert not (tmp_path / "state").exists()


def test_users_log_in_again_only_when_their_tokens_would_expire_during_a_step() -> None:
    now = time.time()
    fresh = {"a": Credentials(token="t", cookies={}, expires_at=now + 3600)}
    expiring = {**fresh, "b": Credentials(token="t", cookies={}, expires_at=now + 30)}
    undated = {"a": Credentials(token="t", cookies={}, expires_at=None)}
    assert outlast(fresh, 600)
    assert not outlast(expiring, 600)
    assert not outlast(undated, 600)
