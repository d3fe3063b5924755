"""A strangler stack's edge starts routing by the phase it is started in, whatever its control file held.

The control file lives in the state folder and outlives the stack, so that a shadow survives
a restart. The phase a cutover or `snappy phase set` wrote there must not: a stack restarted
with `--phase 4` after a walk to phase 3 routed by phase 3 before this rule.
"""

from __future__ import annotations

from pathlib import Path

from snappy_devstack.strangler import route_by_the_start
from snappy_edge.control import EdgeControl, Shadow, read_control, write_control
from snappy_topology import PartName, RouteGroupName


def test_the_phase_and_any_freeze_left_in_the_control_file_go_and_the_shadow_stays(tmp_path: Path) -> None:
    control_file = tmp_path / "edge-control.json"
    shadow = Shadow(RouteGroupName.PHOTOS, PartName.PHOTO_SERVICE)
    write_control(control_file, EdgeControl(shadow=shadow, phase=3, freeze=frozenset({RouteGroupName.USERS})))

    route_by_the_start(control_file)

    assert read_control(control_file) == EdgeControl(shadow=shadow, phase=None, freeze=frozenset())
    assert read_control(control_file).phase_or(4) == 4


def test_without_a_control_file_none_is_written(tmp_path: Path) -> None:
    control_file = tmp_path / "edge-control.json"

    route_by_the_start(control_file)

    assert not control_file.exists()
