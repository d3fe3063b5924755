"""The kustomize tree: generated as committed, rendered on a clean clone, valid for Kubernetes 1.32.

Built-in kinds are checked by kubernetes-validate against the Kubernetes 1.32 schemas it
ships (strict: unknown fields fail); the custom resources by tests/deploy/crd_schemas.py.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from snappy_devstack import deploy
from snappy_devstack.cli import main
from snappy_devstack.deploy import (
    DASHBOARD_FILE,
    GRACEFUL_TIMEOUT_SECONDS,
    K8S_DIR,
    RUNTIME_UID,
    dashboard_text,
    generated_files,
)
from snappy_topology import JOBS, PARTS
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.manifests import RENDER_TARGETS, clean_tree, objects_of, rendered, target_name

KUBERNETES_VERSION = "1.32.0"
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def validate(item: dict[str, Any]) -> None:
    """Raise if `item` breaks its kind's schema."""
    schema = SCHEMAS.get((item["apiVersion"], item["kind"]))
    if schema is not None:
        jsonschema.validate(item, schema)
        return
    kubernetes_validate.validate(item, KUBERNETES_VERSION, strict=True)


def test_the_committed_tree_is_what_the_topology_and_the_routing_table_generate() -> None:
    stale = [
        str(path)
        for path, text in generated_files().items()
        if not (K8S_DIR / path).exists() or (K8S_DIR / path).read_text(encoding="utf-8") != text
    ]
    if DASHBOARD_FILE.read_text(encoding="utf-8") != dashboard_text():
        stale.append(str(DASHBOARD_FILE))
    assert stale == [], "run ./snappy deploy generate and commit the result"


def test_real_site_files_are_never_committed() -> None:
    examples = sorted(K8S_DIR.rglob("*.example"))
    assert len(examples) >= 10
    for example in examples:
        real = example.with_suffix("")
        ignored = subprocess.run(["git", "check-ignore", "-q", str(real)], cwd=REPOSITORY_ROOT, check=False)
        assert ignored.returncode == 0, f"{real} is not ignored by git"


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_every_rendered_object_validates(target: int | None) -> None:
    items = list(objects_of(target))
    assert len(items) > 40
    for item in items:
        validate(item)
    assert {item["kind"] for item in items} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ConfigMap",
        "Secret",
        "Job",
        "Gateway",
        "HTTPRoute",
        "ServiceMonitor",
        "PrometheusRule",
    }


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        (
            "Deployment",
            lambda item: item["spec"]["template"]["spec"]["containers"][0].update(imagePullPolcy="Always"),
        ),
        ("HTTPRoute", lambda item: item["spec"]["rules"][1]["matches"][0]["path"].update(type="Prefix")),
        ("HTTPRoute", lambda item: item["spec"]["rules"][0]["matches"][0]["path"].update(value="/api//v1")),
        ("Gateway", lambda item: item["spec"]["listeners"][0].update(port=0)),
        ("ServiceMonitor", lambda item: item["spec"]["endpoints"][0].update(scrapeEvery="30s")),
    ],
)
def test_the_validation_rejects_a_broken_object(kind: str, change: Any) -> None:
    item = copy.deepcopy(
        next(found for found in objects_of(1, kind) if found["metadata"]["name"] in {"snappy", "edge"})
    )
    validate(item)
    change(item)
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)):
        validate(item)


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_every_workload_is_locked_down_and_stops_gracefully(target: int | None) -> None:
    workloads = [item for item in objects_of(target) if item["kind"] in {"Deployment", "Job"}]
    assert workloads
    for item in workloads:
        pod = item["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert {"requests", "limits"} <= set(container["resources"])
            mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert mounted, "a read-only root filesystem needs its writable paths declared"
        if item["kind"] == "Deployment" and item["metadata"]["name"] in PARTS:
            (container,) = pod["containers"]
            assert container["securityContext"]["runAsUser"] == RUNTIME_UID
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert "startupProbe" in container
            pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert pod["terminationGracePeriodSeconds"] > GRACEFUL_TIMEOUT_SECONDS + pause
            assert item["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
            assert pod["topologySpreadConstraints"]


def test_the_graceful_timeout_the_grace_period_covers_is_gunicorns() -> None:
    for conf in (
        REPOSITORY_ROOT / "monolith/src/snappy_monolith/gunicorn_conf.py",
        REPOSITORY_ROOT / "microservices/plumbing/src/snappy_plumbing/gunicorn_conf.py",
    ):
        found = re.search(r'SNAPPY_GRACEFUL_TIMEOUT", "(\d+)"', conf.read_text(encoding="utf-8"))
        assert found is not None
        assert int(found.group(1)) == GRACEFUL_TIMEOUT_SECONDS


def test_render_prints_the_manifests_with_every_image_from_the_registry_at_one_tag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(deploy, "K8S_DIR", clean_tree())
    arguments = ["deploy", "render", "--phase", "2", "--registry", "registry.digitalocean.com/acme"]
    assert main([*arguments, "--tag", "0123abc"]) == 0
    printed = capsys.readouterr()
    images = set(re.findall(r"image: (\S+)", printed.out))
    ours = {image for image in images if "/snappy-" in image}
    assert ours == {
        f"registry.digitalocean.com/acme/snappy-{name}:0123abc"
        for name in ("monolith", "user-service", "photo-service", "web-ui", "edge", "data-migration")
    }
    # A clean clone has no site files: the placeholders are named on stderr, never on stdout.
    assert "placeholder values" in printed.err
    assert "site/session.env" in printed.err
    assert "placeholder" not in printed.out


def test_render_of_an_unknown_phase_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["deploy", "render", "--phase", "5"])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_render_says_which_site_files_are_placeholders() -> None:
    placeholders = rendered(None).placeholders
    assert "overlays/side-by-side/monolith/site/monolith-database.env" in placeholders
    assert all(path.startswith("overlays/side-by-side/") for path in placeholders)


def test_the_side_by_side_versions_use_their_own_namespaces_stores_and_hostnames() -> None:
    namespaces = {
        item["metadata"].get("namespace") for item in objects_of(None) if item["kind"] != "Namespace"
    }
    assert namespaces == {"snappy-monolith", "snappy-microservices"}
    hostnames = {
        item["metadata"]["namespace"]: item["spec"]["listeners"][0]["hostname"]
        for item in objects_of(None, "Gateway")
    }
    assert hostnames == {
        "snappy-monolith": "monolith.snappy.example.com",
        "snappy-microservices": "microservices.snappy.example.com",
    }
    deployments: dict[str, set[str]] = {
        item["metadata"]["namespace"]: set() for item in objects_of(None, "Deployment")
    }
    for item in objects_of(None, "Deployment"):
        deployments[item["metadata"]["namespace"]].add(item["metadata"]["name"])
    assert deployments == {
        "snappy-monolith": {"monolith", "edge"},
        "snappy-microservices": {"user-service", "photo-service", "web-ui", "edge"},
    }


def test_load_balancer_annotations_are_strings_with_a_health_check_path() -> None:
    (gateway,) = objects_of(0, "Gateway")
    annotations = gateway["spec"]["infrastructure"]["annotations"]
    assert all(isinstance(value, str) for value in annotations.values())
    assert annotations["service.beta.kubernetes.io/do-loadbalancer-healthcheck-path"] == "/healthz"
    assert gateway["spec"]["gatewayClassName"] == "cilium"


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_each_phase_with_the_monolith_can_record_its_data_ownership(target: int | None) -> None:
    jobs = [job for job in objects_of(target, "Job") if job["metadata"]["name"] == "ownership-phase"]
    monolith_runs = any(item["metadata"]["name"] == "monolith" for item in objects_of(target, "Deployment"))
    if target is None or not monolith_runs:
        assert jobs == []  # side by side the versions are independent; phase 4 has no monolith
        return
    (job,) = jobs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "snappy_monolith", "ownership", "set", str(target)]
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "cutover"
    assert "snappy.dev/stage" not in job["metadata"]["labels"]  # never applied by a plain deploy


_WRITABLE_LABEL = re.compile(r'io\.snappy\.writable-paths="([^"]*)"')


def test_each_workload_can_write_exactly_where_its_image_declares() -> None:
    compared = 0
    workloads = {
        item["spec"]["template"]["spec"]["containers"][0]["image"].rsplit("/", 1)[-1].split(":")[0]: item
        for item in objects_of(1)
        if item["kind"] in {"Deployment", "Job"}
        and "snappy-" in item["spec"]["template"]["spec"]["containers"][0]["image"]
        and not item["metadata"]["name"].endswith(("schema-migration", "ownership-phase"))
    }
    images = [(str(part.name), part.project) for part in PARTS.values()] + [
        (str(job.name), job.project) for job in JOBS.values() if job.project is not None
    ]
    for name, project in images:
        dockerfile = REPOSITORY_ROOT / project / "Dockerfile"
        declared = _WRITABLE_LABEL.search(dockerfile.read_text(encoding="utf-8"))
        if declared is None:
            continue  # an image that declares nothing is held to nothing here
        workload = workloads[f"snappy-{name}"]
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        volumes = {volume["name"]: volume for volume in workload["spec"]["template"]["spec"]["volumes"]}
        writable = {
            mount["mountPath"] for mount in container["volumeMounts"] if "emptyDir" in volumes[mount["name"]]
        }
        assert writable == set(declared.group(1).split()), name
        compared += 1
    assert compared in {0, len(workloads)}  # all the Dockerfiles declare them, or none yet
