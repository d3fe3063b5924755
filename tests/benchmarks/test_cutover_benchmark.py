"""The cutover benchmark walks a small strangler stack 0 -> 3 -> 0, and cleans up after itself.

Figures are not checked here (they depend on the machine): only that the run completes
every cutover, prints a row for each with the freeze split into its parts, ends with its
`freeze_max` line (the longest of the freezes it printed), and drops every database and
bucket it created.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from snappy_devstack.backing import BackingServices
from tests.support.session import REPOSITORY_ROOT
from tests.support.stores import s3_client

pytestmark = pytest.mark.live

SCRIPT = REPOSITORY_ROOT / "benchmarks" / "cutover.py"
PREFIX = "snappy_benchmark_"
STEPS = ("0 -> 1", "1 -> 2", "2 -> 3", "3 -> 2", "2 -> 1", "1 -> 0")
# Measured on two shared cores: 78 s at a load of 5, 146 s at a load of 12 (five servers
# started and migrated, then six cutovers of about a second each).
RUN_TIMEOUT_SECONDS = 300


def test_a_small_walk_prints_every_freeze_and_the_longest_last_and_drops_what_it_created(
    backing: BackingServices,
) -> None:
    databases_before, buckets_before = _databases(backing), _buckets(backing)

    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--photos", "200", "--quiet"],
        # The session's own PostgreSQL and S3, through the variables the provider honours.
        env={
            **os.environ,
            "SNAPPY_DEV_PROVIDER": "environment",
            "SNAPPY_DEV_POSTGRES_URL": backing.postgres_url,
            "SNAPPY_DEV_S3_ENDPOINT_URL": backing.s3.endpoint_url,
            "SNAPPY_DEV_S3_REGION": backing.s3.region,
            "SNAPPY_DEV_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
            "SNAPPY_DEV_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
        },
        cwd=Path(REPOSITORY_ROOT),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    lines = completed.stdout.strip().splitlines()
    last = re.fullmatch(r"freeze_max=(\d+\.\d\d)", lines[-1])
    assert last is not None, output
    assert "400 objects of 64 bytes" in completed.stdout, output
    freezes = []
    for step in STEPS:
        [row] = [line for line in lines if line.startswith(f"{step} ") and len(line.split()) > 8]
        # step (3 words), group, total, freeze, then the nine parts of the freeze.
        figures = [float(word) for word in row.split()[-11:]]
        total, freeze, parts = figures[0], figures[1], figures[2:]
        assert 0 < freeze <= total, row
        assert sum(parts) == pytest.approx(freeze, abs=0.01), row
        freezes.append(freeze)
    assert float(last.group(1)) == pytest.approx(max(freezes), abs=0.005)
    # --quiet: no timeline line ("  0.546 s  users and tokens: writes frozen") and no progress bar.
    assert not re.search(r"\d s  ", completed.stderr), completed.stderr
    assert " rows/s in " not in completed.stderr, completed.stderr
    assert _databases(backing) <= databases_before
    assert _buckets(backing) <= buckets_before


def _databases(backing: BackingServices) -> set[str]:
    with psycopg.connect(backing.postgres_url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)
        ).fetchall()
    return {str(row[0]) for row in rows}


def _buckets(backing: BackingServices) -> set[str]:
    listed = s3_client(backing).list_buckets().get("Buckets", [])
    return {str(bucket["Name"]) for bucket in listed if str(bucket["Name"]).startswith("snappy-benchmark-")}
