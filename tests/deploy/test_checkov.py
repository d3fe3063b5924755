"""checkov finds no failed check in any rendered overlay; every skip is written on its object with a reason.

checkov pins its own boto3 and much else, so it cannot share the project's environment: it is
installed, once per version of requirements/checkov.txt, into a virtual environment of its own
in the user's cache ($XDG_CACHE_HOME or ~/.cache, snappy/checkov-<hash>), which every clone
on the machine, CI's fresh ones included, then reuses. One run scans every overlay and
a canary object that breaks the rules, which proves the scan really checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import RENDER_TARGETS, rendered, target_name

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPOSITORY_ROOT / "requirements" / "checkov.txt"
CANARY = "canary.yaml"
# A pod that runs as root with every default: checkov must fail it.
CANARY_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "canary", "namespace": "canary"},
    "spec": {"containers": [{"name": "canary", "image": "busybox:latest"}]},
}


def checkov() -> Path:
    """The checkov executable, installed into its own venv when missing or out of date."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tools = cache / "snappy" / f"checkov-{wanted[:16]}"
    stamp = tools / "installed"
    program = tools / "bin" / "checkov"
    if not program.exists() or not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(tools)], check=True)
        installed = subprocess.run(
            [
                str(tools / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        stamp.write_text(wanted, encoding="utf-8")
    return program


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """checkov's JSON report of every rendered overlay and the canary, one entry per file."""
    scanned = tmp_path_factory.mktemp("checkov")
    for target in RENDER_TARGETS:
        (scanned / f"{target_name(target)}.yaml").write_text(rendered(target).manifests, encoding="utf-8")
    (scanned / CANARY).write_text(yaml.safe_dump(CANARY_POD), encoding="utf-8")
    result = subprocess.run(
        [
            str(checkov()),
            "--directory",
            str(scanned),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    parsed = json.loads(result.stdout)
    reports = parsed if isinstance(parsed, list) else [parsed]
    assert reports, result.stderr
    return reports


def _checks(reports: list[dict[str, Any]], outcome: str) -> list[dict[str, Any]]:
    return [check for entry in reports for check in entry["results"][outcome]]


def test_no_check_fails_on_any_overlay(report: list[dict[str, Any]]) -> None:
    failed = _checks(report, "failed_checks")
    outside_canary = [
        (check["check_id"], check["file_path"], check["resource"])
        for check in failed
        if not check["file_path"].endswith(CANARY)
    ]
    assert outside_canary == []
    assert len(_checks(report, "passed_checks")) > 1000


def test_the_canary_fails_so_the_scan_is_real(report: list[dict[str, Any]]) -> None:
    failed = {
        check["check_id"] for check in _checks(report, "failed_checks") if check["file_path"].endswith(CANARY)
    }
    # Runs as root, image tag `latest`, no limits, no probes.
    assert {"CKV_K8S_23", "CKV_K8S_14", "CKV_K8S_13", "CKV_K8S_8"} <= failed


def test_every_skip_is_written_on_its_object_with_a_reason(report: list[dict[str, Any]]) -> None:
    skipped = _checks(report, "skipped_checks")
    assert skipped
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 40, check["check_id"]
    assert {check["check_id"] for check in skipped} <= {"CKV_K8S_35", "CKV_K8S_40", "CKV_K8S_43"}
