"""The data a benchmark reads, put in place through the public API, the same on both versions.

Before anything is measured, each stack gets the same users (named with a random suffix,
so runs never collide), the same small pictures uploaded in the same order, half of them
public, and the same shares. Before the first step every user logs in: through the API
for a bearer token and through the page form for a session cookie. They log in again
before a step their token would not outlast, so no credential expires during a long run.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from snappy_devstack.bench.targets import Target
from snappy_devstack.bench.workload import SESSION_COOKIE, Account, StepWorkload, UploadImage
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.sample_images import sample_image
from snappy_devstack.seed import problem_detail

__all__ = [
    "BENCH_USERS",
    "PHOTOS_PER_USER",
    "BenchPlan",
    "Credentials",
    "PreparationError",
    "PreparedStack",
    "bench_images",
    "log_in_everyone",
    "new_plan",
    "outlast",
    "prepare_stack",
    "step_workload",
]

BENCH_USERS = 4
PHOTOS_PER_USER = 6
# Small pictures keep uploads about the request path, not about resizing megapixels.
_IMAGE_BOX = (480, 480)
_IMAGE_COUNT = 6
_API = "/api/v1"
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class PreparationError(DevstackError):
    """A stack refused or failed a request of the preparation."""


@dataclass(frozen=True)
class BenchPlan:
    """What every stack gets: the same users, password and pictures."""

    usernames: tuple[str, ...]
    password: str
    images: tuple[UploadImage, ...]


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo the preparation uploaded: its owner, id on that stack, and who else may see it."""

    owner: str
    photo_id: int
    public: bool
    shared_with: tuple[str, ...]


@dataclass(frozen=True)
class PreparedStack:
    """The prepared data on one stack."""

    target: Target
    plan: BenchPlan
    photos: tuple[PreparedPhoto, ...]

    @property
    def shares(self) -> int:
        """How many shares the preparation made."""
        return sum(len(photo.shared_with) for photo in self.photos)


@dataclass(frozen=True)
class Credentials:
    """One user's log-ins: a bearer token, and the cookies of a page log-in made with it."""

    token: str
    cookies: dict[str, str]
    # When the token expires (its `exp`, seconds since the epoch); the page session, made at
    # the same moment with the same lifetime, expires with it. None if the token says not.
    expires_at: float | None


def outlast(credentials: Mapping[str, Credentials], seconds: float) -> bool:
    """Whether every one of `credentials` stays valid for `seconds` more."""
    deadline = time.time() + seconds
    return all(item.expires_at is not None and item.expires_at > deadline for item in credentials.values())


def new_plan(image_folder: Path) -> BenchPlan:
    """Users with a random suffix, a random password, and the pictures written to `image_folder`."""
    suffix = secrets.token_hex(4)
    return BenchPlan(
        usernames=tuple(f"bench_{suffix}_{index}" for index in range(BENCH_USERS)),
        password=secrets.token_urlsafe(18),
        images=bench_images(image_folder),
    )


def bench_images(folder: Path) -> tuple[UploadImage, ...]:
    """Small real pictures (the sample landscapes, scaled down), JPEG and PNG, written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for number in range(_IMAGE_COUNT):
        sample = sample_image(number)
        picture = Image.open(io.BytesIO(sample.content))
        picture.thumbnail(_IMAGE_BOX)
        buffer = io.BytesIO()
        if sample.content_type == "image/png":
            picture.save(buffer, format="PNG", optimize=True)
        else:
            picture.save(buffer, format="JPEG", quality=85)
        path = folder / sample.filename
        path.write_bytes(buffer.getvalue())
        images.append(UploadImage(path=str(path), filename=sample.filename, content_type=sample.content_type))
    return tuple(images)


def prepare_stack(
    target: Target, plan: BenchPlan, *, progress: Callable[[str], None] = lambda _message: None
) -> PreparedStack:
    """Sign up the plan's users on `target`, upload their photos and share some, in a fixed order.

    User i uploads PHOTOS_PER_USER pictures, public and private in turn. Every private one
    is shared with user i+1, and the first public one with user i+2 too, so every feed has
    entries and every user sees photos of all three kinds (own, shared, public).
    """
    photos: list[PreparedPhoto] = []
    with _Api(target) as api:
        tokens = {}
        for username in plan.usernames:
            api.sign_up(username, plan.password)
            tokens[username] = api.log_in(username, plan.password)
        count = len(plan.usernames)
        for index, owner in enumerate(plan.usernames):
            for number in range(PHOTOS_PER_USER):
                public = number % 2 == 0
                image = plan.images[(index * PHOTOS_PER_USER + number) % len(plan.images)]
                photo_id = api.upload(tokens[owner], image, caption=f"bench {index}.{number}", public=public)
                recipients: list[str] = []
                if count > 1 and not public:
                    recipients.append(plan.usernames[(index + 1) % count])
                if count > 2 and number == 0:
                    recipients.append(plan.usernames[(index + 2) % count])
                for recipient in recipients:
                    api.share(tokens[owner], photo_id, recipient)
                photos.append(PreparedPhoto(owner, photo_id, public, tuple(recipients)))
    prepared = PreparedStack(target, plan, tuple(photos))
    progress(
        f"prepared the {target.version} at {target.url}: {len(plan.usernames)} users,"
        f" {len(photos)} photos, {prepared.shares} shares"
    )
    return prepared


def log_in_everyone(prepared: PreparedStack) -> dict[str, Credentials]:
    """A fresh token and page session for every prepared user."""
    credentials = {}
    with _Api(prepared.target) as api:
        for username in prepared.plan.usernames:
            token = api.log_in(username, prepared.plan.password)
            cookies = api.log_in_on_the_page(username, prepared.plan.password)
            credentials[username] = Credentials(token=token, cookies=cookies, expires_at=_expiry(token))
    return credentials


def step_workload(prepared: PreparedStack, credentials: Mapping[str, Credentials], seed: int) -> StepWorkload:
    """What one step's Locust process gets: each user's credentials and what it may look at."""
    usernames = prepared.plan.usernames
    accounts = []
    for index, username in enumerate(usernames):
        own = tuple(photo.photo_id for photo in prepared.photos if photo.owner == username)
        visible = tuple(
            photo.photo_id
            for photo in prepared.photos
            if photo.owner == username or photo.public or username in photo.shared_with
        )
        accounts.append(
            Account(
                username=username,
                token=credentials[username].token,
                cookies=credentials[username].cookies,
                own_photo_ids=own,
                visible_photo_ids=visible,
                profiles=usernames,
                share_with=usernames[(index + 1) % len(usernames)],
            )
        )
    return StepWorkload(
        version=prepared.target.version,
        base_url=prepared.target.url,
        seed=seed,
        accounts=tuple(accounts),
        images=prepared.plan.images,
    )


def _expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without checking its signature (only to know when to log in again)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class _Api:
    """The calls of Snappy's public API and pages that preparing a benchmark makes."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._client = httpx.Client(base_url=target.url, timeout=_TIMEOUT)

    def __enter__(self) -> _Api:
        return self

    def __exit__(self, *_exception: object) -> None:
        self._client.close()

    def sign_up(self, username: str, password: str) -> None:
        body = {"username": username, "password": password, "display_name": username}
        self._expect(self._call("POST", f"{_API}/users", json=body), 201)

    def log_in(self, username: str, password: str) -> str:
        response = self._call("POST", f"{_API}/tokens", json={"username": username, "password": password})
        self._expect(response, 201)
        return str(self._json(response)["access_token"])

    def upload(self, token: str, image: UploadImage, *, caption: str, public: bool) -> int:
        content = Path(image.path).read_bytes()
        response = self._call(
            "POST",
            f"{_API}/photos",
            token=token,
            files={"file": (image.filename, content, image.content_type)},
            data={"caption": caption, "visibility": "public" if public else "private"},
        )
        self._expect(response, 201)
        return int(self._json(response)["id"])

    def share(self, token: str, photo_id: int, username: str) -> None:
        path = f"{_API}/photos/{photo_id}/shares"
        response = self._call("POST", path, token=token, json={"username": username})
        self._expect(response, 201)

    def log_in_on_the_page(self, username: str, password: str) -> dict[str, str]:
        """Log in through the login form, as a browser does; the cookies it leaves."""
        with httpx.Client(base_url=self._target.url, timeout=_TIMEOUT) as browser:
            form = self._send(browser, "GET", "/login")
            self._expect(form, 200)
            match = _CSRF_FIELD.search(form.text)
            if match is None:
                raise PreparationError(f"the login page of the {self._target.version} has no CSRF token")
            data = {"username": username, "password": password, "csrf_token": match.group(1)}
            self._expect(self._send(browser, "POST", "/login", data=data), 302)
            cookies = {name: value for name, value in browser.cookies.items() if value}
        if SESSION_COOKIE not in cookies:
            raise PreparationError(
                f"a log-in on the {self._target.version}'s page set no {SESSION_COOKIE} cookie"
            )
        return cookies

    def _call(self, method: str, path: str, *, token: str | None = None, **options: Any) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self._send(self._client, method, path, headers=headers, **options)

    def _send(self, client: httpx.Client, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise PreparationError(
                f"cannot reach the {self._target.version} at {self._target.url}: {one_line(error)}"
            ) from error

    def _expect(self, response: httpx.Response, status: int) -> None:
        if response.status_code == status:
            return
        message = (
            f"preparing the {self._target.version}: {response.request.method} {response.request.url.path}"
            f" answered {response.status_code}, not {status}"
        )
        detail = problem_detail(response)
        raise PreparationError(f"{message}: {detail}" if detail else message)

    def _json(self, response: httpx.Response) -> Mapping[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            raise PreparationError(
                f"{response.request.url.path} on the {self._target.version} answered no JSON object"
            )
        return body
