"""The edge benchmark runs end to end in a short run, and refuses what would make its figures wrong.

Figures are not checked here (they depend on the machine): only that a run completes, ends
with its ratio line, writes every target's figures, and drops the stores it created; that an
answer other than 2xx makes the run invalid; and that it says what to install without wrk.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from snappy_devstack.backing import BackingServices
from tests.support.session import REPOSITORY_ROOT
from tests.support.stores import s3_client

pytestmark = pytest.mark.live

SCRIPT = REPOSITORY_ROOT / "benchmarks" / "edge.py"
TARGETS = ("direct", "reference", "edge", "monolith")
# A short run: one second per measurement, one round, one worker per server.
SHORT_RUN = ["--duration", "1", "--rounds", "1", "--workers", "1"]
RUN_TIMEOUT_SECONDS = 240


@pytest.fixture
def benchmark_environment(backing: BackingServices) -> dict[str, str]:
    """The session's own PostgreSQL and S3, through the variables the provider honours."""
    return {
        **os.environ,
        "SNAPPY_DEV_PROVIDER": "environment",
        "SNAPPY_DEV_POSTGRES_URL": backing.postgres_url,
        "SNAPPY_DEV_S3_ENDPOINT_URL": backing.s3.endpoint_url,
        "SNAPPY_DEV_S3_REGION": backing.s3.region,
        "SNAPPY_DEV_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
        "SNAPPY_DEV_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
    }


def test_a_short_run_prints_its_ratio_last_and_writes_every_targets_figures(
    backing: BackingServices, benchmark_environment: dict[str, str], tmp_path: Path
) -> None:
    json_path = tmp_path / "edge.json"
    databases_before, buckets_before = _databases(backing), _buckets(backing)

    completed = _run_benchmark([*SHORT_RUN, "--json", str(json_path)], benchmark_environment)

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    last_line = completed.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"ratio=\d+\.\d\d", last_line), output
    report: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["valid"] is True
    assert f"ratio={report['ratio']:.2f}" == last_line
    assert set(report["targets"]) == set(TARGETS)
    for target in TARGETS:
        for connections in (1, 16):
            figures = report["targets"][target][f"at_{connections}"]
            assert 0 < figures["p50_ms"] <= figures["p99_ms"], (target, connections, figures)
            assert figures["requests_per_second"] > 0, (target, connections, figures)
            assert figures["non_2xx"] == 0, (target, connections, figures)
    assert set(report["added_over_direct_ms"]) == {"reference", "edge"}
    assert set(report["edge_over_monolith"]) == {"p50_at_1", "p50_at_16"}
    assert report["workers"] == 1
    assert _databases(backing) <= databases_before
    assert _buckets(backing) <= buckets_before


def test_a_path_that_does_not_answer_2xx_makes_the_run_invalid(
    benchmark_environment: dict[str, str], tmp_path: Path
) -> None:
    json_path = tmp_path / "edge.json"

    completed = _run_benchmark(
        [*SHORT_RUN, "--path", "/api/v1/photos/999999999", "--json", str(json_path)], benchmark_environment
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    last_line = completed.stdout.strip().splitlines()[-1]
    assert last_line.startswith("the run is INVALID: GET /api/v1/photos/999999999"), output
    assert "answered 404" in last_line
    assert "ratio=" not in completed.stdout
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["valid"] is False
    assert "answered 404" in report["reason"]


def test_without_wrk_on_path_it_says_to_install_it_and_exits_2(tmp_path: Path) -> None:
    completed = _run_benchmark(["--json", str(tmp_path / "edge.json")], {**os.environ, "PATH": str(tmp_path)})

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.strip().splitlines() == [
        "edge benchmark: wrk is not on PATH; install it (apt-get install wrk)"
    ]
    assert not (tmp_path / "edge.json").exists()


def _run_benchmark(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        env=environment,
        cwd=Path(REPOSITORY_ROOT),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def _databases(backing: BackingServices) -> set[str]:
    with psycopg.connect(backing.postgres_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, 'snappy_edge_benchmark_')"
        ).fetchall()
    return {str(row[0]) for row in rows}


def _buckets(backing: BackingServices) -> set[str]:
    listed = s3_client(backing).list_buckets().get("Buckets", [])
    return {
        str(bucket["Name"]) for bucket in listed if str(bucket["Name"]).startswith("snappy-edge-benchmark-")
    }
