"""The routing table: for each route group and each phase, the component that serves it.

This one table drives the local edge router (`snappy_migration.edge`) and, later, the
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
from enum import StrEnum

__all__ = [
    "PHASES",
    "ROUTE_GROUPS",
    "Component",
    "RouteGroup",
    "RouteGroupName",
    "component_for",
    "is_internal",
    "route_group_for",
]


class Component(StrEnum):
    """A deployable that can serve requests."""

    MONOLITH = "monolith"
    USER_SERVICE = "user-service"
    PHOTO_SERVICE = "photo-service"
    WEB_UI = "web-ui"


class RouteGroupName(StrEnum):
    """Routes that move together."""

    USERS = "users and tokens"
    PHOTOS = "photos, shares, feed"
    PAGES = "web pages"


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

PHASES: dict[int, dict[RouteGroupName, Component]] = {
    0: {
        RouteGroupName.USERS: Component.MONOLITH,
        RouteGroupName.PHOTOS: Component.MONOLITH,
        RouteGroupName.PAGES: Component.MONOLITH,
    },
    1: {
        RouteGroupName.USERS: Component.USER_SERVICE,
        RouteGroupName.PHOTOS: Component.MONOLITH,
        RouteGroupName.PAGES: Component.MONOLITH,
    },
    2: {
        RouteGroupName.USERS: Component.USER_SERVICE,
        RouteGroupName.PHOTOS: Component.PHOTO_SERVICE,
        RouteGroupName.PAGES: Component.MONOLITH,
    },
    3: {
        RouteGroupName.USERS: Component.USER_SERVICE,
        RouteGroupName.PHOTOS: Component.PHOTO_SERVICE,
        RouteGroupName.PAGES: Component.WEB_UI,
    },
    4: {
        RouteGroupName.USERS: Component.USER_SERVICE,
        RouteGroupName.PHOTOS: Component.PHOTO_SERVICE,
        RouteGroupName.PAGES: Component.WEB_UI,
    },
}

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


def component_for(phase: int, path: str) -> Component:
    """The component that serves `path` in `phase`."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase}; phases are {sorted(PHASES)}")
    return PHASES[phase][route_group_for(path)]
