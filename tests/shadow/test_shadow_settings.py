"""The shadow's settings, read with the edge's: their variables, their defaults, what is refused.

How any variable is read (blank is unset, parse errors) is plumbing's, tested once in
tests/plumbing/test_config.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from snappy_edge.app import EdgeSettings
from snappy_edge.shadow import ShadowSettings
from snappy_plumbing.config import ConfigurationError
from snappy_topology import PartName
from tests.support.settings import Reads, Refuses, SettingsCase

REQUIRED = {"SNAPPY_PHOTO_SERVICE_URL": "http://photo-service:8000"}
# The edge's settings from REQUIRED alone: nothing shadowed, nothing recorded.
DEFAULT = EdgeSettings(upstreams={PartName.PHOTO_SERVICE: "http://photo-service:8000"})

SETTINGS: list[SettingsCase] = [
    Reads("without its variables, the shadow has no control file and writes no record", {}, DEFAULT),
    Reads(
        "its own settings are read from their variables",
        {
            "SNAPPY_EDGE_CONTROL_FILE": "/run/snappy/edge-control.json",
            "SNAPPY_EDGE_SHADOW_DIR": "/var/lib/snappy/shadow",
            "SNAPPY_EDGE_SHADOW_TIMEOUT_SECONDS": "0.5",
            "SNAPPY_EDGE_SHADOW_QUEUE_SIZE": "10",
            "SNAPPY_EDGE_SHADOW_WORKERS": "4",
            "SNAPPY_EDGE_SHADOW_BODY_CAP_BYTES": "1024",
        },
        EdgeSettings(
            upstreams=DEFAULT.upstreams,
            shadow=ShadowSettings(
                control_file=Path("/run/snappy/edge-control.json"),
                directory=Path("/var/lib/snappy/shadow"),
                timeout_seconds=0.5,
                queue_size=10,
                workers=4,
                body_cap_bytes=1024,
            ),
        ),
    ),
    Refuses(
        {"SNAPPY_EDGE_SHADOW_TIMEOUT_SECONDS": "0"}, "SNAPPY_EDGE_SHADOW_TIMEOUT_SECONDS must be above 0"
    ),
    Refuses({"SNAPPY_EDGE_SHADOW_QUEUE_SIZE": "0"}, "SNAPPY_EDGE_SHADOW_QUEUE_SIZE must be at least 1"),
    Refuses({"SNAPPY_EDGE_SHADOW_WORKERS": "many"}, "SNAPPY_EDGE_SHADOW_WORKERS must be a whole number"),
    Refuses(
        {"SNAPPY_EDGE_SHADOW_BODY_CAP_BYTES": "-1"}, "SNAPPY_EDGE_SHADOW_BODY_CAP_BYTES must be at least 1"
    ),
]


@pytest.mark.parametrize("case", SETTINGS, ids=lambda case: case.summary)
def test_settings(case: SettingsCase, tmp_path: Path) -> None:
    case.check(EdgeSettings.from_environ, REQUIRED, ConfigurationError, tmp_path)


def test_the_defaults_keep_a_comparison_cheap() -> None:
    shadow = DEFAULT.shadow

    # Two threads, a queue of 64 and 256 KiB kept per body: at most 32 MiB held for comparisons.
    assert (shadow.workers, shadow.queue_size, shadow.body_cap_bytes) == (2, 64, 256 * 1024)
    assert shadow.queue_size * 2 * shadow.body_cap_bytes <= 32 * 1024 * 1024
    # Well below the edge's own read timeout: a candidate never holds a thread for long.
    assert shadow.timeout_seconds < DEFAULT.read_timeout_seconds
