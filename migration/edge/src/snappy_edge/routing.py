"""The routing table: for each route group and each phase, the component that serves it.

This one table drives the local edge router (`snappy_edge.app`) and, later, the
Kubernetes routes of each phase. Moving a route group to a new component is a change of
one cell here; moving it back is the way back.

| phase | users and tokens | photos, shares, feed | web pages |
|-------|------------------|----------------------|-----------|
| 0     | monolith         | monolith             | monolith  |
| 1     | user-service     | monolith             | monolith  |
| 2     | user-service     | photo-service        | monolith  |
| 3     | user-service     | photo-service        | web-ui    |
| 4     | user-service     | photo-service        | web-ui    | (the monolith is retired)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from snappy_topology import PartName, RouteGroupName

__all__ = [
    "PAGE_WRITES",
    "PHASES",
    "ROUTE_GROUPS",
    "SAFE_METHODS",
    "RouteGroup",
    "RouteGroupName",
    "component_for",
    "groups_written_by",
    "is_internal",
    "route_group_for",
]


@dataclass(frozen=True)
class RouteGroup:
    """A named set of path patterns; the first group whose pattern matches a path wins."""

    name: RouteGroupName
    patterns: tuple[re.Pattern[str], ...]

    def matches(self, path: str) -> bool:
        """True when `path` belongs to this group."""
        return any(pattern.match(path) for pattern in self.patterns)


# Order matters: a user's photos are photo data, even though the path starts with /users.
ROUTE_GROUPS: tuple[RouteGroup, ...] = (
    RouteGroup(
        RouteGroupName.PHOTOS,
        (
            re.compile(r"^/api/v1/users/[^/]+/photos/?$"),
            re.compile(r"^/api/v1/photos(/|$)"),
            re.compile(r"^/api/v1/feed/?$"),
        ),
    ),
    RouteGroup(
        RouteGroupName.USERS,
        (
            re.compile(r"^/api/v1/users(/|$)"),
            re.compile(r"^/api/v1/tokens(/|$)"),
            re.compile(r"^/\.well-known/jwks\.json$"),
        ),
    ),
    RouteGroup(RouteGroupName.PAGES, (re.compile(r"^/"),)),
)

# Every cell names a part that serves the group (snappy_topology.PARTS); a test holds the table to it.
PHASES: dict[int, dict[RouteGroupName, PartName]] = {
    0: {
        RouteGroupName.USERS: PartName.MONOLITH,
        RouteGroupName.PHOTOS: PartName.MONOLITH,
        RouteGroupName.PAGES: PartName.MONOLITH,
    },
    1: {
        RouteGroupName.USERS: PartName.USER_SERVICE,
        RouteGroupName.PHOTOS: PartName.MONOLITH,
        RouteGroupName.PAGES: PartName.MONOLITH,
    },
    2: {
        RouteGroupName.USERS: PartName.USER_SERVICE,
        RouteGroupName.PHOTOS: PartName.PHOTO_SERVICE,
        RouteGroupName.PAGES: PartName.MONOLITH,
    },
    3: {
        RouteGroupName.USERS: PartName.USER_SERVICE,
        RouteGroupName.PHOTOS: PartName.PHOTO_SERVICE,
        RouteGroupName.PAGES: PartName.WEB_UI,
    },
    4: {
        RouteGroupName.USERS: PartName.USER_SERVICE,
        RouteGroupName.PHOTOS: PartName.PHOTO_SERVICE,
        RouteGroupName.PAGES: PartName.WEB_UI,
    },
}

# The page forms whose POST writes a route group's data, though the pages group serves
# them: a write freeze on the group (a cutover) holds them too. A test holds this list to
# the form routes of both versions' pages (the monolith's and web-ui's).
PAGE_WRITES: dict[RouteGroupName, tuple[re.Pattern[str], ...]] = {
    # Sign-up writes a user; log-in its throttle; log-out a revoked token.
    RouteGroupName.USERS: (re.compile(r"^/(?:signup|login|logout)$"),),
    RouteGroupName.PHOTOS: (
        re.compile(r"^/upload$"),
        re.compile(r"^/photos/[^/]+/(?:edit|delete|shares|shares/[^/]+/revoke)$"),
    ),
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Service-to-service endpoints: never reachable through the public edge.
_INTERNAL_PATH = re.compile(r"^/internal(/|$)")


def is_internal(path: str) -> bool:
    """True for paths only other services may call."""
    return _INTERNAL_PATH.match(path) is not None


def route_group_for(path: str) -> RouteGroupName:
    """The route group a request path belongs to."""
    for group in ROUTE_GROUPS:
        if group.matches(path):
            return group.name
    raise ValueError(f"no route group matches {path!r}")  # unreachable: PAGES matches every path


def groups_written_by(method: str, path: str) -> frozenset[RouteGroupName]:
    """The route groups whose data a request may write: none for a safe method.

    A write goes to its own group's part; a page form's write also touches the data of the
    group `PAGE_WRITES` names.
    """
    if method in SAFE_METHODS:
        return frozenset()
    group = route_group_for(path)
    written = {group}
    if group == RouteGroupName.PAGES:
        written |= {
            data_group for data_group, forms in PAGE_WRITES.items() if any(f.match(path) for f in forms)
        }
    return frozenset(written)


def component_for(phase: int, path: str) -> PartName:
    """The component that serves `path` in `phase`."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase}; phases are {sorted(PHASES)}")
    return PHASES[phase][route_group_for(path)]
