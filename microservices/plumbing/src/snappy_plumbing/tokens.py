"""Access tokens: EdDSA-signed JWTs, signed by one service and verified by every other.

`TokenSigner` holds the Ed25519 private key (user-service only) and publishes its public
half as a JWKS document. `TokenVerifier` checks tokens against a `KeySource`: the
signer's own key, or `jwks.JwksKeySet`, the cached JWKS document of the signer, so a
service verifies tokens locally and never calls the signer per request.
The claims and key ids are those of the monolith, so tokens pass between the versions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.errors import AuthenticationRequired

__all__ = [
    "ALGORITHM",
    "AccessToken",
    "KeySource",
    "TokenClaims",
    "TokenSigner",
    "TokenVerifier",
    "generate_private_key_pem",
    "key_id",
    "public_jwk",
]

ALGORITHM = "EdDSA"
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


class KeySource(Protocol):
    """Where a verifier finds the public key for a key id."""

    def key_for(self, kid: str | None) -> Ed25519PublicKey | None:
        """The key with this id (None: the only key, if there is exactly one)."""


class TokenSigner:
    """Issues tokens with one private key, and publishes the public half."""

    def __init__(self, private_key_pem: str | None, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._private_key = _load_private_key(private_key_pem)
        self.public_key = self._private_key.public_key()
        self.key_id = key_id(self.public_key)
        self._issuer = issuer
        self._audience = audience
        self._ttl_seconds = ttl_seconds

    def issue(self, user_id: int, username: str) -> AccessToken:
        """Sign a token for this user."""
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "username": username,
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
    """Checks signature, algorithm, issuer, audience and expiry; 401 otherwise."""

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
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
            return TokenClaims(user_id=int(claims["sub"]), username=str(claims["username"]))
        except jwt.ExpiredSignatureError:
            raise AuthenticationRequired("The access token has expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            raise AuthenticationRequired("The access token is not valid") from None


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
