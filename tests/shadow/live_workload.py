"""A workload of reads for a live shadowed edge: an album written once, then every kind of read of it.

The album is written through the stack's own edge (writes are never shadowed); the reads
go to the shadowed edge, each with a request id of its own, so that a test can say which
reads the shadow compared and which it found different.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from snappy_edge.routing import route_group_for
from snappy_topology import RouteGroupName
from tests.http_client import HttpTestClient
from tests.images import image_bytes
from tests.support.api_client import ApiClient

__all__ = ["Album", "LiveShadowedEdge", "Read", "photo_reads", "recorded", "send", "write_album"]

# Not a performance bound: how long the shadow may take to compare what was sent.
_RECORDS_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class LiveShadowedEdge:
    """An edge as deployed, shadowing a group: where it answers, where it records comparisons."""

    url: str
    control_file: Path
    shadow_dir: Path


@dataclass(frozen=True)
class Album:
    """Two users and three photos of the first: two public, one private and shared with the second."""

    owner: str
    owner_token: str
    viewer: str
    viewer_token: str
    public_ids: tuple[int, int]
    private_id: int
    # The cursor of the owner's photos after a first page of two.
    second_page_cursor: str


@dataclass(frozen=True)
class Read:
    """One request of the workload."""

    name: str
    method: str
    path: str
    token: str | None

    @property
    def shadowed(self) -> bool:
        """Whether the photos group, the one shadowed, holds it."""
        return route_group_for(self.path.split("?", 1)[0]) == RouteGroupName.PHOTOS


def write_album(base_url: str) -> Album:
    """Sign up two users, upload three photos, share one; through the API at `base_url`."""
    api = ApiClient(HttpTestClient(base_url))
    suffix = secrets.token_hex(4)
    owner, viewer = f"shadow_owner_{suffix}", f"shadow_viewer_{suffix}"
    owner_token, viewer_token = api.user_with_token(owner), api.user_with_token(viewer)
    first, second = (
        api.upload(
            owner_token, image_bytes("JPEG", (80, 60)), caption=caption, visibility="public"
        ).get_json()["id"]
        for caption in ("Harbour", "Lighthouse")
    )
    private = api.upload(owner_token, image_bytes("PNG", (40, 30)), caption="Notes").get_json()["id"]
    shared = api.post(f"/api/v1/photos/{private}/shares", owner_token, json={"username": viewer})
    assert shared.status_code == 201, shared.get_data(as_text=True)
    first_page = api.get("/api/v1/photos?limit=2", owner_token).get_json()
    return Album(
        owner, owner_token, viewer, viewer_token, (first, second), private, first_page["next_cursor"]
    )


def photo_reads(album: Album) -> list[Read]:
    """Every kind of read of the album, refusals included, and one read of another group."""
    public, private = album.public_ids[0], album.private_id
    owner, viewer = album.owner_token, album.viewer_token
    return [
        Read("the owner's photos, one default page", "GET", "/api/v1/photos", owner),
        Read("the owner's photos, two a page", "GET", "/api/v1/photos?limit=2", owner),
        Read(
            "the owner's photos, the second page",
            "GET",
            f"/api/v1/photos?limit=2&cursor={album.second_page_cursor}",
            owner,
        ),
        *(
            Read(f"photo {photo}", "GET", f"/api/v1/photos/{photo}", owner)
            for photo in (*album.public_ids, private)
        ),
        Read("a public photo's bytes", "GET", f"/api/v1/photos/{public}/content", viewer),
        Read("a public photo's bytes, headers only", "HEAD", f"/api/v1/photos/{public}/content", viewer),
        Read("a public photo's thumbnail", "GET", f"/api/v1/photos/{public}/thumbnail", viewer),
        Read("a shared photo's shares", "GET", f"/api/v1/photos/{private}/shares", owner),
        Read("the viewer's feed", "GET", "/api/v1/feed", viewer),
        Read("the owner's public photos", "GET", f"/api/v1/users/{album.owner}/photos", viewer),
        Read("a photo that does not exist", "GET", "/api/v1/photos/987654321", viewer),
        Read("photos without a token", "GET", "/api/v1/photos", None),
        Read("the viewer's profile (another group)", "GET", "/api/v1/users/me", viewer),
    ]


def send(base_url: str, reads: list[Read]) -> dict[str, Read]:
    """Send each read to `base_url`; the reads by the request id each was sent with."""
    sent: dict[str, Read] = {}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for number, read in enumerate(reads, start=1):
            request_id = f"shadow-read-{number}-{secrets.token_hex(3)}"
            headers = {"X-Request-ID": request_id}
            if read.token is not None:
                headers["Authorization"] = f"Bearer {read.token}"
            response = http.request(read.method, read.path, headers=headers)
            assert response.status_code < 500, f"{read.name}: {response.status_code} {response.text}"
            sent[request_id] = read
    return sent


def recorded(path: Path, count: int) -> list[dict[str, Any]]:
    """The records in `path` once there are `count` of them; fails when there are more, or fewer in time."""
    deadline = time.monotonic() + _RECORDS_WAIT_SECONDS
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if len(records) >= count:
            break
        time.sleep(0.1)
    assert len(records) == count, f"{len(records)} records in {path}, {count} expected"
    return records
