"""The tokens user-service issues, its JWKS, and tokens shared with the monolith's key material.

Specific to user-service: these read the in-process service's own settings and signing key.
Which requests need a token and which tokens are refused is public behaviour, tested on
both versions in tests/api/test_authorization.py.
"""

from __future__ import annotations

from datetime import datetime

import jwt
import pytest
from flask.testing import FlaskClient

from snappy_monolith.config import TokenSettings as MonolithTokenSettings
from snappy_monolith.tokens import TokenAuthority
from snappy_plumbing.tokens import microseconds_since_epoch
from snappy_user_service.config import Settings
from tests.support.api_client import ApiClient
from tests.support.openapi import assert_conforms


def test_a_token_lives_as_long_as_configured(api: ApiClient, user_service_settings: Settings) -> None:
    token = api.user_with_token("alice")

    claims = jwt.decode(token, options={"verify_signature": False})

    assert claims["exp"] - claims["iat"] == user_service_settings.tokens.ttl_seconds
    assert claims["iss"] == "snappy"
    assert claims["aud"] == "snappy-api"
    assert claims["username"] == "alice"
    me = api.get("/api/v1/users/me", token).get_json()
    assert claims["sub"] == str(me["id"])
    assert claims["user_created_at"] == microseconds_since_epoch(datetime.fromisoformat(me["created_at"]))
    assert isinstance(claims["jti"], str)


def test_jwks_publishes_the_key_that_verifies_issued_tokens(
    api: ApiClient, client: FlaskClient, user_service_settings: Settings
) -> None:
    token = api.user_with_token("alice")

    response = client.get("/.well-known/jwks.json")

    assert_conforms(response)
    (key,) = response.get_json()["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA"
    assert "d" not in key
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience=user_service_settings.tokens.audience
    )
    assert claims["username"] == "alice"


@pytest.fixture
def monolith_authority(user_service_settings: Settings) -> TokenAuthority:
    """The monolith's token authority on user-service's key material."""
    tokens = user_service_settings.tokens
    return TokenAuthority(
        MonolithTokenSettings(
            private_key_pem=tokens.private_key_pem,
            issuer=tokens.issuer,
            audience=tokens.audience,
            ttl_seconds=tokens.ttl_seconds,
        )
    )


def test_the_same_key_material_publishes_the_monoliths_jwks(
    client: FlaskClient, monolith_authority: TokenAuthority
) -> None:
    jwks = client.get("/.well-known/jwks.json").get_json()

    assert jwks == monolith_authority.jwks()
    assert jwks["keys"][0]["kid"] == monolith_authority.key_id


def test_a_token_from_the_monolith_is_accepted(api: ApiClient, monolith_authority: TokenAuthority) -> None:
    alice = api.sign_up("alice")
    token = monolith_authority.issue(alice["id"], "alice", datetime.fromisoformat(alice["created_at"])).value

    response = api.get("/api/v1/users/me", token)

    assert response.status_code == 200
    assert response.get_json() == alice


def test_a_token_from_user_service_is_accepted_by_the_monolith(
    api: ApiClient, monolith_authority: TokenAuthority
) -> None:
    alice = api.sign_up("alice")
    token = api.log_in("alice")

    claims = monolith_authority.verify(token)

    assert (claims.user_id, claims.username) == (alice["id"], "alice")
