"""The alerting rules pass promtool's checks and unit tests; the cluster loads exactly those rules;
the dashboard and the rules only query metrics the applications expose."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from snappy_devstack.deploy import ALERT_RULES_FILE, DASHBOARD_FILE, LAG_QUERIES, prometheus_rule
from tests.deploy.manifests import objects_of

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ALERT_RULES_FILE.parent
# What the parts register with prometheus_client (snappy_plumbing/snappy_monolith.observability).
APPLICATION_METRICS = {"snappy_http_requests_total", "snappy_http_request_duration_seconds_bucket"}
# kube-prometheus-stack's own: cAdvisor, kube-state-metrics, and Prometheus's `up`.
CLUSTER_METRICS = {
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "kube_pod_container_resource_limits",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "up",
}
_METRIC = re.compile(r"\b(snappy_[a-z_]+|container_[a-z_]+|kube_[a-z_]+|up)[{\[)]")


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run promtool (Debian's prometheus package) in deploy/observability."""
    program = shutil.which("promtool")
    assert program is not None, "promtool is missing: apt-get install prometheus (.ci/run does)"
    return subprocess.run(
        [program, *arguments], cwd=OBSERVABILITY, capture_output=True, text=True, check=False
    )


def lag_metrics() -> set[str]:
    """The metrics the migration-lag exporter's query produces: <query>_<column>."""
    return {
        f"{name}_{column}"
        for name, query in LAG_QUERIES.items()
        for metric in query["metrics"]
        for column in metric
    }


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", ALERT_RULES_FILE.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_every_alert() -> None:
    result = promtool("test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load(ALERT_RULES_FILE.read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    tested = set(
        re.findall(r"alertname: (\w+)", (OBSERVABILITY / "alerts.test.yaml").read_text(encoding="utf-8"))
    )
    assert alerts == tested


def test_a_broken_rule_file_fails_promtool(tmp_path: Path) -> None:
    broken = tmp_path / "broken.rules.yaml"
    broken.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(up[5m]\n", encoding="utf-8"
    )
    result = promtool("check", "rules", str(broken))
    assert result.returncode != 0


def test_the_cluster_loads_the_rules_promtool_checked() -> None:
    (rule,) = objects_of(0, "PrometheusRule")
    assert (
        rule["spec"]
        == prometheus_rule()["spec"]
        == yaml.safe_load(ALERT_RULES_FILE.read_text(encoding="utf-8"))
    )


def test_rules_and_dashboard_query_only_metrics_that_exist() -> None:
    known = APPLICATION_METRICS | CLUSTER_METRICS | lag_metrics()
    rules = yaml.safe_load(ALERT_RULES_FILE.read_text(encoding="utf-8"))
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {name for expr in expressions for name in _METRIC.findall(expr)}
    assert used
    assert used <= known
    assert {
        "snappy_migration_change_log_entries",
        "snappy_migration_change_log_oldest_seconds",
    } == lag_metrics()
    for name in APPLICATION_METRICS:
        base = name.removesuffix("_total").removesuffix("_bucket")
        for source in (
            "microservices/plumbing/src/snappy_plumbing/observability.py",
            "monolith/src/snappy_monolith/observability.py",
        ):
            assert f'"{base}"' in (REPOSITORY_ROOT / source).read_text(encoding="utf-8")


def test_the_dashboard_compares_the_versions() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert {"Request rate by version", "Error ratio (5xx) by version", "Latency p95 by version"} <= set(
        titles
    )
    for panel in dashboard["panels"][:4]:
        assert "by (version" in panel["targets"][0]["expr"]
