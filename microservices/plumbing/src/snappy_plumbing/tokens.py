"""Access tokens: EdDSA-signed JWTs, signed by one service and verified by every other.

`TokenSigner` holds the Ed25519 private key (user-service only) and publishes its public
half as a JWKS document. `TokenVerifier` checks tokens against a `KeySource`: the
signer's own key, or `jwks.JwksKeySet`, the cached JWKS document of the signer, so a
service verifies tokens locally and never calls the signer per request.
The claims and key ids are those of the monolith, so tokens pass between the versions.

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
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.errors import AuthenticationRequired

__all__ = [
    "ALGORITHM",
    "MAX_TOKEN_TTL_SECONDS",
    "AccessToken",
    "KeySource",
    "TokenClaims",
    "TokenSigner",
    "TokenVerifier",
    "check_ttl_seconds",
    "claims_of",
    "generate_private_key_pem",
    "key_id",
    "microseconds_since_epoch",
    "new_token_id",
    "public_jwk",
]

ALGORITHM = "EdDSA"
# The longest lifetime a token may have: longer is a configuration error, and a token
# claiming more is refused even when its signature is good.
MAX_TOKEN_TTL_SECONDS = 86_400
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


class KeySource(Protocol):
    """Where a verifier finds the public key for a key id."""

    def key_for(self, kid: str | None) -> Ed25519PublicKey | None:
        """The key with this id (None: the only key, if there is exactly one)."""


class TokenSigner:
    """Issues tokens with one private key, and publishes the public half."""

    def __init__(self, private_key_pem: str | None, issuer: str, audience: str, ttl_seconds: int) -> None:
        check_ttl_seconds(ttl_seconds)
        self._private_key = _load_private_key(private_key_pem)
        self.public_key = self._private_key.public_key()
        self.key_id = key_id(self.public_key)
        self._issuer = issuer
        self._audience = audience
        self._ttl_seconds = ttl_seconds

    def issue(self, user_id: int, username: str, created_at: datetime) -> AccessToken:
        """Sign a token for this user (created at `created_at`)."""
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "username": username,
            "user_created_at": microseconds_since_epoch(created_at),
            "jti": new_token_id(),
            "iat": now,
            "exp": now + self._ttl_seconds,
        }
        value = jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return AccessToken(value=value, expires_in=self._ttl_seconds)

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set."""
        return {"keys": [{**public_jwk(self.public_key), "kid": self.key_id, "alg": ALGORITHM, "use": "sig"}]}

    def key_for(self, kid: str | None) -> Ed25519PublicKey | None:
        """The signer verifies its own tokens (a KeySource)."""
        return self.public_key if kid in (None, self.key_id) else None


class TokenVerifier:
    """Checks signature, algorithm, issuer, audience, expiry and lifetime; 401 otherwise."""

    def __init__(self, keys: KeySource, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token; AuthenticationRequired otherwise."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            public_key = self._keys.key_for(kid if isinstance(kid, str) else None)
            if public_key is None:
                raise AuthenticationRequired("The token was signed by an unknown key")
            claims = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED_CLAIMS},
                leeway=5,
            )
            return claims_of(claims)
        except jwt.ExpiredSignatureError:
            raise AuthenticationRequired("The access token has expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            raise AuthenticationRequired("The access token is not valid") from None


def check_ttl_seconds(ttl_seconds: int) -> int:
    """The lifetime, if it is within 1 s .. MAX_TOKEN_TTL_SECONDS; ConfigurationError otherwise."""
    if not 1 <= ttl_seconds <= MAX_TOKEN_TTL_SECONDS:
        raise ConfigurationError(
            f"SNAPPY_ACCESS_TOKEN_TTL_SECONDS must be from 1 to {MAX_TOKEN_TTL_SECONDS}, got {ttl_seconds}"
        )
    return ttl_seconds


def claims_of(claims: dict[str, Any]) -> TokenClaims:
    """The claims of a token whose signature, issuer, audience and expiry were checked.

    Every claim must have its type, and the lifetime must be within the ceiling; a
    ValueError or TypeError otherwise.
    """
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


def microseconds_since_epoch(moment: datetime) -> int:
    """A timestamp as whole microseconds since the Unix epoch (the `user_created_at` claim)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MICROSECOND


def new_token_id() -> str:
    """A random 128-bit token id, url-safe base64 without padding."""
    return secrets.token_urlsafe(16)


def generate_private_key_pem() -> str:
    """A new Ed25519 private key in PKCS#8 PEM."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The required JWK members of an Ed25519 public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's RFC 7638 thumbprint: SHA-256 of its required members, canonically ordered."""
    canonical = json.dumps(public_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
