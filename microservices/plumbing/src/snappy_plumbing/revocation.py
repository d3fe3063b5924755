"""The ids of revoked tokens, from user-service, cached for a few seconds.

A log-out revokes its token at user-service (`DELETE /api/v1/tokens/current`). A service
that verifies tokens locally learns of it from `GET /internal/v1/revoked-tokens`: the ids
of every revoked token that has not expired yet. The list is fetched when a token is
checked and the copy is older than `ttl_seconds`, so a revoked token stops working
everywhere within that interval, at the cost of one call per interval, not per request.

The fetch is a read through the service's `peers.PeerClient` to user-service, with its
timeouts and retries. When user-service does not answer, the copy already held keeps
serving until it is `max_staleness_seconds` old; after that every check fails with 503
service-unavailable rather than accepting tokens blindly. A failed refresh is not tried
again before `ttl_seconds` have passed, so an outage does not put the retries on every
request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from snappy_plumbing.errors import ServiceUnavailable
from snappy_plumbing.peers import PeerClient, PeerUnavailable

__all__ = ["REVOKED_TOKENS_PATH", "RevocationList"]

REVOKED_TOKENS_PATH = "/internal/v1/revoked-tokens"
UNAVAILABLE_DETAIL = "The list of revoked tokens is not available; try again shortly"

logger = logging.getLogger(__name__)


class RevocationList:
    """Whether a token id was revoked, from user-service's list, refreshed at most every `ttl_seconds`."""

    def __init__(
        self,
        user_service: PeerClient,
        *,
        ttl_seconds: float,
        max_staleness_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user_service = user_service
        self._ttl_seconds = ttl_seconds
        self._max_staleness_seconds = max(max_staleness_seconds, ttl_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._revoked: frozenset[str] = frozenset()
        self._fetched_at: float | None = None
        self._next_attempt_at: float | None = None

    def is_revoked(self, token_id: str) -> bool:
        """True when the token was revoked; ServiceUnavailable when the list is too old to trust."""
        with self._lock:
            now = self._clock()
            if self._is_due(now):
                self._refresh(now)
            if self._fetched_at is None or now - self._fetched_at > self._max_staleness_seconds:
                raise ServiceUnavailable(UNAVAILABLE_DETAIL)
            return token_id in self._revoked

    def prefetch(self) -> bool:
        """Fetch now (at start-up); True when a list is held afterwards."""
        with self._lock:
            self._refresh(self._clock())
            return self._fetched_at is not None

    def close(self) -> None:
        """Close the pooled connections to user-service."""
        self._user_service.close()

    def _is_due(self, now: float) -> bool:
        fresh = self._fetched_at is not None and now - self._fetched_at < self._ttl_seconds
        waiting = self._next_attempt_at is not None and now < self._next_attempt_at
        return not fresh and not waiting

    def _refresh(self, now: float) -> None:
        self._next_attempt_at = now + self._ttl_seconds
        revoked = self._fetch()
        if revoked is not None:
            self._revoked = revoked
            # The list is as old as the moment it was asked for, not when it arrived.
            self._fetched_at = now

    def _fetch(self) -> frozenset[str] | None:
        try:
            response = self._user_service.read("GET", REVOKED_TOKENS_PATH)
        except PeerUnavailable as exc:
            failure = exc.detail
        else:
            if response.status_code == 200:
                return _parse(response)
            failure = f"HTTP {response.status_code}"
        logger.error("could not refresh the revoked tokens; keeping the list held", extra={"error": failure})
        return None


def _parse(response: httpx.Response) -> frozenset[str] | None:
    try:
        document = response.json()
        entries = document["revoked"]
        ids = frozenset(entry["token_id"] for entry in entries)
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("user-service answered with an unexpected revocation list", extra={"error": str(exc)})
        return None
    if not all(isinstance(token_id, str) for token_id in ids):
        logger.error("user-service answered with an unexpected revocation list")
        return None
    return ids
