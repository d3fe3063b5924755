"""The objects benchmark runs end to end on a few objects, and deletes what it created.

Figures are not checked here (they depend on the machine): only that the run completes,
prints a rate for each step and its peak memory, ends with its ratio line, and leaves no
bucket behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from snappy_devstack.backing import BackingServices
from tests.support.session import REPOSITORY_ROOT
from tests.support.stores import s3_client

SCRIPT = REPOSITORY_ROOT / "benchmarks" / "objects.py"
STEPS = ("listing", "ceiling", "copy", "re-run", "verify")


def test_a_small_run_prints_every_rate_its_memory_and_its_ratio_last_and_deletes_its_buckets(
    backing: BackingServices,
) -> None:
    buckets_before = _buckets(backing)

    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--objects", "300", "--size", "2000", "--threads", "8", "--quiet"],
        # The session's own S3, through the variables the benchmark honours.
        env={
            **os.environ,
            "SNAPPY_DEV_S3_ENDPOINT_URL": backing.s3.endpoint_url,
            "SNAPPY_DEV_S3_REGION": backing.s3.region,
            "SNAPPY_DEV_S3_ACCESS_KEY_ID": backing.s3.access_key_id,
            "SNAPPY_DEV_S3_SECRET_ACCESS_KEY": backing.s3.secret_access_key,
        },
        cwd=Path(REPOSITORY_ROOT),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    lines = completed.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio=\d+\.\d\d", lines[-1]), output
    for step in STEPS:
        assert any(
            re.fullmatch(rf"{re.escape(step)}\s+300\s+[\d.]+\s+[\d,]+\s+\w+/s", line) for line in lines
        ), (
            step,
            output,
        )
    assert any(re.match(r"peak memory: [\d,.]+ MB \(ru_maxrss", line) for line in lines), output
    assert "objects settled by hashing (ETags could not decide): 0" in lines
    assert "FAILED" not in completed.stdout
    assert _buckets(backing) <= buckets_before


def _buckets(backing: BackingServices) -> set[str]:
    listed = s3_client(backing).list_buckets().get("Buckets", [])
    return {str(bucket["Name"]) for bucket in listed if str(bucket["Name"]).startswith("snappy-benchmark-")}
