"""A cached JWKS document fetched from the token signer.

Keys are fetched on first use and kept for `ttl_seconds`. A token with an unknown key
id triggers a refresh (key rotation), but at most once per `min_refresh_seconds`, so a
flood of forged key ids cannot turn into a flood of requests to the signer. When the
signer does not answer, the keys already known keep working: tokens issued before an
outage stay valid through it.

Before any key is known (a service that started before its signer), nothing can be said
about a token: `key_for` raises `ServiceUnavailable` (503 with Retry-After) rather than
calling a valid token invalid, retries the signer at most once per
`min_refresh_without_keys_seconds`, and `require_keys` fails the service's readiness so
that no traffic is routed to it meanwhile.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from snappy_plumbing.errors import ServiceUnavailable
from snappy_plumbing.tokens import key_id

__all__ = ["JwksKeySet"]

logger = logging.getLogger(__name__)


class JwksKeySet:
    """The signer's public keys, by key id (a `tokens.KeySource`)."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float,
        min_refresh_seconds: float,
        timeout_seconds: float,
        min_refresh_without_keys_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._ttl_seconds = ttl_seconds
        self._min_refresh_seconds = min_refresh_seconds
        # Never slower than the usual throttle: lacking keys is the more urgent case.
        self._min_refresh_without_keys_seconds = min(min_refresh_without_keys_seconds, min_refresh_seconds)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_seconds), transport=transport)
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> Ed25519PublicKey | None:
        """The key with this id, refreshing the document when it is stale or lacks the id."""
        with self._lock:
            if self._is_stale() or (kid is not None and kid not in self._keys):
                self._refresh_if_allowed()
            if not self._keys:
                raise ServiceUnavailable("The token signer's keys are not known yet; try again shortly")
            if kid is None:
                return next(iter(self._keys.values())) if len(self._keys) == 1 else None
            return self._keys.get(kid)

    def prefetch(self) -> bool:
        """Fetch now (at start-up); True when keys are known afterwards."""
        with self._lock:
            self._refresh_if_allowed()
            return bool(self._keys)

    def require_keys(self) -> None:
        """A readiness check: raise while no key is known (fetching one if allowed).

        Once keys are known it asks nothing of the signer: a readiness probe every few
        seconds must not become a JWKS request every few seconds, and a signer outage must
        not make a service that can verify tokens unready.
        """
        with self._lock:
            if not self._keys:
                self._refresh_if_allowed()
            if not self._keys:
                raise RuntimeError(f"no token keys from {self._url} yet")

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._ttl_seconds

    def _refresh_if_allowed(self) -> None:
        now = self._clock()
        interval = self._min_refresh_seconds if self._keys else self._min_refresh_without_keys_seconds
        if self._attempted_at is not None and now - self._attempted_at < interval:
            return
        self._attempted_at = now
        try:
            response = self._client.get(self._url)
            response.raise_for_status()
            keys = _parse_jwks(response.json())
        except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
            logger.warning(
                "could not refresh the JWKS document; keeping known keys", extra={"error": str(exc)}
            )
            return
        self._keys = keys
        self._fetched_at = now


def _parse_jwks(document: object) -> dict[str, Ed25519PublicKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue  # other key types are not ours to use
        raw = base64.urlsafe_b64decode(str(jwk["x"]) + "=" * (-len(str(jwk["x"])) % 4))
        public_key = Ed25519PublicKey.from_public_bytes(raw)
        keys[str(jwk.get("kid") or key_id(public_key))] = public_key
    return keys
