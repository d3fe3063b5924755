"""The peer clients on a scripted transport: which calls are sent again, problem documents, the cache."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from snappy_plumbing.errors import (
    AlreadyShared,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    UserNotFound,
    ValidationFailed,
)
from snappy_web_ui.clients import PeerUnavailable, PhotoServiceClient, UserServiceClient
from snappy_web_ui.config import PeerSettings
from tests.support.scripted_peer import ScriptedPeer

SETTINGS = PeerSettings(user_service_url="http://users.test", photo_service_url="http://photos.test")
PROBLEMS = "https://snappy.example/problems/"
PHOTO_PAGE: dict[str, object] = {"items": [], "next_cursor": None}
USER = {"id": 7, "username": "alice", "display_name": "Alice", "created_at": "2024-05-01T10:00:00.123456Z"}


def problem(slug: str, status: int, detail: str, **extra: object) -> httpx.Response:
    document = {"type": PROBLEMS + slug, "title": slug, "status": status, "detail": detail, **extra}
    return httpx.Response(status, json=document, headers={"Content-Type": "application/problem+json"})


def photo_client(script: ScriptedPeer) -> PhotoServiceClient:
    return PhotoServiceClient(SETTINGS, sleep=script.sleep, transport=script.transport())


def test_reads_are_sent_again_after_failing_fast_but_not_after_timing_out() -> None:
    """The peers' rule (tests/plumbing/test_peers.py), with the visitor's token on every attempt."""
    script = ScriptedPeer(
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.Response(200, json=PHOTO_PAGE),
        httpx.ReadTimeout("slow"),
    )
    client = photo_client(script)

    assert client.feed("token", 20, None).items == []
    with pytest.raises(PeerUnavailable):
        client.photo("token", 1)
    assert len(script.requests) == 4
    assert script.sleeps == [0.1, 0.2]
    assert {sent.headers["Authorization"] for sent in script.requests} == {"Bearer token"}


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.share("token", 1, "bob"),
        lambda client: client.update("token", 1, {"caption": "x"}),
        lambda client: client.delete("token", 1),
    ],
)
def test_a_write_is_sent_once(call: Callable[[PhotoServiceClient], object]) -> None:
    script = ScriptedPeer(httpx.Response(503), httpx.Response(204))

    with pytest.raises(PeerUnavailable):
        call(photo_client(script))
    assert len(script.requests) == 1


def upload(client: PhotoServiceClient, idempotency_key: str | None = None) -> object:
    return client.upload(
        "token",
        data=b"image",
        filename="a.png",
        caption="",
        visibility="private",
        idempotency_key=idempotency_key,
    )


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")])
def test_a_keyed_upload_is_sent_once_too(failure: Exception) -> None:
    # The key would make a retry safe; the visitor's browser makes it, with the same form.
    script = ScriptedPeer(failure, httpx.Response(201, json={}))

    with pytest.raises(PeerUnavailable):
        upload(photo_client(script), "form-key")
    assert len(script.requests) == 1
    assert script.requests[0].headers["Idempotency-Key"] == "form-key"


def test_an_upload_without_a_key_sends_no_idempotency_key() -> None:
    script = ScriptedPeer(httpx.Response(503))

    with pytest.raises(PeerUnavailable):
        upload(photo_client(script))
    assert "Idempotency-Key" not in script.requests[0].headers


def test_writes_wait_longer_than_the_services_budget_and_reads_their_own_shorter_time() -> None:
    script = ScriptedPeer(httpx.Response(503), httpx.Response(503), httpx.Response(200, json=PHOTO_PAGE))
    client = photo_client(script)

    with pytest.raises(PeerUnavailable):
        upload(client, "form-key")
    with pytest.raises(PeerUnavailable):
        client.delete("token", 1)
    client.feed("token", 20, None)

    upload_timeout, delete_timeout, read_timeout = (sent.extensions["timeout"] for sent in script.requests)
    assert upload_timeout["read"] == delete_timeout["read"] == SETTINGS.write_timeout_seconds == 20.0
    assert upload_timeout["connect"] == SETTINGS.calls.connect_timeout_seconds
    assert read_timeout["read"] == SETTINGS.calls.read_timeout_seconds == 5.0


def test_idempotency_problems_become_the_plumbing_errors() -> None:
    script = ScriptedPeer(
        problem("idempotency-key-in-use", 409, "An upload with this Idempotency-Key is still in progress"),
        problem("idempotency-key-reused", 422, "This Idempotency-Key was used for another upload"),
    )
    client = photo_client(script)

    with pytest.raises(IdempotencyKeyInUse, match="still in progress"):
        upload(client, "form-key")
    with pytest.raises(IdempotencyKeyReused, match="another upload"):
        upload(client, "form-key")


def test_problem_documents_become_the_plumbing_errors() -> None:
    script = ScriptedPeer(
        problem("not-found", 404, "No photo 1"),
        problem("user-not-found", 404, "No user named 'x'"),
        problem("already-shared", 409, "shared"),
        problem(
            "validation-failed",
            422,
            "caption: too long",
            errors=[{"field": "caption", "message": "too long"}],
        ),
        httpx.Response(404, text="<html>not ours</html>"),
    )
    client = photo_client(script)

    with pytest.raises(NotFound):
        client.share("token", 1, "x")
    with pytest.raises(UserNotFound, match="No user named 'x'"):
        client.share("token", 1, "x")
    with pytest.raises(AlreadyShared):
        client.share("token", 1, "x")
    with pytest.raises(ValidationFailed) as failure:
        client.update("token", 1, {"caption": "x"})
    assert failure.value.detail == "caption: too long"
    assert failure.value.errors[0].field == "caption"
    with pytest.raises(PeerUnavailable):
        client.share("token", 1, "x")


def test_profiles_are_cached_and_unknown_users_are_not() -> None:
    now = [0.0]
    script = ScriptedPeer(
        httpx.Response(200, json=USER),
        problem("not-found", 404, "No user named 'bob'"),
        problem("not-found", 404, "No user named 'bob'"),
        httpx.Response(200, json=USER),
    )
    client = UserServiceClient(
        SETTINGS, clock=lambda: now[0], sleep=script.sleep, transport=script.transport()
    )

    assert client.users({"alice", "bob"}, "token") == client.users({"alice", "bob"}, "token")
    assert client.user("alice", "token").display_name == "Alice"
    assert len(script.requests) == 3
    now[0] = SETTINGS.user_cache_ttl_seconds + 1
    client.user("alice", "token")
    assert len(script.requests) == 4
