"""Token keys from the signer's JWKS document, for a service that may start before its signer."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from snappy_plumbing.access_tokens import TokenCheckSettings
from snappy_plumbing.errors import ServiceUnavailable
from snappy_plumbing.jwks import JwksKeySet
from snappy_plumbing.tokens import TokenSigner, TokenVerifier, generate_private_key_pem

ISSUER = "snappy"
AUDIENCE = "snappy-api"
JWKS_URL = "http://user-service.test/.well-known/jwks.json"


class Signer:
    """The signer's JWKS endpoint, down until `start()`; counts the requests it gets."""

    def __init__(self) -> None:
        self.signer = TokenSigner(generate_private_key_pem(), ISSUER, AUDIENCE, ttl_seconds=600)
        self.answering = False
        self.requests = 0

    def start(self) -> None:
        self.answering = True

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if not self.answering:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=self.signer.jwks())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(signer: Signer, clock: Clock) -> JwksKeySet:
    """The keys as a service holds them, with its default settings."""
    settings = TokenCheckSettings()
    return JwksKeySet(
        JWKS_URL,
        ttl_seconds=settings.jwks_ttl_seconds,
        min_refresh_seconds=settings.jwks_min_refresh_seconds,
        timeout_seconds=1.0,
        clock=clock,
        transport=httpx.MockTransport(signer.handle),
    )


@pytest.fixture
def known_keys(signer: Signer, keys: JwksKeySet) -> JwksKeySet:
    """The keys, fetched from the signer once it answers: its one request so far."""
    signer.start()
    assert keys.prefetch()
    return keys


def _token(signer: Signer) -> str:
    return signer.signer.issue(7, "alice", datetime(2026, 1, 1, tzinfo=UTC)).value


def test_a_token_is_not_called_invalid_while_no_key_is_known(signer: Signer, keys: JwksKeySet) -> None:
    verifier = TokenVerifier(keys, ISSUER, AUDIENCE)

    with pytest.raises(ServiceUnavailable):
        verifier.verify(_token(signer))


def test_readiness_fails_until_the_signer_answers(signer: Signer, keys: JwksKeySet, clock: Clock) -> None:
    with pytest.raises(RuntimeError, match="no token keys"):
        keys.require_keys()

    signer.start()
    clock.now += 1.0
    keys.require_keys()

    assert TokenVerifier(keys, ISSUER, AUDIENCE).verify(_token(signer)).user_id == 7


def test_without_keys_the_signer_is_asked_again_within_a_second(
    signer: Signer, keys: JwksKeySet, clock: Clock
) -> None:
    keys.prefetch()
    keys.prefetch()
    asked_before = signer.requests
    clock.now += 1.0
    keys.prefetch()

    assert asked_before == 1
    assert signer.requests == 2


def test_with_keys_unknown_key_ids_ask_the_signer_at_most_once_per_ten_seconds(
    signer: Signer, known_keys: JwksKeySet, clock: Clock
) -> None:
    for _ in range(20):
        clock.now += 0.4
        assert known_keys.key_for("forged-key-id") is None

    assert signer.requests == 1


def test_readiness_probes_ask_the_signer_nothing_once_keys_are_known(
    signer: Signer, known_keys: JwksKeySet, clock: Clock
) -> None:
    signer.answering = False
    for _ in range(30):
        clock.now += 5.0
        known_keys.require_keys()

    assert signer.requests == 1
