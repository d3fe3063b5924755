"""Access tokens: EdDSA-signed JWTs, and the JWKS document that publishes their keys.

The monolith signs with one Ed25519 key from configuration. Its public half is
published at `/.well-known/jwks.json` under a key id derived from the key itself
(RFC 7638 thumbprint), so that services extracted later verify the same tokens from
that document alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snappy_monolith.config import ConfigurationError, TokenSettings
from snappy_monolith.errors import AuthenticationRequired

__all__ = ["AccessToken", "TokenAuthority", "TokenClaims"]

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


class TokenAuthority:
    """Issues and verifies access tokens."""

    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._private_key = _load_private_key(settings.private_key_pem)
        self._public_key = self._private_key.public_key()
        self.key_id = _thumbprint(self._public_key)

    def issue(self, user_id: int, username: str) -> AccessToken:
        """Sign a token for this user."""
        now = int(time.time())
        claims = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": str(user_id),
            "username": username,
            "iat": now,
            "exp": now + self._settings.ttl_seconds,
        }
        value = jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.key_id})
        return AccessToken(value=value, expires_in=self._settings.ttl_seconds)

    def verify(self, token: str) -> TokenClaims:
        """Check signature, algorithm, issuer, audience and expiry; raise 401 otherwise."""
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
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=5,
            )
            return TokenClaims(user_id=int(claims["sub"]), username=str(claims["username"]))
        except jwt.ExpiredSignatureError:
            raise AuthenticationRequired("The access token has expired") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            raise AuthenticationRequired("The access token is not valid") from None

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JSON Web Key Set."""
        return {
            "keys": [{**_public_jwk(self._public_key), "kid": self.key_id, "alg": ALGORITHM, "use": "sig"}]
        }


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
