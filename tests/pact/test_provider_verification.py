"""user-service and photo-service, run as deployed, honour the pacts web-ui holds them to.

Both services run under gunicorn on fresh databases and a fresh bucket. Before each
interaction, the provider state it names is set up through the services' public APIs,
with SQL only to empty tables and to restore the two users with the ids the tokens carry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pact import Verifier

from snappy_devstack.backing import BackingServices
from snappy_topology import PartName
from tests.images import image_bytes
from tests.pact import states
from tests.pact.pact_files import pact_file
from tests.support.gunicorn import stopped_on_exit
from tests.support.parts import spawn_services
from tests.support.provisioning import microservices_stores
from tests.support.session import SIGNING_KEY_PEM
from tests.support.stores import execute_sql, fetch_rows

pytestmark = pytest.mark.live

API = "/api/v1"
# Created first, so alice is user 1 and bob user 2 whenever the states restore them.
USERNAMES = ("alice", "bob")


@dataclass
class Providers:
    """The two services under test, their databases, and a token per user."""

    user_service_url: str
    photo_service_url: str
    user_database_url: str
    photo_database_url: str
    tokens: dict[str, str]
    user_rows: list[dict[str, Any]]


@pytest.fixture(scope="module")
def providers(backing: BackingServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Providers]:
    """user-service and photo-service under gunicorn, each on its own new database."""
    folder = tmp_path_factory.mktemp("pact-providers")
    key_file = folder / "jwt-signing-key.pem"
    key_file.write_text(SIGNING_KEY_PEM)
    common = {**os.environ, "SNAPPY_THREADS": "4"}
    with microservices_stores(backing, "snappy_pact") as stores, stopped_on_exit() as processes:
        services = spawn_services(
            backing,
            common,
            stores,
            key_file=key_file,
            log_path=folder / "services.log",
            processes=processes,
        )
        user_url = services[PartName.USER_SERVICE]
        tokens = {}
        for username in USERNAMES:
            _post(
                f"{user_url}{API}/users",
                json={
                    "username": username,
                    "password": states.PASSWORD,
                    "display_name": username.capitalize(),
                },
            )
            answer = _post(
                f"{user_url}{API}/tokens", json={"username": username, "password": states.PASSWORD}
            )
            tokens[username] = answer.json()["access_token"]
        yield Providers(
            user_service_url=user_url,
            photo_service_url=services[PartName.PHOTO_SERVICE],
            user_database_url=stores.user_database_url,
            photo_database_url=stores.photo_database_url,
            tokens=tokens,
            # With their creation times: the session's tokens bind them.
            user_rows=fetch_rows(
                stores.user_database_url,
                "SELECT id, username, display_name, password_hash, created_at FROM users",
            ),
        )


class ProviderStates:
    """Sets up the provider states the pacts name."""

    def __init__(self, providers: Providers) -> None:
        self.providers = providers

    def handlers(self) -> dict[str, Callable[[], None]]:
        """Each state the pacts name, and how to reach it."""
        return {
            states.NO_USERS: self.no_users,
            states.ALICE_EXISTS: self.alice_exists,
            states.ALICE_OWNS_PHOTO: self.alice_owns_photo,
            states.ALICE_SHARES_PHOTO: self.alice_shares_photo,
            states.BOB_SHARES_PHOTO: self.bob_shares_photo,
            states.ALICE_UPLOADED_WITH_KEY: self.alice_uploaded_with_key,
        }

    def no_users(self) -> None:
        """No users, no photos."""
        # The spent Idempotency-Keys go with the photos they made.
        execute_sql(
            self.providers.photo_database_url, "TRUNCATE shares, photos, upload_requests RESTART IDENTITY"
        )
        # Revocations too: a log-out interaction revokes the token every interaction uses.
        execute_sql(self.providers.user_database_url, "TRUNCATE users, revoked_tokens")

    def alice_exists(self) -> None:
        """alice and bob exist, with their ids and passwords of the session; no photos."""
        self.no_users()
        execute_sql(
            self.providers.user_database_url,
            "INSERT INTO users (id, username, display_name, password_hash, created_at)"
            " VALUES (:id, :username, :display_name, :password_hash, :created_at)",
            self.providers.user_rows,
        )

    def alice_owns_photo(self) -> None:
        """alice has uploaded photo 1, private."""
        self.alice_exists()
        self._upload("alice", "private")

    def alice_shares_photo(self) -> None:
        """alice's photo 1 is shared with bob."""
        self.alice_owns_photo()
        self._share("alice", 1, "bob")

    def bob_shares_photo(self) -> None:
        """bob has uploaded photo 1, public, and shared it with alice."""
        self.alice_exists()
        self._upload("bob", "public")
        self._share("bob", 1, "alice")

    def alice_uploaded_with_key(self) -> None:
        """alice has uploaded photo 1 with the pacts' Idempotency-Key."""
        self.alice_exists()
        self._upload(
            "alice",
            states.KEYED_UPLOAD_VISIBILITY,
            states.KEYED_UPLOAD_CAPTION,
            {"Idempotency-Key": states.UPLOAD_KEY},
        )

    def _upload(
        self,
        username: str,
        visibility: str,
        caption: str = "A red square",
        headers: dict[str, str] | None = None,
    ) -> None:
        _post(
            f"{self.providers.photo_service_url}{API}/photos",
            headers={**self._authorization(username), **(headers or {})},
            data={"caption": caption, "visibility": visibility},
            files={"file": ("square.png", image_bytes("PNG", (32, 24)), "image/png")},
        )

    def _share(self, username: str, photo_id: int, with_username: str) -> None:
        _post(
            f"{self.providers.photo_service_url}{API}/photos/{photo_id}/shares",
            headers=self._authorization(username),
            json={"username": with_username},
        )

    def _authorization(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.providers.tokens[username]}"}


def verify(
    provider: PartName, url: str, providers: Providers, handlers: dict[str, Callable[[], None]]
) -> None:
    """Replay the committed pact against `url`; fails with the verifier's report on any mismatch."""
    source = pact_file(provider)
    assert source.exists(), f"{source} is missing: run tests/pact/test_web_ui_consumer.py"
    verifier = (
        Verifier(provider, host=urlsplit(url).hostname)
        .add_transport(url=url)
        .add_source(source)
        .state_handler(handlers, teardown=False)
        # Every interaction acts as alice: the token in the pact is only an example.
        .add_custom_header("Authorization", f"Bearer {providers.tokens['alice']}")
        .set_error_on_empty_pact(enabled=True)
    )
    try:
        verifier.verify()
    except RuntimeError as exc:
        pytest.fail(
            f"{provider} breaks the pact {Path(source).name}: {exc}\n{verifier.output(strip_ansi=True)}"
        )


def test_user_service_honours_the_web_ui_pact(providers: Providers) -> None:
    """user-service answers every interaction web-ui expects of it."""
    verify(PartName.USER_SERVICE, providers.user_service_url, providers, ProviderStates(providers).handlers())


def test_photo_service_honours_the_web_ui_pact(providers: Providers) -> None:
    """photo-service answers every interaction web-ui expects of it."""
    verify(
        PartName.PHOTO_SERVICE, providers.photo_service_url, providers, ProviderStates(providers).handlers()
    )


def _post(url: str, **kwargs: Any) -> httpx.Response:
    response = httpx.post(url, timeout=10, **kwargs)
    response.raise_for_status()
    return response
