"""Tokens open only the account they were issued to, for at most a day, and die at log-out.

Every token here is validly signed with the session's signing key, which both versions
share: what is refused is refused for whom it names or how long it lives, not for its
signature. Each attack runs against both versions through the `api` fixture.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from snappy_monolith.config import ConfigurationError as MonolithConfigurationError
from snappy_monolith.config import Settings as MonolithSettings
from snappy_monolith.config import TokenSettings as MonolithTokenSettings
from snappy_monolith.tokens import TokenAuthority
from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.tokens import MAX_TOKEN_TTL_SECONDS, TokenSigner, microseconds_since_epoch
from snappy_user_service.config import Settings as UserServiceSettings
from snappy_web_ui.config import Settings as WebUiSettings
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.live import REVOCATION_TTL_SECONDS
from tests.support.session import SIGNING_KEY_PEM
from tests.support.versions import StackUnderTest

PROBLEMS = "https://snappy.example/problems/"
ISSUER = "snappy"
AUDIENCE = "snappy-api"
# One endpoint per version's token check: in the microservices, user-service and photo-service.
TOKEN_CHECKING_PATHS = ["/api/v1/users/me", "/api/v1/photos"]


def signed_token(user: dict[str, Any], **overrides: Any) -> str:
    """A token for `user` (a user document) signed with the session's key; None removes a claim."""
    now = int(time.time())
    created_at = datetime.fromisoformat(user["created_at"])
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user["id"]),
        "username": user["username"],
        "user_created_at": microseconds_since_epoch(created_at),
        "jti": "a-token-id-made-by-the-test",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    key = serialization.load_pem_private_key(SIGNING_KEY_PEM.encode(), password=None)
    kid = TokenSigner(SIGNING_KEY_PEM, ISSUER, AUDIENCE, 600).key_id
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})  # type: ignore[arg-type]


def assert_refused(response: Any) -> None:
    """The 401 problem every refused token gets."""
    assert response.status_code == 401
    assert response.get_json()["type"] == PROBLEMS + "authentication-required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_made_the_way_the_signer_makes_them_is_accepted(api: ApiClient) -> None:
    alice = api.sign_up("alice")
    token = signed_token(alice)

    for path in TOKEN_CHECKING_PATHS:
        assert api.get(path, token).status_code == 200


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
def test_a_token_for_a_user_that_does_not_exist_is_refused(api: ApiClient, path: str) -> None:
    alice = api.sign_up("alice")
    ghost = {**alice, "id": alice["id"] + 1000, "username": "ghost_user"}

    assert_refused(api.get(path, signed_token(ghost)))


def test_an_upload_with_a_token_for_nobody_leaves_no_photo_and_no_object(
    api: ApiClient, stack: StackUnderTest
) -> None:
    alice = api.sign_up("alice")
    ghost = {**alice, "id": alice["id"] + 1000, "username": "ghost_user"}

    response = api.upload(signed_token(ghost), image_bytes(), caption="owned by nobody")

    assert_refused(response)
    assert stack.photo_count() == 0
    assert stack.object_keys() == []


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
def test_a_username_claim_naming_someone_else_is_refused(api: ApiClient, path: str) -> None:
    alice = api.sign_up("alice")
    api.sign_up("bob")

    assert_refused(api.get(path, signed_token(alice, username="bob")))


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
def test_a_token_from_another_stack_with_the_same_key_and_id_is_refused(api: ApiClient, path: str) -> None:
    # Another stack holds a different user under alice's id: same key, same id, another
    # creation time. Its token must not open alice's account.
    alice = api.sign_up("alice")
    created_elsewhere = datetime.fromisoformat(alice["created_at"]) - timedelta(days=3)

    token = signed_token(alice, user_created_at=microseconds_since_epoch(created_elsewhere))

    assert_refused(api.get(path, token))


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
def test_a_creation_time_off_by_one_microsecond_is_refused(api: ApiClient, path: str) -> None:
    alice = api.sign_up("alice")
    exact = microseconds_since_epoch(datetime.fromisoformat(alice["created_at"]))

    assert api.get(path, signed_token(alice, user_created_at=exact)).status_code == 200
    assert_refused(api.get(path, signed_token(alice, user_created_at=exact + 1)))


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
@pytest.mark.parametrize("missing", ["jti", "user_created_at"])
def test_a_token_without_the_binding_claims_is_refused(api: ApiClient, path: str, missing: str) -> None:
    alice = api.sign_up("alice")

    assert_refused(api.get(path, signed_token(alice, **{missing: None})))


@pytest.mark.parametrize("path", TOKEN_CHECKING_PATHS)
def test_a_token_living_longer_than_the_ceiling_is_refused(api: ApiClient, path: str) -> None:
    alice = api.sign_up("alice")
    now = int(time.time())

    at_the_ceiling = signed_token(alice, iat=now, exp=now + MAX_TOKEN_TTL_SECONDS)
    beyond = signed_token(alice, iat=now, exp=now + MAX_TOKEN_TTL_SECONDS + 1)
    a_century = signed_token(alice, iat=now, exp=now + 100 * 365 * 86_400)

    assert api.get(path, at_the_ceiling).status_code == 200
    assert_refused(api.get(path, beyond))
    assert_refused(api.get(path, a_century))


def test_issued_tokens_carry_a_random_id_and_the_users_creation_time(api: ApiClient) -> None:
    alice = api.sign_up("alice")

    first, second = (jwt.decode(api.log_in("alice"), options={"verify_signature": False}) for _ in range(2))

    created_at = microseconds_since_epoch(datetime.fromisoformat(alice["created_at"]))
    assert first["user_created_at"] == second["user_created_at"] == created_at
    assert first["jti"] != second["jti"]
    # 128 random bits in url-safe base64 without padding.
    assert len(first["jti"]) == 22
    assert set(first["jti"]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def wait_for_revocations(stack: StackUnderTest) -> None:
    """Let photo-service's list of revoked tokens become due for a refresh (microservices only)."""
    if stack.name == "microservices":
        time.sleep(REVOCATION_TTL_SECONDS * 2)


def test_deleting_the_current_token_ends_it_everywhere(api: ApiClient, stack: StackUnderTest) -> None:
    api.sign_up("alice")
    token = api.log_in("alice")
    other_session = api.log_in("alice")
    assert api.get("/api/v1/photos", token).status_code == 200

    response = api.delete("/api/v1/tokens/current", token)

    assert response.status_code == 204
    assert response.get_data() == b""
    wait_for_revocations(stack)
    for path in [*TOKEN_CHECKING_PATHS, "/api/v1/feed"]:
        assert_refused(api.get(path, token))
    assert_refused(api.upload(token, image_bytes()))
    assert_refused(api.delete("/api/v1/tokens/current", token))
    # Only that token: the user's other sessions go on.
    for path in TOKEN_CHECKING_PATHS:
        assert api.get(path, other_session).status_code == 200
    assert stack.photo_count() == 0


def test_deleting_the_current_token_needs_a_valid_token(api: ApiClient) -> None:
    alice = api.sign_up("alice")

    assert_refused(api.delete("/api/v1/tokens/current"))
    assert_refused(api.delete("/api/v1/tokens/current", signed_token(alice, username="nobody_here")))


BASE_ENVIRONMENTS = {
    "monolith": {"SNAPPY_DATABASE_URL": "postgresql://unused/db", "SNAPPY_S3_BUCKET": "unused"},
    "user-service": {"SNAPPY_DATABASE_URL": "postgresql://unused/db"},
    "web-ui": {
        "SNAPPY_USER_SERVICE_URL": "http://user-service:8000",
        "SNAPPY_PHOTO_SERVICE_URL": "http://photo-service:8000",
        "SNAPPY_SECRET_KEY": "unused-secret",
    },
}


def settings_from(component: str, environ: dict[str, str]) -> int:
    """The token lifetime `component` reads from this environment."""
    environ = {**BASE_ENVIRONMENTS[component], **environ}
    if component == "monolith":
        return MonolithSettings.from_environ(environ).tokens.ttl_seconds
    if component == "user-service":
        return UserServiceSettings.from_environ(environ).tokens.ttl_seconds
    return WebUiSettings.from_environ(environ).tokens.ttl_seconds


@pytest.mark.parametrize("component", sorted(BASE_ENVIRONMENTS))
def test_a_lifetime_above_one_day_is_a_configuration_error(component: str) -> None:
    ceiling = str(MAX_TOKEN_TTL_SECONDS)
    assert settings_from(component, {"SNAPPY_ACCESS_TOKEN_TTL_SECONDS": ceiling}) == MAX_TOKEN_TTL_SECONDS

    for too_long in (str(MAX_TOKEN_TTL_SECONDS + 1), str(100 * 365 * 86_400)):
        with pytest.raises((MonolithConfigurationError, ConfigurationError), match="from 1 to 86400"):
            settings_from(component, {"SNAPPY_ACCESS_TOKEN_TTL_SECONDS": too_long})


def test_the_signers_refuse_a_key_that_is_not_ed25519() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )

    with pytest.raises(ConfigurationError, match="Ed25519"):
        TokenSigner(pem, ISSUER, AUDIENCE, 600)
    with pytest.raises(MonolithConfigurationError, match="Ed25519"):
        TokenAuthority(MonolithTokenSettings(private_key_pem=pem))


def test_the_signers_refuse_a_lifetime_above_one_day() -> None:
    with pytest.raises(ConfigurationError, match="from 1 to 86400"):
        TokenSigner(SIGNING_KEY_PEM, ISSUER, AUDIENCE, MAX_TOKEN_TTL_SECONDS + 1)
    with pytest.raises(MonolithConfigurationError, match="from 1 to 86400"):
        TokenAuthority(
            MonolithTokenSettings(private_key_pem=SIGNING_KEY_PEM, ttl_seconds=MAX_TOKEN_TTL_SECONDS + 1)
        )
