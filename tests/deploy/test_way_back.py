"""The way back across a data cutover on the cluster: its Jobs, its write freeze, its runbook.

The overlay a way back goes TO carries the Job that brings the group home (phase 1's moves
photos back, phase 0's users); no plain apply of the runbook runs it; the freeze is the
edge's control file, an optional ConfigMap no overlay declares, with every public path
routed through the edge meanwhile. The runbook's commands (deploy/README.md, "Roll back")
are held to all of it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from snappy_devstack.deploy import K8S_DIR, WRITE_FREEZE_ROUTES, edge_phase_literals, groups_moved_back_to
from snappy_edge.app import EdgeSettings, create_app
from snappy_edge.control import CONTROL_FILE_VARIABLE, EdgeControl, read_control
from snappy_edge.routing import groups_written_by
from snappy_migration import cli as migration_cli
from snappy_migration.phases import SERVICE_OWNS_FROM
from snappy_migration.reverse import GROUPS
from snappy_topology import RouteGroupName
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.manifests import RENDER_TARGETS, objects_of, target_name
from tests.deploy.test_routes import routed_to, sample_paths
from tests.migration.test_edge_rules import BodyStream

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = REPOSITORY_ROOT / "deploy" / "README.md"
DELIVERY = REPOSITORY_ROOT / ".github" / "workflows" / "delivery.yml"
COMPONENT = "app.kubernetes.io/component"
# The route group whose writes a freeze holds while each data group moves (snappy_devstack.cutover).
ROUTE_GROUP_OF = {"users": RouteGroupName.USERS, "photos": RouteGroupName.PHOTOS}
# The Jobs the runbook applies only when it says so, each selected by its component.
STEP_COMPONENTS = {"data-migration", "cutover", "move-back"}
_PLAIN_APPLY = re.compile(r"-l '(app\.kubernetes\.io/component notin \(([^)]*)\))'")
_ASSIGNMENTS = re.compile(r"^#?\s*(N=\d+ DATA=\S+ GROUP='[^']+' WRITE=\S+)$", re.MULTILINE)


def jobs(target: int | None) -> dict[str, dict[str, Any]]:
    """The rendered Jobs of an overlay, by name."""
    return {job["metadata"]["name"]: job for job in objects_of(target, "Job")}


def container_of(workload: dict[str, Any]) -> dict[str, Any]:
    """The one container of a workload's pod."""
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_the_way_back_goes_to_phase_0_for_users_and_to_phase_1_for_photos() -> None:
    assert {phase: groups_moved_back_to(phase) for phase in range(5)} == {
        0: ("users",),
        1: ("photos",),
        2: (),
        3: (),
        4: (),
    }
    for group, tables in GROUPS.items():
        assert group in groups_moved_back_to(SERVICE_OWNS_FROM[tables[0]] - 1)


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_only_the_overlays_a_way_back_goes_to_carry_its_move_back_job(target: int | None) -> None:
    move_backs = {
        name: job for name, job in jobs(target).items() if job["metadata"]["labels"][COMPONENT] == "move-back"
    }
    expected = (
        {0: {"move-back-users"}, 1: {"move-back-photos"}}.get(target, set()) if target is not None else set()
    )
    assert set(move_backs) == expected
    for name, job in move_backs.items():
        group = name.removeprefix("move-back-")
        container = container_of(job)
        assert container["command"] == ["snappy-migrate", "move-back", "--group", group]
        assert job["metadata"]["annotations"]["snappy.dev/phase"] == str(target)
        assert "snappy.dev/stage" not in job["metadata"]["labels"]  # never applied by a plain deploy


@pytest.mark.parametrize("target", [0, 1])
def test_a_move_back_job_runs_as_the_data_migration_does(target: int) -> None:
    rendered = jobs(target)
    (group,) = groups_moved_back_to(target)
    move_back, migration = rendered[f"move-back-{group}"], rendered["data-migration"]
    ours, theirs = container_of(move_back), container_of(migration)
    assert ours["image"] == theirs["image"]
    assert ours["image"].rsplit("/", 1)[-1].startswith("snappy-data-migration:")
    for key in ("env", "envFrom", "resources", "securityContext", "volumeMounts"):
        assert ours[key] == theirs[key], key
    pod, their_pod = move_back["spec"]["template"]["spec"], migration["spec"]["template"]["spec"]
    for key in ("serviceAccountName", "securityContext", "volumes", "automountServiceAccountToken"):
        assert pod[key] == their_pod[key], key
    labels = move_back["spec"]["template"]["metadata"]["labels"]
    their_labels = migration["spec"]["template"]["metadata"]["labels"]
    assert {**labels, "app.kubernetes.io/name": "", COMPONENT: ""} == {
        **their_labels,
        "app.kubernetes.io/name": "",
        COMPONENT: "",
    }
    # Under default-deny, the policies that let it reach Managed PostgreSQL and Spaces select it.
    policies = {item["metadata"]["name"]: item for item in objects_of(target, "NetworkPolicy")}
    for name in ("database-egress", "object-storage-egress", "dns-egress"):
        wanted = policies[name]["spec"]["podSelector"].get("matchLabels", {})
        assert wanted.items() <= labels.items(), name
    # The data-migration ServiceAccount it runs as is in the overlay, applied with the prepare stage.
    accounts = {item["metadata"]["name"]: item for item in objects_of(target, "ServiceAccount")}
    assert accounts[pod["serviceAccountName"]]["metadata"]["labels"]["snappy.dev/stage"] == "prepare"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_job_s_command_is_the_migration_tool_s(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    (phase,) = [phase for phase in range(5) if group in groups_moved_back_to(phase)]
    command = container_of(jobs(phase)[f"move-back-{group}"])["command"]
    # Parsed, it reaches the stores: with none given it names them, where a wrong word stops argparse.
    assert migration_cli.main(command[1:], prog=command[0], environ={}) == migration_cli.EXIT_FAILED
    assert "snappy-migrate move-back: missing --source-database-url" in capsys.readouterr().err


def plain_apply_selectors() -> list[tuple[str, set[str]]]:
    """Every `-l 'app.kubernetes.io/component notin (...)'` of the runbook and the delivery workflow."""
    found: list[tuple[str, set[str]]] = []
    for document in (RUNBOOK, DELIVERY):
        for match in _PLAIN_APPLY.finditer(document.read_text(encoding="utf-8")):
            found.append((match.group(1), {word.strip() for word in match.group(2).split(",")}))
    return found


def test_every_plain_apply_leaves_the_runbook_s_steps_out() -> None:
    selectors = plain_apply_selectors()
    assert len(selectors) >= 5  # phase 0, each phase forward, the rollbacks, the delivery's deploy
    for selector, excluded in selectors:
        assert excluded == STEP_COMPONENTS, selector


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_a_plain_apply_of_an_overlay_runs_no_step_of_a_cutover(target: int | None) -> None:
    ((_, excluded),) = {(selector, frozenset(words)) for selector, words in plain_apply_selectors()}
    applied = [
        item
        for item in objects_of(target)
        if item["metadata"].get("labels", {}).get(COMPONENT) not in excluded
    ]
    applied_jobs = {item["metadata"]["name"] for item in applied if item["kind"] == "Job"}
    assert applied_jobs == {name for name in applied_jobs if name.endswith("-schema-migration")}
    assert applied_jobs  # the schema migrations do run with it


def write_freeze_route() -> dict[str, Any]:
    (route,) = [item for item in yaml.safe_load_all((K8S_DIR / WRITE_FREEZE_ROUTES).read_text()) if item]
    assert isinstance(route, dict)
    return route


def test_the_write_freeze_route_sends_every_path_to_the_edge_in_place_of_the_phase_s_route() -> None:
    route = write_freeze_route()
    # As `kubectl apply -n snappy` sends it.
    applied = {**route, "metadata": {**route["metadata"], "namespace": "snappy"}}
    jsonschema.validate(applied, SCHEMAS[(route["apiVersion"], route["kind"])])
    paths = [*sample_paths(), "/internal/users/by-username/alice", "/healthz", "/metrics"]
    assert {path: routed_to(route, path) for path in paths} == dict.fromkeys(paths, "edge")
    for target in RENDER_TARGETS[:-1]:
        (phase_route,) = [
            item for item in objects_of(target, "HTTPRoute") if item["metadata"]["name"] == "snappy"
        ]
        # The same object, so that applying one replaces the other.
        assert (route["apiVersion"], route["kind"], route["metadata"]["name"]) == (
            phase_route["apiVersion"],
            phase_route["kind"],
            phase_route["metadata"]["name"],
        )
        assert route["spec"]["parentRefs"] == phase_route["spec"]["parentRefs"]
    assert "snappy.dev/phase" not in route["metadata"]["annotations"]


@pytest.mark.parametrize("target", RENDER_TARGETS, ids=target_name)
def test_the_edge_reads_its_control_file_from_an_optional_config_map_no_overlay_declares(
    target: int | None,
) -> None:
    configs = {item["metadata"]["name"]: item for item in objects_of(target, "ConfigMap")}
    assert "edge-control" not in configs  # a plain apply would otherwise reset a freeze
    for namespace in {item["metadata"]["namespace"] for item in objects_of(target, "Deployment")}:
        (edge,) = [
            item
            for item in objects_of(target, "Deployment")
            if item["metadata"]["name"] == "edge" and item["metadata"]["namespace"] == namespace
        ]
        (edge_config,) = [
            item
            for item in objects_of(target, "ConfigMap")
            if item["metadata"]["name"] == "edge-config" and item["metadata"]["namespace"] == namespace
        ]
        control_file = Path(edge_config["data"][CONTROL_FILE_VARIABLE])
        volumes = {volume["name"]: volume for volume in edge["spec"]["template"]["spec"]["volumes"]}
        (mount,) = [
            m for m in container_of(edge)["volumeMounts"] if m["mountPath"] == str(control_file.parent)
        ]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["configMap"] == {"name": "edge-control", "optional": True}


def runbook_rollbacks() -> list[dict[str, str]]:
    """The variables the runbook's way back is run with, once per data cutover (`N=1 DATA=photos ...`)."""
    text = RUNBOOK.read_text(encoding="utf-8")
    return [dict(word.split("=", 1) for word in shlex.split(line)) for line in _ASSIGNMENTS.findall(text)]


def test_the_runbook_s_way_back_names_each_group_s_job_freeze_and_write() -> None:
    rollbacks = runbook_rollbacks()
    assert sorted(rollback["DATA"] for rollback in rollbacks) == sorted(GROUPS)
    for rollback in rollbacks:
        phase, data, group = int(rollback["N"]), rollback["DATA"], rollback["GROUP"]
        assert groups_moved_back_to(phase) == (data,)
        assert f"move-back-{data}" in jobs(phase)
        assert RouteGroupName(group) == ROUTE_GROUP_OF[data]
        # The write the runbook sends to see the freeze (503) is one the freeze holds.
        assert groups_written_by("POST", rollback["WRITE"]) == {ROUTE_GROUP_OF[data]}


def runbook_control_document(argument: str) -> str:
    """The control.json the runbook's `freeze "<argument>"` writes, as kubectl puts it in the ConfigMap."""
    text = RUNBOOK.read_text(encoding="utf-8")
    (template,) = re.findall(r'--from-literal=control\.json="((?:[^"\\]|\\.)*)"', text)
    assert isinstance(template, str)
    return template.replace('\\"', '"').replace("$1", argument)


def runbook_awaited_lines(group: str) -> list[str]:
    """The /metrics lines the runbook waits for every edge pod to show, in order, for `group`."""
    text = RUNBOOK.read_text(encoding="utf-8")
    return [
        line.replace('\\"', '"').replace("$GROUP", group)
        for line in re.findall(r'^until edge_reports "((?:[^"\\]|\\.)*)"', text, re.MULTILINE)
    ]


@pytest.mark.parametrize("rollback", runbook_rollbacks(), ids=lambda rollback: rollback["DATA"])
def test_the_runbook_s_freeze_and_thaw_are_what_the_edge_reads_and_reports(
    rollback: dict[str, str], tmp_path: Path
) -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    frozen_call = re.search(r'^freeze "(.*)"$', text, re.MULTILINE)
    assert frozen_call is not None
    assert re.search(r'^freeze ""$', text, re.MULTILINE) is not None
    group, write = rollback["GROUP"], rollback["WRITE"]
    frozen_argument = frozen_call.group(1).replace('\\"', '"').replace("$GROUP", group)
    control_file = tmp_path / "control.json"
    # The edge of the phase the way back leaves, with the control file the cluster mounts.
    settings = dict(literal.split("=", 1) for literal in edge_phase_literals(int(rollback["N"]) + 1))
    edge = create_app(
        EdgeSettings.from_environ({**settings, CONTROL_FILE_VARIABLE: str(control_file)}),
        transport=httpx.MockTransport(lambda request: httpx.Response(401, stream=BodyStream(b""))),
    ).test_client()
    frozen_line, thawed_line = runbook_awaited_lines(group)

    control_file.write_text(runbook_control_document(frozen_argument), encoding="utf-8")
    assert read_control(control_file) == EdgeControl(freeze=frozenset({RouteGroupName(group)}))
    assert frozen_line in edge.get("/metrics").get_data(as_text=True).splitlines()
    refused = edge.post(write)
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")

    control_file.write_text(runbook_control_document(""), encoding="utf-8")
    assert read_control(control_file) == EdgeControl()
    assert thawed_line in edge.get("/metrics").get_data(as_text=True).splitlines()
    assert edge.post(write).status_code == 401
