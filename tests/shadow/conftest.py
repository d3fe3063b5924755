"""Fixtures for the shadow traffic's tests: mocked parts and the edge's app in front of them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from snappy_edge.app import EdgeSettings
from snappy_edge.shadow import ShadowSettings
from tests.shadow.mocked_parts import UPSTREAMS, MakeEdge, MockedParts, ShadowedEdge


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
