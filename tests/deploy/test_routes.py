"""Each phase's rendered HTTPRoutes send every contract path where the routing table says.

The routes are matched as a Gateway API implementation matches them: an Exact match wins,
then the longest PathPrefix (whole path segments), then the first rule in order. Where a
RegularExpression competes with prefixes the specification leaves the order to the
implementation; DOKS's is Cilium's, which turns each PathPrefix `/p` into the regular
expression `/p(/.*)?$` and tries the longer regular expression first
(operator/pkg/model/translation/envoy_virtual_host.go, SortableRoute). Both are modelled here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from snappy_devstack.deploy import PORT, route_matches
from snappy_edge.front import LANE_PATHS
from snappy_edge.routing import PHASES, component_for
from snappy_topology import PartName
from tests.deploy.manifests import RENDER_TARGETS, objects_of, target_name

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = sorted((REPOSITORY_ROOT / "shared_contracts").glob("*.openapi.yaml"))
# Pages the web UI and the monolith serve, beside the contract's API paths.
PAGE_PATHS = ("/", "/login", "/signup", "/upload", "/users/alice", "/photos/12", "/static/app.css")
# A value per parameter name: each sample must look like a real request.
PARAMETER_VALUES = {"username": "alice", "id": "42"}
_PARAMETER = re.compile(r"\{([^}]+)\}")


def contract_paths() -> list[str]:
    """Every path template of every OpenAPI contract, its parameters filled in."""
    paths: list[str] = []
    for contract in CONTRACTS:
        document = yaml.safe_load(contract.read_text(encoding="utf-8"))
        for template in document["paths"]:
            paths.append(_PARAMETER.sub(lambda m: PARAMETER_VALUES.get(m.group(1), "sample"), template))
    return paths


def sample_paths() -> list[str]:
    """The contract paths, with and without a trailing slash, and the pages."""
    paths = contract_paths()
    return sorted({*paths, *(path + "/" for path in paths if path != "/"), *PAGE_PATHS})


@dataclass(frozen=True)
class Candidate:
    """One path match of one rule, with its place in the route."""

    type: str
    value: str
    rule: int
    backend: str

    def matches(self, path: str) -> bool:
        """Gateway API's path matching of this candidate."""
        if self.type == "Exact":
            return path == self.value
        if self.type == "PathPrefix":
            prefix = self.value.rstrip("/")
            return prefix in ("", path) or path.startswith(prefix + "/")
        # Envoy's safe_regex (RE2) must match the whole path.
        return re.fullmatch(self.value, path) is not None

    def precedence(self) -> tuple[int, int, int]:
        """Sort key, smallest first: Exact, then the longest (Cilium) regular expression, then rule order."""
        if self.type == "Exact":
            return (0, -len(self.value), self.rule)
        if self.type == "PathPrefix":
            return (1, -len(self.value.rstrip("/") + "(/.*)?$"), self.rule)
        return (1, -len(self.value), self.rule)


def candidates(route: dict[str, object]) -> list[Candidate]:
    """Every path match of an HTTPRoute's rules."""
    found: list[Candidate] = []
    spec = route["spec"]
    assert isinstance(spec, dict)
    for index, rule in enumerate(spec["rules"]):
        (backend,) = rule["backendRefs"]
        assert backend["port"] == PORT
        for match in rule["matches"]:
            assert set(match) == {"path"}, "only path matches: methods and headers would change precedence"
            found.append(Candidate(match["path"]["type"], match["path"]["value"], index, backend["name"]))
    return found


def routed_to(route: dict[str, object], path: str) -> str | None:
    """The backend the route sends `path` to, as the gateway would choose it."""
    matching = [candidate for candidate in candidates(route) if candidate.matches(path)]
    if not matching:
        return None
    return min(matching, key=Candidate.precedence).backend


def expected_backend(phase: int, path: str) -> str:
    """Where the local edge sends `path` in `phase`: its own lane, or the part the table names."""
    if re.match(LANE_PATHS, path):
        return str(PartName.EDGE)
    return str(component_for(phase, path))


def phase_routes(target: int | None) -> list[tuple[int, dict[str, object]]]:
    """The HTTPRoutes of a rendered overlay, with the phase each one routes."""
    routes = [route for route in objects_of(target, "HTTPRoute") if route["metadata"]["name"] == "snappy"]
    assert routes, "no HTTPRoute rendered"
    return [(int(route["metadata"]["annotations"]["snappy.dev/phase"]), route) for route in routes]


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_every_contract_path_reaches_the_part_the_routing_table_names(target: int | None) -> None:
    paths = sample_paths()
    assert len(paths) > 30  # the contracts were read
    for phase, route in phase_routes(target):
        wrong = {
            path: (routed_to(route, path), expected_backend(phase, path))
            for path in paths
            if routed_to(route, path) != expected_backend(phase, path)
        }
        assert wrong == {}, f"phase {phase}: path -> (routed, expected)"


def test_the_overlays_cover_every_phase_and_the_side_by_side_versions() -> None:
    assert sorted(phase for target in RENDER_TARGETS[:-1] for phase, _ in phase_routes(target)) == sorted(
        PHASES
    )
    side_by_side = sorted(phase for phase, _ in phase_routes(None))
    assert side_by_side == [min(PHASES), max(PHASES)]  # the monolith alone, the microservices alone


def test_internal_paths_never_reach_a_service_through_the_gateway() -> None:
    for target in RENDER_TARGETS:
        for _, route in phase_routes(target):
            for path in ("/internal/v1/users/lookup", "/internal", "/internal/v1/revoked-tokens/"):
                assert routed_to(route, path) == PartName.EDGE  # which refuses them


def test_a_users_photos_stay_with_the_photos_while_the_user_moves() -> None:
    # Phase 1: users on user-service, photos still on the monolith. Only the regular
    # expression outranking the /api/v1/users prefix keeps the photos where they are.
    (_, route) = phase_routes(1)[0]
    assert routed_to(route, "/api/v1/users/alice") == PartName.USER_SERVICE
    assert routed_to(route, "/api/v1/users/alice/photos") == PartName.MONOLITH
    assert routed_to(route, "/api/v1/users/alice/photos/extra") == PartName.USER_SERVICE


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"^/api/v1/photos(/|$)", [("PathPrefix", "/api/v1/photos")]),
        (r"^/api/v1/feed/?$", [("Exact", "/api/v1/feed"), ("Exact", "/api/v1/feed/")]),
        (r"^/\.well-known/jwks\.json$", [("Exact", "/.well-known/jwks.json")]),
        (r"^/", [("PathPrefix", "/")]),
        (r"^/api/v1/users/[^/]+/photos/?$", [("RegularExpression", "/api/v1/users/[^/]+/photos/?")]),
    ],
)
def test_each_kind_of_routing_pattern_becomes_its_gateway_match(
    pattern: str, expected: list[tuple[str, str]]
) -> None:
    assert [(match.type, match.value) for match in route_matches(pattern)] == expected


def test_an_unanchored_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="not anchored"):
        route_matches("/api")


def test_the_load_balancer_health_check_reaches_the_edge_whatever_its_host() -> None:
    annotation = "service.beta.kubernetes.io/do-loadbalancer-healthcheck-path"
    for target in RENDER_TARGETS:
        gateways = list(objects_of(target, "Gateway"))
        assert gateways
        for gateway in gateways:
            listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
            assert "hostname" in listeners["http"]
            assert "hostname" not in listeners["load-balancer-health"]
            path = gateway["spec"]["infrastructure"]["annotations"][annotation]
            health = [
                route
                for route in objects_of(target, "HTTPRoute")
                if route["metadata"]["name"] == "load-balancer-health"
                and route["metadata"]["namespace"] == gateway["metadata"]["namespace"]
            ]
            (route,) = health
            assert route["spec"]["parentRefs"] == [{"name": "snappy", "sectionName": "load-balancer-health"}]
            assert routed_to(route, path) == PartName.EDGE
            assert routed_to(route, "/api/v1/users") is None  # nothing else for an unknown host


def test_the_precedence_model_follows_the_gateway_api_rules() -> None:
    route: dict[str, object] = {
        "spec": {
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "a", "port": PORT}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/x"}}],
                    "backendRefs": [{"name": "b", "port": PORT}],
                },
                {
                    "matches": [{"path": {"type": "Exact", "value": "/x/y"}}],
                    "backendRefs": [{"name": "c", "port": PORT}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/x/"}}],
                    "backendRefs": [{"name": "d", "port": PORT}],
                },
            ]
        }
    }
    assert routed_to(route, "/x/y") == "c"  # Exact beats every prefix
    assert routed_to(route, "/x/z") == "b"  # /x and /x/ are the same prefix: the first rule wins
    assert routed_to(route, "/xy") == "a"  # a prefix matches whole segments only
    assert routed_to(route, "/") == "a"
