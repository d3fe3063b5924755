"""Who may do what: 401 without a valid token, 404 (never 403) for photos you may not see."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snappy_monolith.config import Settings
from tests.conftest import ApiClient
from tests.images import image_bytes

PROBLEMS = "https://snappy.example/problems/"

AUTHENTICATED_ENDPOINTS = [
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/users/alice"),
    ("GET", "/api/v1/users/alice/photos"),
    ("POST", "/api/v1/photos"),
    ("GET", "/api/v1/photos"),
    ("GET", "/api/v1/photos/1"),
    ("GET", "/api/v1/photos/1/content"),
    ("GET", "/api/v1/photos/1/thumbnail"),
    ("PATCH", "/api/v1/photos/1"),
    ("DELETE", "/api/v1/photos/1"),
    ("POST", "/api/v1/photos/1/shares"),
    ("GET", "/api/v1/photos/1/shares"),
    ("DELETE", "/api/v1/photos/1/shares/bob"),
    ("GET", "/api/v1/feed"),
]

# Every verb on a photo the caller may not see, with a body that would otherwise work.
PHOTO_OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "", {}),
    ("GET", "/content", {}),
    ("GET", "/thumbnail", {}),
    ("PATCH", "", {"json": {"caption": "hijacked"}}),
    ("DELETE", "", {}),
    ("POST", "/shares", {"json": {"username": "mallory"}}),
    ("GET", "/shares", {}),
    ("DELETE", "/shares/bob", {}),
]


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED_ENDPOINTS)
def test_every_endpoint_but_sign_up_and_log_in_needs_a_token(api: ApiClient, method: str, path: str) -> None:
    response = api.request(method, path)

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.fixture
def private_photo(api: ApiClient) -> int:
    alice = api.user_with_token("alice")
    api.sign_up("bob")
    photo_id: int = api.upload(alice, image_bytes(), caption="private").get_json()["id"]
    api.post(f"/api/v1/photos/{photo_id}/shares", alice, json={"username": "bob"})
    return photo_id


@pytest.mark.parametrize(("method", "suffix", "kwargs"), PHOTO_OPERATIONS)
def test_a_stranger_gets_404_on_every_verb_of_a_private_photo(
    api: ApiClient, private_photo: int, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    mallory = api.user_with_token("mallory")

    response = api.request(method, f"/api/v1/photos/{private_photo}{suffix}", mallory, **kwargs)

    assert response.status_code == 404
    assert response.get_json()["type"] == PROBLEMS + "not-found"


@pytest.mark.parametrize(("method", "suffix", "kwargs"), PHOTO_OPERATIONS)
def test_a_missing_photo_answers_exactly_like_an_invisible_one(
    api: ApiClient, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    mallory = api.user_with_token("mallory")

    response = api.request(method, f"/api/v1/photos/999999{suffix}", mallory, **kwargs)

    assert response.status_code == 404
    assert response.get_json()["type"] == PROBLEMS + "not-found"


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs"), [op for op in PHOTO_OPERATIONS if op[0] != "GET" or op[1] == "/shares"]
)
def test_someone_it_is_shared_with_still_cannot_manage_it(
    api: ApiClient, private_photo: int, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    bob = api.log_in("bob")

    response = api.request(method, f"/api/v1/photos/{private_photo}{suffix}", bob, **kwargs)

    assert response.status_code == 404


def test_a_refused_change_changes_nothing(api: ApiClient, private_photo: int) -> None:
    mallory = api.user_with_token("mallory")
    api.patch(f"/api/v1/photos/{private_photo}", mallory, json={"caption": "hijacked"})
    api.delete(f"/api/v1/photos/{private_photo}", mallory)

    alice = api.log_in("alice")
    assert api.get(f"/api/v1/photos/{private_photo}", alice).get_json()["caption"] == "private"


@pytest.mark.parametrize("photo_id", ["0", "-1", "abc", "9223372036854775808", "1.5"])
def test_ids_outside_the_contract_are_not_found(api: ApiClient, photo_id: str) -> None:
    alice = api.user_with_token("alice")

    response = api.client.get(f"/api/v1/photos/{photo_id}", headers={"Authorization": f"Bearer {alice}"})

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": settings.tokens.issuer,
        "aud": settings.tokens.audience,
        "sub": "1",
        "username": "alice",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _signed_with_app_key(settings: Settings, **overrides: Any) -> str:
    assert settings.tokens.private_key_pem is not None
    key = serialization.load_pem_private_key(settings.tokens.private_key_pem.encode(), password=None)
    return jwt.encode(_claims(settings, **overrides), key, algorithm="EdDSA")  # type: ignore[arg-type]


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["username"] = "mallory"
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


BAD_TOKENS: dict[str, Callable[[Settings, str], str]] = {
    "tampered payload": lambda settings, valid: _tampered(valid),
    "expired": lambda settings, valid: _signed_with_app_key(
        settings, exp=int(time.time()) - 120, iat=int(time.time()) - 4000
    ),
    "wrong audience": lambda settings, valid: _signed_with_app_key(settings, aud="someone-else"),
    "wrong issuer": lambda settings, valid: _signed_with_app_key(settings, iss="evil"),
    "alg none": lambda settings, valid: (
        _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(json.dumps(_claims(settings)).encode()) + "."
    ),
    "HS256 with the public key as secret": lambda settings, valid: _hs256_confusion(settings),
    "another key": lambda settings, valid: jwt.encode(
        _claims(settings), Ed25519PrivateKey.generate(), algorithm="EdDSA"
    ),
    "not a jwt": lambda settings, valid: "definitely-not-a-token",
    "missing exp": lambda settings, valid: _signed_with_app_key(settings, exp=None),
}


def _hs256_confusion(settings: Settings) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(settings)).encode())
    assert settings.tokens.private_key_pem is not None
    secret = settings.tokens.private_key_pem.encode()
    signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_invalid_tokens_are_unauthorized(api: ApiClient, settings: Settings, kind: str) -> None:
    valid = api.user_with_token("alice")
    assert api.get("/api/v1/users/me", valid).status_code == 200
    token = BAD_TOKENS[kind](settings, valid)

    response = api.get("/api/v1/users/me", token)

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"
