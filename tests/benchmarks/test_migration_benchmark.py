"""The data-migration benchmark runs end to end on a small seed, and cleans up after itself.

Figures are not checked here (they depend on the machine): only that the run completes,
verifies, ends with its ratio line and drops every database and bucket it created.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg

from snappy_devstack.backing import BackingServices
from tests.support.session import REPOSITORY_ROOT
from tests.support.stores import s3_client

SCRIPT = REPOSITORY_ROOT / "benchmarks" / "migration.py"
PREFIX = "snappy_benchmark_"


def test_a_small_run_verifies_prints_its_ratio_last_and_drops_what_it_created(
    backing: BackingServices,
) -> None:
    databases_before, buckets_before = _databases(backing), _buckets(backing)

    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--photos", "2000", "--quiet"],
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
        timeout=120,
        check=False,
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    lines = completed.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio=\d+\.\d\d", lines[-1]), output
    assert any(line.startswith("backfill ") for line in lines), output
    assert "with_objects=False" in completed.stdout
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
