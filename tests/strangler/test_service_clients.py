"""How the monolith reads the services' answers once they own its data: refusals, binding, outages.

The services are scripted here (httpx.MockTransport): what is under test is how the
monolith turns each answer into its own error or value, including answers off the
contract and services that do not answer. The live stacks in test_strangler_phases.py
show the same clients against the real services.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from snappy_monolith.config import S3Settings, Settings
from snappy_monolith.errors import (
    AuthenticationRequired,
    IdempotencyKeyInUse,
    InvalidCredentials,
    NotFound,
    ServiceUnavailable,
    TooManyAttempts,
    UsernameTaken,
    UserNotFound,
    ValidationFailed,
)
from snappy_monolith.photo_catalog import RemotePhotos
from snappy_monolith.tokens import TokenClaims, microseconds_since_epoch
from snappy_monolith.user_directory import RemoteUsers

_CREATED = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
_ACCOUNT = {"id": 7, "username": "dana", "display_name": "Dana", "created_at": "2026-11-30T12:00:00.123456Z"}
_PROBLEMS = "https://snappy.example/problems/"

Handler = Callable[[httpx.Request], httpx.Response]


def _settings() -> Settings:
    return Settings(
        database_url="postgresql+psycopg://unused/unused",
        s3=S3Settings(bucket="unused"),
        user_service_url="http://user-service.test",
        photo_service_url="http://photo-service.test",
    )


def _users(handler: Handler) -> RemoteUsers:
    return RemoteUsers(_settings(), transport=httpx.MockTransport(handler))


def _photos(users: Handler, photos: Handler) -> RemotePhotos:
    return RemotePhotos(_settings(), _users(users), transport=httpx.MockTransport(photos))


def _problem(status: int, slug: str, **extra: object) -> httpx.Response:
    body = {"type": _PROBLEMS + slug, "title": slug, "status": status, "detail": f"detail of {slug}", **extra}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


def _field(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message}


def _claims(user_id: int = 7, username: str = "dana", created_at: datetime = _CREATED) -> TokenClaims:
    return TokenClaims(
        user_id=user_id,
        username=username,
        user_created_at=microseconds_since_epoch(created_at),
        token_id="jti",
        expires_at=2_000_000_000,
    )


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_sign_up_returns_the_account_user_service_created() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=_ACCOUNT)

    account = _users(handler).sign_up("dana", "correct-horse", "Dana")
    assert (account.id, account.username, account.display_name, account.created_at) == (
        7,
        "dana",
        "Dana",
        _CREATED,
    )
    assert seen[0].url.path == "/api/v1/users"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_problem(409, "username-taken"), UsernameTaken),
        (
            _problem(422, "validation-failed", errors=[{"field": "password", "message": "too short"}]),
            ValidationFailed,
        ),
        (_problem(500, "internal-error"), ServiceUnavailable),
        (httpx.Response(201, json={"id": "seven"}), ServiceUnavailable),
        (httpx.Response(201, text="not json"), ServiceUnavailable),
    ],
    ids=["taken", "invalid", "server-error", "off-contract", "not-json"],
)
def test_sign_up_refusals_become_the_monoliths_errors(answer: httpx.Response, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        _users(lambda _request: answer).sign_up("dana", "x", "Dana")
    if isinstance(raised.value, ValidationFailed):
        assert [(item.field, item.message) for item in raised.value.errors] == [("password", "too short")]


def test_log_in_forwards_the_visitors_address_and_maps_refusals() -> None:
    addresses: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        addresses.append(request.headers.get("X-Forwarded-For"))
        return httpx.Response(201, json={"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 60})

    assert _users(handler).log_in("dana", "pw", "203.0.113.9") == "a.b.c"
    assert addresses == ["203.0.113.9"]
    with pytest.raises(InvalidCredentials):
        _users(lambda _request: _problem(401, "invalid-credentials")).log_in("dana", "pw", None)
    throttled = _problem(429, "too-many-attempts")
    throttled.headers["Retry-After"] = "42"
    with pytest.raises(TooManyAttempts) as raised:
        _users(lambda _request: throttled).log_in("dana", "pw", None)
    assert raised.value.retry_after_seconds == 42


def test_a_token_is_honoured_only_for_the_exact_account_it_binds() -> None:
    users = _users(lambda _request: httpx.Response(200, json=_ACCOUNT))
    caller, account = users.bound_caller("token", _claims())
    assert (caller.user_id, caller.username, account.id) == (7, "dana", 7)
    # Same id and name, another creation time: another account that reused them.
    with pytest.raises(AuthenticationRequired):
        users.bound_caller("token", _claims(created_at=_CREATED + timedelta(microseconds=1)))
    with pytest.raises(AuthenticationRequired):
        users.bound_caller("token", _claims(user_id=8))
    with pytest.raises(AuthenticationRequired):
        _users(lambda _request: _problem(401, "authentication-required")).bound_caller("token", _claims())


def test_an_unreachable_user_service_is_503_for_every_call() -> None:
    users = _users(_unreachable)
    calls: list[Callable[[], object]] = [
        lambda: users.sign_up("dana", "pw", "Dana"),
        lambda: users.log_in("dana", "pw", None),
        lambda: users.log_out("token"),
        lambda: users.bound_caller("token", _claims()),
        lambda: users.find("dana"),
        lambda: users.display_names(["dana"]),
    ]
    for call in calls:
        with pytest.raises(ServiceUnavailable):
            call()


def test_find_asks_the_internal_lookup_and_skips_what_is_no_username() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={"users": [_ACCOUNT]})

    users = _users(handler)
    found = users.find("dana")
    assert found is not None
    assert found.id == 7
    assert users.find("../admin") is None
    assert len(seen) == 1  # the invalid name cost no call
    with pytest.raises(NotFound):
        _users(lambda _request: httpx.Response(200, json={"users": []})).get("nobody")


def _photo(photo_id: int = 3) -> dict[str, object]:
    return {
        "id": photo_id,
        "owner": "dana",
        "caption": "Sunset",
        "visibility": "public",
        "content_type": "image/jpeg",
        "width": 64,
        "height": 48,
        "size_bytes": 1234,
        "created_at": "2026-11-30T12:00:01.000000Z",
    }


def test_photo_pages_get_views_with_the_owners_display_name() -> None:
    def photos(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer token"
        return httpx.Response(200, json={"items": [_photo(3), _photo(2)], "next_cursor": "abc"})

    page = _photos(lambda _request: httpx.Response(200, json={"users": [_ACCOUNT]}), photos).own_photos(
        "token", 20, None
    )
    assert [photo.id for photo in page.items] == [3, 2]
    assert page.items[0].owner.display_name == "Dana"
    assert page.next_cursor == "abc"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_problem(404, "user-not-found"), UserNotFound),
        (_problem(404, "not-found"), NotFound),
        (_problem(409, "idempotency-key-in-use"), IdempotencyKeyInUse),
        (
            _problem(422, "validation-failed", errors=[{"field": "caption", "message": "too long"}]),
            ValidationFailed,
        ),
        (_problem(418, "teapot"), ServiceUnavailable),
        (_problem(404, "username-taken"), ServiceUnavailable),
        (_problem(502, "bad-gateway"), ServiceUnavailable),
    ],
    ids=[
        "user-not-found",
        "not-found",
        "key-in-use",
        "invalid",
        "unknown-type",
        "wrong-status",
        "server-error",
    ],
)
def test_photo_service_refusals_become_the_monoliths_errors(
    answer: httpx.Response, error: type[Exception]
) -> None:
    photos = _photos(lambda _request: httpx.Response(200, json={"users": []}), lambda _request: answer)
    with pytest.raises(error) as raised:
        photos.share("token", 3, "erin")
    if not isinstance(raised.value, ServiceUnavailable):
        assert raised.value.status == answer.status_code  # type: ignore[attr-defined]


def test_an_unreachable_photo_service_is_503() -> None:
    photos = _photos(lambda _request: httpx.Response(200, json={"users": []}), _unreachable)
    with pytest.raises(ServiceUnavailable):
        photos.photo("token", 3)
    with pytest.raises(ServiceUnavailable):
        photos.upload("token", data=b"x", caption="", visibility="private", idempotency_key=None)
