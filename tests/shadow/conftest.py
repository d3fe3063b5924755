"""Fixtures for the shadow traffic's tests: mocked parts and the edge's app in front of them; live edges."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from snappy_devstack.backing import BackingServices
from snappy_edge.app import EdgeSettings
from snappy_edge.control import CONTROL_FILE_VARIABLE, EdgeControl, Shadow, write_control
from snappy_edge.shadow import SHADOW_DIR_VARIABLE, ShadowSettings
from snappy_topology import EDGE_PHASE, PartName, RouteGroupName
from tests.shadow.live_workload import LiveShadowedEdge
from tests.shadow.mocked_parts import UPSTREAMS, MakeEdge, MockedParts, ShadowedEdge
from tests.support.gunicorn import stopped_on_exit
from tests.support.live import LiveMicroservices
from tests.support.parts import spawn_part


@pytest.fixture
def parts() -> MockedParts:
    """Every part the edge calls, each answering the same photo until a test says otherwise."""
    return MockedParts()


@pytest.fixture
def shadow_settings(tmp_path: Path) -> ShadowSettings:
    """A control file and a records folder of the test's own; one shadow thread."""
    return ShadowSettings(
        control_file=tmp_path / "edge-control.json", directory=tmp_path / "shadow", workers=1
    )


@pytest.fixture
def make_edge(parts: MockedParts, shadow_settings: ShadowSettings) -> MakeEdge:
    """Builds the edge in front of `parts`; keyword arguments change its shadow settings or upstreams."""

    def make(*, upstreams: dict[Any, str] | None = None, **changes: Any) -> ShadowedEdge:
        settings = EdgeSettings(
            phase=3,
            upstreams=UPSTREAMS if upstreams is None else upstreams,
            shadow=replace(shadow_settings, **changes),
        )
        return ShadowedEdge.create(settings, parts)

    return make


@pytest.fixture
def edge(make_edge: MakeEdge) -> ShadowedEdge:
    """The edge at phase 3 (photos served by photo-service), nothing shadowed yet."""
    return make_edge()


@pytest.fixture
def live_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The processes a live shadow test starts; each stopped at its end, the last started first."""
    with stopped_on_exit() as processes:
        yield processes


@pytest.fixture
def spawn_photo_candidate(
    backing: BackingServices,
    live_microservices: LiveMicroservices,
    live_processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> Callable[[Mapping[str, str]], str]:
    """Starts one more photo-service on the live stack's database and bucket, `settings` on top; its URL."""

    def spawn(settings: Mapping[str, str]) -> str:
        process, url = spawn_part(
            PartName.PHOTO_SERVICE,
            backing,
            tmp_path / "candidate.log",
            base={**live_microservices.environment, **settings},
            peers={PartName.USER_SERVICE: live_microservices.user_service_url},
            database_url=live_microservices.photo_database_url,
            bucket=live_microservices.bucket,
        )
        live_processes.append(process)
        return url

    return spawn


@pytest.fixture
def spawn_shadowed_edge(
    backing: BackingServices,
    live_microservices: LiveMicroservices,
    live_processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> Callable[[str], LiveShadowedEdge]:
    """Starts an edge in front of the live stack (phase 3) whose monolith is the candidate at `url`.

    The photos group is shadowed with the monolith from the start: the control file is
    written before the edge starts, so its front sends every photo read to its lane at once.
    """

    def spawn(candidate_url: str) -> LiveShadowedEdge:
        control_file, shadow_dir = tmp_path / "edge-control.json", tmp_path / "shadow"
        write_control(control_file, EdgeControl(Shadow(RouteGroupName.PHOTOS, PartName.MONOLITH)))
        process, url = spawn_part(
            PartName.EDGE,
            backing,
            tmp_path / "edge.log",
            base={
                **live_microservices.environment,
                EDGE_PHASE: "3",
                CONTROL_FILE_VARIABLE: str(control_file),
                SHADOW_DIR_VARIABLE: str(shadow_dir),
            },
            peers={
                PartName.USER_SERVICE: live_microservices.user_service_url,
                PartName.PHOTO_SERVICE: live_microservices.photo_service_url,
                PartName.WEB_UI: live_microservices.web_ui_url,
                # Phase 3 sends the monolith nothing: here it names the candidate only.
                PartName.MONOLITH: candidate_url,
            },
        )
        live_processes.append(process)
        return LiveShadowedEdge(url, control_file, shadow_dir)

    return spawn
