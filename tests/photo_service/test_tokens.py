"""Tokens are verified locally, with keys from the signer's JWKS document, cached."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snappy_photo_service.config import Settings, TokenCheckSettings
from snappy_plumbing.tokens import TokenSigner, generate_private_key_pem
from tests.photo_service.conftest import PROBLEMS, PhotoServiceClient, UserService, photo_service, serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class JwksDocument:
    """A signer's JWKS endpoint whose keys a test rotates, counting the fetches."""

    def __init__(self, signers: list[TokenSigner]) -> None:
        self.signers = signers
        self.available = True
        self.fetches = 0
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            self.fetches += 1
        if not self.available:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down"]
        keys = [key for signer in self.signers for key in signer.jwks()["keys"]]
        body = json.dumps({"keys": keys}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def new_signer() -> TokenSigner:
    return TokenSigner(generate_private_key_pem(), "snappy", "snappy-api", 600)


@pytest.fixture
def jwks() -> Iterator[tuple[JwksDocument, str]]:
    """A JWKS document served over HTTP, and its URL."""
    document = JwksDocument([new_signer()])
    running = serve(document)
    yield document, f"{running.url}/.well-known/jwks.json"
    running.stop()


def settings_with_jwks(settings: Settings, url: str, min_refresh_seconds: float) -> Settings:
    tokens = TokenCheckSettings(jwks_url=url, jwks_min_refresh_seconds=min_refresh_seconds)
    return replace(settings, tokens=tokens)


def new_user(api: PhotoServiceClient, username: str) -> tuple[int, str, datetime]:
    """Sign up `username` in user-service; returns what a token for them binds."""
    user = api.sign_up(username)
    return user["id"], username, datetime.fromisoformat(user["created_at"])


def my_photos(api: PhotoServiceClient, token: str) -> int:
    status: int = api.get("/api/v1/photos", token).status_code
    return status


def test_the_keys_are_fetched_at_start_up_from_user_service_by_default(
    api: PhotoServiceClient, photo_settings: Settings, user_service: UserService
) -> None:
    signer_keys_url = photo_settings.tokens.signer_keys_url(photo_settings.user_service.url)
    assert signer_keys_url == f"{user_service.url}/.well-known/jwks.json"

    assert my_photos(api, api.user_with_token("alice")) == 200


def test_an_unknown_kid_refreshes_the_keys(
    empty_services: None, photo_settings: Settings, user_service: UserService, jwks: tuple[JwksDocument, str]
) -> None:
    document, url = jwks
    old_key = document.signers[0]
    with photo_service(settings_with_jwks(photo_settings, url, min_refresh_seconds=0)) as app:
        api = PhotoServiceClient(app.test_client(), user_service.url)
        user = new_user(api, "rotating")
        assert document.fetches == 1
        assert my_photos(api, old_key.issue(*user).value) == 200
        assert document.fetches == 1

        # Rotation: the signer publishes its new key, then signs with it.
        new_key = new_signer()
        document.signers = [old_key, new_key]

        assert my_photos(api, new_key.issue(*user).value) == 200
        assert document.fetches == 2
        assert my_photos(api, old_key.issue(*user).value) == 200
        assert document.fetches == 2


def test_forged_kids_cannot_make_it_hammer_the_signer(
    empty_services: None, photo_settings: Settings, user_service: UserService, jwks: tuple[JwksDocument, str]
) -> None:
    document, url = jwks
    with photo_service(settings_with_jwks(photo_settings, url, min_refresh_seconds=60)) as app:
        api = PhotoServiceClient(app.test_client(), user_service.url)
        claims = {"iss": "snappy", "aud": "snappy-api", "sub": "7", "username": "x", "iat": 0, "exp": 2**40}
        for n in range(5):
            forged = jwt.encode(
                claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": f"forged-{n}"}
            )
            response = api.get("/api/v1/photos", forged)
            assert response.status_code == 401
            assert response.get_json()["type"] == PROBLEMS + "authentication-required"

    assert document.fetches == 1


def test_a_signer_down_at_start_up_is_not_fatal(
    empty_services: None, photo_settings: Settings, user_service: UserService, jwks: tuple[JwksDocument, str]
) -> None:
    document, url = jwks
    document.available = False
    with photo_service(settings_with_jwks(photo_settings, url, min_refresh_seconds=0)) as app:
        api = PhotoServiceClient(app.test_client(), user_service.url)
        token = document.signers[0].issue(*new_user(api, "patient")).value
        assert api.get("/healthz").status_code == 200
        # Not ready, and a valid token is "try again" (503), never "invalid" (401).
        assert api.get("/readyz").status_code == 503
        assert my_photos(api, token) == 503

        document.available = True

        assert api.get("/readyz").status_code == 200
        assert my_photos(api, token) == 200
