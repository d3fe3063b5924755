"""The routing table: every route group, in every phase, goes to the right component."""

from __future__ import annotations

import pytest

from snappy_edge.routing import PHASES, component_for, is_internal, route_group_for
from snappy_topology import PartName, RouteGroupName, parts_serving

PATHS_OF_GROUP = {
    RouteGroupName.USERS: [
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/users/alice",
        "/api/v1/tokens",
        "/.well-known/jwks.json",
    ],
    RouteGroupName.PHOTOS: [
        "/api/v1/users/alice/photos",
        "/api/v1/photos",
        "/api/v1/photos/12/shares/bob",
        "/api/v1/feed",
    ],
    # Pages, and a path that only starts like the API's.
    RouteGroupName.PAGES: ["/", "/photos/12", "/users/alice", "/api/v1/photosynthesis"],
}


@pytest.mark.parametrize(
    ("path", "group"), [(path, group) for group, paths in PATHS_OF_GROUP.items() for path in paths]
)
def test_each_path_belongs_to_one_route_group(path: str, group: RouteGroupName) -> None:
    assert route_group_for(path) is group


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_every_cell_names_a_part_the_topology_says_serves_that_group(phase: int) -> None:
    for group, component in PHASES[phase].items():
        assert component in parts_serving(group), (phase, group, component)


def test_phase_0_is_all_monolith_and_phase_3_has_no_monolith() -> None:
    assert set(PHASES[0].values()) == {PartName.MONOLITH}
    assert PartName.MONOLITH not in PHASES[3].values()


@pytest.mark.parametrize(
    ("phase", "path", "component"),
    [
        (1, "/api/v1/tokens", PartName.USER_SERVICE),
        (1, "/api/v1/photos", PartName.MONOLITH),
        (2, "/api/v1/users/alice/photos", PartName.PHOTO_SERVICE),
        (2, "/", PartName.MONOLITH),
        (3, "/", PartName.WEB_UI),
    ],
)
def test_routes_move_one_group_per_phase(phase: int, path: str, component: PartName) -> None:
    assert component_for(phase, path) is component


def test_each_phase_moves_at_most_one_group_forward() -> None:
    for phase in range(1, max(PHASES) + 1):
        moved = [group for group in RouteGroupName if PHASES[phase][group] != PHASES[phase - 1][group]]
        assert len(moved) <= 1, (phase, moved)


@pytest.mark.parametrize("path", ["/internal", "/internal/v1/users/lookup"])
def test_internal_paths_are_recognised(path: str) -> None:
    assert is_internal(path)


def test_an_unknown_phase_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown phase 9"):
        component_for(9, "/")
