"""One scenario, run against any version of Snappy over HTTP, recorded for comparison.

The scenario walks every endpoint of the public contract, error paths included, as
three users would: sign up, log in, upload, page through photos, share, revoke, edit,
delete, and get each kind of refusal on the way. Each exchange is recorded after the
normalization declared in `snappy_edge.normalization`; two versions behave identically when
their recordings are equal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from snappy_edge.normalization import IdNumbering, normalize_body, normalize_headers
from tests.images import image_bytes, png_bomb

__all__ = ["Exchange", "Step", "run_scenario", "scenario_steps"]

PASSWORD = "parity-password"


@dataclass(frozen=True)
class Step:
    """One request of the scenario; `{name}` in the path is a value captured earlier."""

    name: str
    method: str
    path: str
    as_user: str | None = None
    json_body: Any = None
    raw_body: tuple[str, bytes] | None = None  # (content type, bytes)
    upload: dict[str, Any] | None = None  # form fields; "file" is bytes
    capture_id: str | None = None
    capture_token: str | None = None
    capture_cursor: str | None = None
    bearer: str | None = None  # a literal token instead of a user's


@dataclass(frozen=True)
class Exchange:
    """A normalized response to one step."""

    step: str
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class _Captured:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)


def scenario_steps(suffix: str) -> list[Step]:
    """The scenario, with usernames made unique by `suffix` (the same on both sides)."""
    alice, bob, carol = (f"{name}_{suffix}" for name in ("alice", "bob", "carol"))
    users = [alice, bob, carol]
    steps: list[Step] = []
    for user in users:
        steps.append(
            sign_up(
                f"sign up {user}",
                {"username": user, "password": PASSWORD, "display_name": user.split("_")[0].title()},
            )
        )
    steps += [
        sign_up(
            "sign up a taken username", {"username": alice, "password": PASSWORD, "display_name": "Again"}
        ),
        sign_up("sign up breaking every rule", {"username": "NO!", "password": "short", "display_name": ""}),
        sign_up(
            "sign up with an unknown field",
            {"username": f"dan_{suffix}", "password": PASSWORD, "display_name": "D", "admin": True},
        ),
        Step("sign up with broken JSON", "POST", "/api/v1/users", raw_body=("application/json", b"{nope")),
        Step(
            "sign up with a form body",
            "POST",
            "/api/v1/users",
            raw_body=("application/x-www-form-urlencoded", b"username=x"),
        ),
    ]
    for user in users:
        steps.append(log_in(f"log in {user}", {"username": user, "password": PASSWORD}, capture_token=user))
    steps += [
        log_in("log in with a wrong password", {"username": alice, "password": "wrong-password"}),
        log_in("log in without a password", {"username": alice}),
        Step("my profile", "GET", "/api/v1/users/me", as_user=alice),
        Step("my profile without a token", "GET", "/api/v1/users/me"),
        Step("my profile with a forged token", "GET", "/api/v1/users/me", bearer="e30.e30.AAAA"),
        Step("another user's profile", "GET", f"/api/v1/users/{bob}", as_user=alice),
        Step("an unknown user's profile", "GET", "/api/v1/users/nobody_here", as_user=alice),
        upload(
            "upload a public JPEG",
            alice,
            image_bytes("JPEG", (640, 480)),
            "sunset",
            caption="Sunset",
            visibility="public",
        ),
        upload(
            "upload a private PNG", alice, image_bytes("PNG", (300, 200)), "notes", caption="Private notes"
        ),
        upload("upload a WebP", bob, image_bytes("WEBP", (120, 90)), "bobs", caption="Bob's"),
        upload("upload a file that is not an image", alice, b"%PDF-1.7 not an image"),
        upload("upload a decompression bomb", alice, png_bomb()),
        upload("upload with a caption too long", alice, image_bytes(), caption="x" * 2001),
        Step("upload without a file", "POST", "/api/v1/photos", as_user=alice, upload={"caption": "no file"}),
        Step("upload as JSON", "POST", "/api/v1/photos", as_user=alice, json_body={"file": "aGk="}),
        Step("my photos, first page", "GET", "/api/v1/photos?limit=1", as_user=alice, capture_cursor="next"),
        Step("my photos, second page", "GET", "/api/v1/photos?limit=1&cursor={next}", as_user=alice),
        Step("my photos with a bad limit", "GET", "/api/v1/photos?limit=0", as_user=alice),
        Step("my photos with a forged cursor", "GET", "/api/v1/photos?cursor=forged", as_user=alice),
        Step("a public photo, seen by another user", "GET", "/api/v1/photos/{sunset}", as_user=bob),
        Step("a private photo, seen by a stranger", "GET", "/api/v1/photos/{notes}", as_user=bob),
        Step("a photo that does not exist", "GET", "/api/v1/photos/987654321", as_user=bob),
        Step("the bytes of a public photo", "GET", "/api/v1/photos/{sunset}/content", as_user=bob),
        Step("the thumbnail of a public photo", "GET", "/api/v1/photos/{sunset}/thumbnail", as_user=bob),
        Step(
            "the bytes of a private photo, for a stranger",
            "GET",
            "/api/v1/photos/{notes}/content",
            as_user=bob,
        ),
        edit_notes("change a caption", alice, {"caption": "Renamed"}),
        edit_notes("change someone else's caption", bob, {"caption": "Hijacked"}),
        edit_notes("change to an unknown visibility", alice, {"visibility": "friends"}),
        edit_notes("change nothing", alice, {}),
        share_notes("share with bob", alice, bob),
        share_notes("share with carol", alice, carol),
        share_notes("share with bob again", alice, bob),
        share_notes("share with nobody", alice, "nobody_here"),
        share_notes("share with myself", alice, alice),
        share_notes("share someone else's photo", bob, carol),
        Step("list shares", "GET", "/api/v1/photos/{notes}/shares", as_user=alice),
        Step("list shares, one per page", "GET", "/api/v1/photos/{notes}/shares?limit=1", as_user=alice),
        Step("list shares as someone it is shared with", "GET", "/api/v1/photos/{notes}/shares", as_user=bob),
        Step("the shared photo, seen by bob", "GET", "/api/v1/photos/{notes}", as_user=bob),
        Step("bob's feed", "GET", "/api/v1/feed", as_user=bob),
        Step("alice's feed", "GET", "/api/v1/feed", as_user=alice),
        Step("alice's public photos, seen by bob", "GET", f"/api/v1/users/{alice}/photos", as_user=bob),
        Step("an unknown user's photos", "GET", "/api/v1/users/nobody_here/photos", as_user=bob),
        Step("revoke bob's share", "DELETE", f"/api/v1/photos/{{notes}}/shares/{bob}", as_user=alice),
        Step("revoke it again", "DELETE", f"/api/v1/photos/{{notes}}/shares/{bob}", as_user=alice),
        Step("the photo after revocation, seen by bob", "GET", "/api/v1/photos/{notes}", as_user=bob),
        Step("bob's feed after revocation", "GET", "/api/v1/feed", as_user=bob),
        Step("carol's feed", "GET", "/api/v1/feed", as_user=carol),
        Step("delete someone else's photo", "DELETE", "/api/v1/photos/{notes}", as_user=bob),
        Step("delete my photo", "DELETE", "/api/v1/photos/{notes}", as_user=alice),
        Step("the deleted photo", "GET", "/api/v1/photos/{notes}", as_user=alice),
        Step("carol's feed after the delete", "GET", "/api/v1/feed", as_user=carol),
        Step("a method the path does not take", "PUT", "/api/v1/feed", as_user=alice),
    ]
    return steps


def sign_up(name: str, body: dict[str, Any]) -> Step:
    """A sign-up with this JSON body."""
    return Step(name, "POST", "/api/v1/users", json_body=body)


def log_in(name: str, body: dict[str, str], capture_token: str | None = None) -> Step:
    """A log-in with this JSON body, capturing the token for user `capture_token`."""
    return Step(name, "POST", "/api/v1/tokens", json_body=body, capture_token=capture_token)


def upload(name: str, as_user: str, file: bytes, capture_id: str | None = None, **fields: str) -> Step:
    """An upload of `file` with these form fields, capturing the new photo's id as `capture_id`."""
    return Step(
        name,
        "POST",
        "/api/v1/photos",
        as_user=as_user,
        upload={"file": file, **fields},
        capture_id=capture_id,
    )


def edit_notes(name: str, as_user: str, changes: dict[str, str]) -> Step:
    """A change of the "notes" photo's metadata."""
    return Step(name, "PATCH", "/api/v1/photos/{notes}", as_user=as_user, json_body=changes)


def share_notes(name: str, as_user: str, username: str) -> Step:
    """A share of the "notes" photo with `username`."""
    return Step(
        name, "POST", "/api/v1/photos/{notes}/shares", as_user=as_user, json_body={"username": username}
    )


def run_scenario(base_url: str, steps: list[Step]) -> list[Exchange]:
    """Send every step to `base_url`, in order, and record the normalized answers."""
    captured = _Captured()
    ids = IdNumbering()
    exchanges: list[Exchange] = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for step in steps:
            response = http.request(step.method, _path(step, captured), **_request_arguments(step, captured))
            exchanges.append(_record(step, response, ids))
            _capture(step, response, captured)
    return exchanges


def _path(step: Step, captured: _Captured) -> str:
    return step.path.format(**{**{k: str(v) for k, v in captured.ids.items()}, **captured.cursors})


def _request_arguments(step: Step, captured: _Captured) -> dict[str, Any]:
    headers: dict[str, str] = {}
    if step.as_user is not None:
        headers["Authorization"] = f"Bearer {captured.tokens[step.as_user]}"
    elif step.bearer is not None:
        headers["Authorization"] = f"Bearer {step.bearer}"
    arguments: dict[str, Any] = {"headers": headers}
    if step.json_body is not None:
        arguments["json"] = step.json_body
    elif step.raw_body is not None:
        headers["Content-Type"] = step.raw_body[0]
        arguments["content"] = step.raw_body[1]
    elif step.upload is not None:
        fields = {name: value for name, value in step.upload.items() if name != "file"}
        if "file" in step.upload:
            arguments["files"] = {"file": ("upload.bin", step.upload["file"], "application/octet-stream")}
            arguments["data"] = fields
        else:
            # A multipart body with text parts only: httpx needs a file to choose multipart.
            boundary = "parity-boundary"
            parts = "".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                for name, value in fields.items()
            )
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            arguments["content"] = (parts + f"--{boundary}--\r\n").encode()
    return arguments


def _record(step: Step, response: httpx.Response, ids: IdNumbering) -> Exchange:
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    body: Any
    if media_type.endswith("json"):
        body = normalize_body(json.loads(response.content), ids)
    elif response.content:
        # Images: the same bytes on both sides (uploads exactly as sent, identical thumbnails).
        body = {"sha256": hashlib.sha256(response.content).hexdigest(), "length": len(response.content)}
    else:
        body = None
    return Exchange(step.name, response.status_code, normalize_headers(dict(response.headers), ids), body)


def _capture(step: Step, response: httpx.Response, captured: _Captured) -> None:
    if step.capture_id and response.status_code == 201:
        captured.ids[step.capture_id] = response.json()["id"]
    if step.capture_token and response.status_code == 201:
        captured.tokens[step.capture_token] = response.json()["access_token"]
    if step.capture_cursor and response.status_code == 200:
        captured.cursors[step.capture_cursor] = response.json()["next_cursor"] or ""
