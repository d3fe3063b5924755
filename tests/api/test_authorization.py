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

from snappy_plumbing.tokens import TokenSigner
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.session import SIGNING_KEY_PEM

PROBLEMS = "https://snappy.example/problems/"
# Every stack of the session signs with SIGNING_KEY_PEM, for this issuer and audience.
ISSUER = "snappy"
AUDIENCE = "snappy-api"
LARGEST_ID = 2**63 - 1

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


# Past the bigint range no photo can exist, whatever the method: 404, never 405.
@pytest.mark.parametrize("photo", ["invisible", "missing", "past the bigint range"])
@pytest.mark.parametrize(
    "operation", PHOTO_OPERATIONS, ids=[f"{method} {{id}}{suffix}" for method, suffix, _ in PHOTO_OPERATIONS]
)
def test_a_missing_photo_answers_exactly_like_an_invisible_one(
    api: ApiClient, private_photo: int, operation: tuple[str, str, dict[str, Any]], photo: str
) -> None:
    method, suffix, kwargs = operation
    photo_id = {"invisible": private_photo, "missing": 999999, "past the bigint range": LARGEST_ID + 1}[photo]
    mallory = api.user_with_token("mallory")

    response = api.request(method, f"/api/v1/photos/{photo_id}{suffix}", mallory, **kwargs)

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


def test_the_largest_id_is_a_route(api: ApiClient) -> None:
    alice = api.user_with_token("alice")
    headers = {"Authorization": f"Bearer {alice}"}

    response = api.get(f"/api/v1/photos/{LARGEST_ID}", alice)
    # 405 is not listed per operation, so these two are not contract-checked.
    largest = api.client.open(f"/api/v1/photos/{LARGEST_ID}", method="PUT", headers=headers)
    past_largest = api.client.open(f"/api/v1/photos/{LARGEST_ID + 1}", method="PUT", headers=headers)

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"No photo {LARGEST_ID}"
    # The path exists for the largest id, so a method it does not take is 405; past it, no path.
    assert largest.status_code == 405
    assert past_largest.status_code == 404


def test_a_method_the_path_does_not_take_is_refused(api: ApiClient) -> None:
    response = api.client.open("/api/v1/photos/1", method="PUT")

    assert response.status_code == 405
    assert response.get_json()["type"] == PROBLEMS + "method-not-allowed"
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "1",
        "username": "alice",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _signed_with_the_signing_key(**overrides: Any) -> str:
    key = serialization.load_pem_private_key(SIGNING_KEY_PEM.encode(), password=None)
    kid = TokenSigner(SIGNING_KEY_PEM, ISSUER, AUDIENCE, 600).key_id
    return jwt.encode(_claims(**overrides), key, algorithm="EdDSA", headers={"kid": kid})  # type: ignore[arg-type]


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["username"] = "mallory"
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


def _hs256_confusion() -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = _b64(
        hmac.new(SIGNING_KEY_PEM.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    )
    return f"{header}.{payload}.{signature}"


# Kind -> a bad token, made from a valid one where it needs one.
BAD_TOKENS: dict[str, Callable[[str], str]] = {
    "tampered payload": _tampered,
    "expired": lambda valid: _signed_with_the_signing_key(
        exp=int(time.time()) - 120, iat=int(time.time()) - 4000
    ),
    "wrong audience": lambda valid: _signed_with_the_signing_key(aud="someone-else"),
    "wrong issuer": lambda valid: _signed_with_the_signing_key(iss="evil"),
    "alg none": lambda valid: (
        _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(json.dumps(_claims()).encode()) + "."
    ),
    "HS256 with the key as secret": lambda valid: _hs256_confusion(),
    "another key": lambda valid: jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA"),
    "another key with an unknown kid": lambda valid: jwt.encode(
        _claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "not-ours"}
    ),
    "not a jwt": lambda valid: "definitely-not-a-token",
    "missing exp": lambda valid: _signed_with_the_signing_key(exp=None),
    "missing username": lambda valid: _signed_with_the_signing_key(username=None),
    "sub not a number": lambda valid: _signed_with_the_signing_key(sub="alice"),
}


# One endpoint per version's token check: in the microservices, user-service and photo-service.
TOKEN_CHECKING_PATHS = ["/api/v1/users/me", "/api/v1/photos"]


# No "Bearer " with trailing spaces: HTTP strips them from a field value (RFC 9110, 5.5).
@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
@pytest.mark.parametrize("header", ["Basic YWxpY2U6cHc=", "Bearer", "alice"])
def test_an_authorization_header_without_a_bearer_token_is_unauthorized(
    api: ApiClient, header: str, path: str
) -> None:
    response = api.get(path, headers={"Authorization": header})

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_invalid_tokens_are_unauthorized(api: ApiClient, kind: str, path: str) -> None:
    valid = api.user_with_token("alice")
    assert api.get(path, valid).status_code == 200
    token = BAD_TOKENS[kind](valid)

    response = api.get(path, token)

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_signed_with_the_signing_key_for_nobody_is_refused(api: ApiClient) -> None:
    # A good signature is not enough: the token must bind an existing account
    # (tests/api/test_token_binding.py holds the other cases).
    token = _signed_with_the_signing_key(
        sub="41", username="forged_not", jti="forged-token-id", user_created_at=0
    )

    response = api.get("/api/v1/photos", token)

    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"
