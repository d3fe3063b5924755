"""Calls from one Snappy service to another: one client, one rule for timeouts and retries.

Every call a service makes to a peer (photo-service to user-service; web-ui to
user-service and photo-service) goes through a `PeerClient`, under a `PeerPolicy` read
from the same variables in every deployable:

- **Timeouts.** A call waits at most `connect_timeout_seconds` for a new connection, and
  `read_timeout_seconds` for the answer to a read. A write's answer is awaited as long as
  its caller says (web-ui: longer than the services' request budget, so a write they
  complete is never reported failed). The pool has no size limit, so no call waits for a
  free connection.
- **Retries: reads only, and only failures that cost little.** A read is a request that
  changes nothing (a GET, or a lookup sent as POST). It is sent again, up to `attempts`
  in all with exponential backoff (`backoff_seconds`, then twice that, ...), when no
  connection could be made (refused, reset, or not made within the connect timeout), a
  pooled connection turned out closed, or the peer answered 429, 500, 502, 503 or 504. A
  read that timed out waiting for its answer is not sent again: the peer holds the request
  and is stuck on it, and a second wait would double the caller's for the same outcome.
  A write is never sent twice: it could be done twice.
- **Failure.** A peer that does not answer raises `PeerUnavailable` (503), logged once
  with the peer's name; every other answer goes back to the caller, which reads it.
- The request id of the request being served goes along (`X-Request-ID`), so every
  service logs the same id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from flask import g, has_request_context

from snappy_plumbing.config import positive_float, positive_int, variable
from snappy_plumbing.errors import ServiceUnavailable
from snappy_plumbing.observability import REQUEST_ID_HEADER

__all__ = ["RETRIED_STATUSES", "PeerClient", "PeerPolicy", "PeerUnavailable"]

# Answers that say "not now": a read that gets one is sent again.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# Below the peers' keep-alive (gunicorn: 5 s), so a pooled connection is dropped here before
# the peer closes it under a request.
_KEEPALIVE_EXPIRY_SECONDS = 2.0
# The peer has the request: another attempt would wait as long again.
_NOT_RETRIED = (httpx.ReadTimeout, httpx.WriteTimeout)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeerPolicy:
    """How a service calls its peers. Each deployable gives its own default read timeout and attempts."""

    read_timeout_seconds: float = field(metadata=variable("SNAPPY_PEER_READ_TIMEOUT_SECONDS", positive_float))
    # Attempts of a read, the first one included; a write is sent once.
    attempts: int = field(metadata=variable("SNAPPY_PEER_ATTEMPTS", positive_int))
    connect_timeout_seconds: float = field(
        default=1.0, metadata=variable("SNAPPY_PEER_CONNECT_TIMEOUT_SECONDS", positive_float)
    )
    backoff_seconds: float = 0.1

    def read_worst_case_seconds(self) -> float:
        """The longest one read can take: every attempt waiting out its timeouts, plus the backoff."""
        backoff = sum(self.backoff_seconds * 2.0**attempt for attempt in range(self.attempts - 1))
        return self.attempts * (self.connect_timeout_seconds + self.read_timeout_seconds) + backoff

    def write_worst_case_seconds(self, answer_timeout_seconds: float) -> float:
        """The longest one write can take: a connection, then the answer."""
        return self.connect_timeout_seconds + answer_timeout_seconds


class PeerUnavailable(ServiceUnavailable):
    """A service this one depends on did not answer, or not with an answer it can use."""


class PeerClient:
    """Calls to one peer under a `PeerPolicy` (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        policy: PeerPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self._policy = policy
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url,
            timeout=self._timeout(policy.read_timeout_seconds),
            limits=httpx.Limits(keepalive_expiry=_KEEPALIVE_EXPIRY_SECONDS),
            headers={"Accept": "application/json, application/problem+json"},
            transport=transport,
        )

    def read(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        **options: Any,
    ) -> httpx.Response:
        """Send a read, again after the failures the policy retries; the first other answer.

        `options` are httpx's (`params`, `json`, ...). A streamed answer is the caller's to
        close. Raises PeerUnavailable on a read timeout and once the attempts are spent.
        """
        request = self._http.build_request(method, path, headers=_with_request_id(headers), **options)
        attempts = self._policy.attempts
        failure = ""
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.send(request, stream=stream)
            except _NOT_RETRIED as exc:
                raise self._unavailable(_described(exc), method) from None
            except httpx.TransportError as exc:
                failure = _described(exc)
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                response.close()
            if attempt < attempts:
                delay = self._policy.backoff_seconds * 2 ** (attempt - 1)
                logger.warning(
                    "peer call failed; retrying",
                    extra={
                        "peer": self.name,
                        "attempt": attempt,
                        "error": failure,
                        "retry_in_seconds": delay,
                    },
                )
                self._sleep(delay)
        raise self._unavailable(failure, method)

    def write(
        self,
        method: str,
        path: str,
        *,
        answer_timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> httpx.Response:
        """Send a write once, waiting up to `answer_timeout_seconds` for its answer, which is returned.

        Raises PeerUnavailable when no answer comes.
        """
        request = self._http.build_request(
            method,
            path,
            headers=_with_request_id(headers),
            timeout=self._timeout(answer_timeout_seconds),
            **options,
        )
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise self._unavailable(_described(exc), method) from None

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _timeout(self, answer_seconds: float) -> httpx.Timeout:
        connect = self._policy.connect_timeout_seconds
        return httpx.Timeout(connect=connect, read=answer_seconds, write=answer_seconds, pool=connect)

    def _unavailable(self, failure: str, method: str) -> PeerUnavailable:
        logger.error("peer does not answer", extra={"peer": self.name, "method": method, "error": failure})
        return PeerUnavailable(f"{self.name} does not answer")


def _with_request_id(headers: Mapping[str, str] | None) -> dict[str, str]:
    # The same request id on every service's log lines.
    sent = dict(headers or {})
    if has_request_context() and "request_id" in g:
        sent[REQUEST_ID_HEADER] = str(g.request_id)
    return sent


def _described(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
