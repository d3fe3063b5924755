"""What the benchmark asks of a stack: the requests of its mix, and the file that hands a step its data.

Both versions get the same mix over the same shape of data (the same users, photos and
shares, prepared through the public API); only the ids, tokens and cookies differ, since
each stack issues its own. This module imports nothing but the standard library: the
Locust process reads it too.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "MIX",
    "SESSION_COOKIE",
    "SHARE",
    "UPLOAD",
    "Account",
    "Endpoint",
    "EndpointKind",
    "StepWorkload",
    "UploadImage",
    "read_workload",
    "schedule",
    "write_workload",
]

# The session cookie both versions set (the monolith and web-ui name it alike).
SESSION_COOKIE = "snappy_session"


class EndpointKind(StrEnum):
    """What a request of the mix stands for."""

    API_READ = "api read"
    PAGE = "page"
    WRITE = "write"


@dataclass(frozen=True)
class Endpoint:
    """One request of the mix, named by its route template so that Locust groups its figures."""

    method: str
    route: str
    # How often it is sent, relative to the other weights of the mix.
    weight: int
    kind: EndpointKind

    @property
    def name(self) -> str:
        """How the figures name it: method and route template, e.g. `GET /api/v1/photos/{id}`."""
        return f"{self.method} {self.route}"


# Read-heavy: 39 of every 41 requests read (8 of them pages), 2 write.
FEED = Endpoint("GET", "/api/v1/feed", 6, EndpointKind.API_READ)
MY_PHOTOS = Endpoint("GET", "/api/v1/photos", 5, EndpointKind.API_READ)
PHOTO = Endpoint("GET", "/api/v1/photos/{id}", 6, EndpointKind.API_READ)
CONTENT = Endpoint("GET", "/api/v1/photos/{id}/content", 3, EndpointKind.API_READ)
THUMBNAIL = Endpoint("GET", "/api/v1/photos/{id}/thumbnail", 5, EndpointKind.API_READ)
PROFILE = Endpoint("GET", "/api/v1/users/{username}", 3, EndpointKind.API_READ)
PUBLIC_PHOTOS = Endpoint("GET", "/api/v1/users/{username}/photos", 3, EndpointKind.API_READ)
FEED_PAGE = Endpoint("GET", "/", 3, EndpointKind.PAGE)
MY_PHOTOS_PAGE = Endpoint("GET", "/photos", 2, EndpointKind.PAGE)
PHOTO_PAGE = Endpoint("GET", "/photos/{id}", 2, EndpointKind.PAGE)
PROFILE_PAGE = Endpoint("GET", "/users/{username}", 1, EndpointKind.PAGE)
UPLOAD = Endpoint("POST", "/api/v1/photos", 1, EndpointKind.WRITE)
# Sent right after each upload, sharing the new photo: as often as uploads, and never a
# second time for one photo and user (which would be a 409, not a figure).
SHARE = Endpoint("POST", "/api/v1/photos/{id}/shares", UPLOAD.weight, EndpointKind.WRITE)

MIX: tuple[Endpoint, ...] = (
    FEED,
    MY_PHOTOS,
    PHOTO,
    CONTENT,
    THUMBNAIL,
    PROFILE,
    PUBLIC_PHOTOS,
    FEED_PAGE,
    MY_PHOTOS_PAGE,
    PHOTO_PAGE,
    PROFILE_PAGE,
    UPLOAD,
    SHARE,
)


def schedule() -> tuple[Endpoint, ...]:
    """One cycle of the mix, each request as often as its weight, spread evenly (smooth weighted round-robin).

    Every visitor walks this cycle (from its own starting point) instead of drawing at
    random, so both versions get the same sequence of requests, and a short step still
    sends each of them. The share is not in it: it follows each upload.
    """
    scheduled = [endpoint for endpoint in MIX if endpoint is not SHARE]
    total = sum(endpoint.weight for endpoint in scheduled)
    credit = dict.fromkeys(scheduled, 0)
    cycle = []
    for _ in range(total):
        for endpoint in scheduled:
            credit[endpoint] += endpoint.weight
        chosen = max(scheduled, key=lambda endpoint: credit[endpoint])
        credit[chosen] -= total
        cycle.append(chosen)
    return tuple(cycle)


@dataclass(frozen=True)
class Account:
    """One prepared user as a step sees it: credentials, and the photos and people it may look at."""

    username: str
    token: str
    # The cookies of a log-in through the page form (the session cookie among them).
    cookies: dict[str, str]
    own_photo_ids: tuple[int, ...]
    # Its own photos, those shared with it and the others' public ones.
    visible_photo_ids: tuple[int, ...]
    # Whose profile and public photos it looks at: every prepared user.
    profiles: tuple[str, ...]
    # Whom its new uploads are shared with.
    share_with: str


@dataclass(frozen=True)
class UploadImage:
    """A small real picture the write requests upload."""

    path: str
    filename: str
    content_type: str


@dataclass(frozen=True)
class StepWorkload:
    """Everything one step's Locust process needs: where to send what, as whom."""

    version: str
    base_url: str
    # Seeds each visitor's choice of photos and profiles, so both versions get the same ones.
    seed: int
    accounts: tuple[Account, ...]
    images: tuple[UploadImage, ...]


def write_workload(path: Path, workload: StepWorkload) -> None:
    """Write `workload` to `path`, readable by its owner only (it holds tokens and session cookies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(asdict(workload), file, indent=2)


def read_workload(path: Path) -> StepWorkload:
    """The workload written to `path` by `write_workload`."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    accounts = tuple(
        Account(
            username=str(account["username"]),
            token=str(account["token"]),
            cookies={str(name): str(value) for name, value in account["cookies"].items()},
            own_photo_ids=tuple(int(photo_id) for photo_id in account["own_photo_ids"]),
            visible_photo_ids=tuple(int(photo_id) for photo_id in account["visible_photo_ids"]),
            profiles=tuple(str(username) for username in account["profiles"]),
            share_with=str(account["share_with"]),
        )
        for account in document["accounts"]
    )
    images = tuple(
        UploadImage(
            path=str(image["path"]), filename=str(image["filename"]), content_type=str(image["content_type"])
        )
        for image in document["images"]
    )
    return StepWorkload(
        version=str(document["version"]),
        base_url=str(document["base_url"]),
        seed=int(document["seed"]),
        accounts=accounts,
        images=images,
    )
