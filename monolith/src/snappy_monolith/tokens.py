"""Access tokens: EdDSA-signed JWTs, and the JWKS document that publishes their keys.

The monolith signs with one Ed25519 key from configuration. Its public half is
published at `/.well-known/jwks.json` under a key id derived from the key itself
(RFC 7638 thumbprint), so that services extracted later verify the same tokens from
that document alone.

A token binds one account: `sub` (its id), `username` and `user_created_at` (its
creation time, integer microseconds since the Unix epoch). Verifying the signature is
only half the check: the caller must also find that exact account (`TokenClaims.binds`),
so a token signed with a shared key for another stack's users opens nothing. `jti` names
the token, so a log-out can revoke it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snappy_monolith.config import (
    MAX_TOKEN_TTL_SECONDS,
    ConfigurationError,
    TokenSettings,
    check_ttl_seconds,
)
from snappy_monolith.errors import AuthenticationRequired

__all__ = [
    "MAX_TOKEN_TTL_SECONDS",
    "AccessToken",
    "TokenAuthority",
    "TokenClaims",
    "check_ttl_seconds",
    "microseconds_since_epoch",
]

ALGORITHM = "EdDSA"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "username", "user_created_at"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessToken:
    """A freshly issued token and its lifetime."""

    value: str
    expires_in: int


@dataclass(frozen=True)
class TokenClaims:
    """Who a verified token speaks for."""

    user_id: int
    username: str
    user_created_at: int
    token_id: str
    expires_at: int

    def binds(self, user_id: int, username: str, created_at: datetime) -> bool:
        """True when this token was issued to exactly this account (id, username, creation time)."""
        return (
            self.user_id == user_id
            and self.username == username
            and self.user_created_at == microseconds_since_epoch(created_at)
        )


class TokenAuthority:
    """Issues and verifies access tokens."""

    def __init__(self, settings: TokenSettings) -> None:
        check_ttl_seconds(settings.ttl_seconds)
        self._settings = settings
        self._private_key = _load_private_key(settings.private_key_pem)
        self._public_key = self._private_key.public_key()
        self.key_id = _thumbprint(self._public_key)

    def issue(self, user_id: int, username: str, created_at: datetime) -> AccessToken:
        """Sign a token for this user (created at `created_at`)."""
        now = int(time.time())
        claims = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": str(user_id),
            "username": username,
            "user_created_at": microseconds_since_epoch(created_at),
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + self._settings.ttl_seconds,
        }
        value = jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return AccessToken(value=value, expires_in=self._settings.ttl_seconds)

    def verify(self, token: str) -> TokenClaims:
        """Check signature, algorithm, issuer, audience, expiry and lifetime; raise 401 otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") not in (None, self.key_id):
                raise AuthenticationRequired("The token was signed by an unknown key")
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                options={"require": _REQUIRED_CLAIMS},
                leeway=5,
            )
            return _claims_of(claims)
        except jwt.ExpiredSignatureError:
            raise AuthenticationRequired("The access token has expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            raise AuthenticationRequired("The access token is not valid") from None

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JSON Web Key Set."""
        return {
            "keys": [{**_public_jwk(self._public_key), "kid": self.key_id, "alg": ALGORITHM, "use": "sig"}]
        }


def microseconds_since_epoch(moment: datetime) -> int:
    """A timestamp as whole microseconds since the Unix epoch (the `user_created_at` claim)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MICROSECOND


def _claims_of(claims: dict[str, Any]) -> TokenClaims:
    # Every claim must have its type, and the lifetime must be within the ceiling.
    issued_at, expires_at = claims["iat"], claims["exp"]
    token_id, username, created_at = claims["jti"], claims["username"], claims["user_created_at"]
    numbers = (issued_at, expires_at, created_at)
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in numbers):
        raise TypeError("iat, exp and user_created_at must be integers")
    if not isinstance(token_id, str) or not token_id or not isinstance(username, str):
        raise TypeError("jti and username must be strings")
    if expires_at - issued_at > MAX_TOKEN_TTL_SECONDS:
        raise ValueError("the token lives longer than any token may")
    return TokenClaims(
        user_id=int(claims["sub"]),
        username=username,
        user_created_at=created_at,
        token_id=token_id,
        expires_at=expires_at,
    )


def generate_private_key_pem() -> str:
    """A new Ed25519 private key in PKCS#8 PEM."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _load_private_key(pem: str | None) -> Ed25519PrivateKey:
    if pem is None:
        logger.warning(
            "no signing key configured (SNAPPY_JWT_PRIVATE_KEY): using a temporary key; "
            "tokens will not survive a restart"
        )
        pem = generate_private_key_pem()
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ConfigurationError(f"SNAPPY_JWT_PRIVATE_KEY is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("SNAPPY_JWT_PRIVATE_KEY must be an Ed25519 key")
    return key


def _public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def _thumbprint(public_key: Ed25519PublicKey) -> str:
    # RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
    canonical = json.dumps(_public_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
