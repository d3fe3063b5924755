"""web-ui's expectations of user-service and photo-service, recorded as pacts.

Each test drives one of web-ui's real peer clients against a Pact mock server that
answers one interaction; the interactions the clients really send are merged into one
pact per provider, written to shared_contracts/pacts/ once every test of the module
has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from pact import Pact, match
from pact.match.matcher import AbstractMatcher

from snappy_plumbing.errors import IdempotencyKeyReused, NotFound, UsernameTaken
from snappy_topology import PartName
from snappy_web_ui.clients import PhotoServiceClient, UserServiceClient
from snappy_web_ui.config import PeerSettings
from tests.images import image_bytes
from tests.pact.pact_files import CONSUMER, normalised_pact, pact_file
from tests.pact.states import (
    ALICE_EXISTS,
    ALICE_OWNS_PHOTO,
    ALICE_SHARES_PHOTO,
    ALICE_UPLOADED_WITH_KEY,
    BOB_SHARES_PHOTO,
    KEYED_UPLOAD_CAPTION,
    KEYED_UPLOAD_VISIBILITY,
    NO_USERS,
    PASSWORD,
    UPLOAD_KEY,
)

API = "/api/v1"
TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
PNG = image_bytes("PNG", (32, 24))
JPEG = image_bytes("JPEG", (32, 24))
BOUNDARY = "snappy-upload-boundary"
PROBLEMS = "https://snappy.example/problems"
TIMESTAMP = match.regex("2026-01-02T03:04:05Z", regex=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ANY_CAPTION = match.str("A red square")
ANY_VISIBILITY = match.regex("private", regex=r"^(private|public)$")
BEARER = match.regex(f"Bearer {TOKEN}", regex=r"^Bearer [A-Za-z0-9_.-]+$")
# What web-ui's upload form sends: any key the API accepts (the verifier sends this example).
IDEMPOTENCY_KEY = match.regex(UPLOAD_KEY, regex=r"^[\x20-\x7e]{1,255}$")
MULTIPART = match.regex(
    f"multipart/form-data; boundary={BOUNDARY}", regex=r"^multipart/form-data;\s*boundary=.+$"
)
# The file part is any file: its bytes are matched by type.
ANY_FILE_RULE = {"body": {"$.file": {"combine": "AND", "matchers": [{"match": "type"}]}}}


@dataclass
class Recorder:
    """Where the tests merge their interactions, and which tests have recorded theirs."""

    folder: Path
    recorded: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """Collects the interactions; publishes the pacts only when every test of the module recorded one."""
    recording = Recorder(tmp_path_factory.mktemp("pacts"))
    yield recording
    tests = {name for name in vars(request.module) if name.startswith("test_")}
    # A partial run (-k, a failure) would publish a pact missing interactions.
    if recording.recorded != tests:
        return
    for provider in (PartName.USER_SERVICE, PartName.PHOTO_SERVICE):
        written = recording.folder / f"{CONSUMER}-{provider}.json"
        target = pact_file(provider)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(normalised_pact(written.read_text()))


def peer_settings(url: str) -> PeerSettings:
    """Settings pointing both clients at the mock server; no retries, so a mismatch shows once."""
    return PeerSettings(user_service_url=url, photo_service_url=url, read_attempts=1)


ClientT = TypeVar("ClientT", UserServiceClient, PhotoServiceClient)


class MockProvider(Generic[ClientT]):
    """A pact with one provider holding one interaction, and the web-ui client to exercise it."""

    def __init__(
        self,
        recorder: Recorder,
        test_name: str,
        provider: str,
        make_client: Callable[[PeerSettings], ClientT],
    ) -> None:
        self.recorder = recorder
        self.test_name = test_name
        self.pact = Pact(CONSUMER, provider)
        self._make_client: Callable[[PeerSettings], ClientT] = make_client

    @contextmanager
    def exercise(self) -> Iterator[ClientT]:
        """Serve the interaction, hand out a client, then record the interaction."""
        with self.pact.serve() as server:
            client = self._make_client(peer_settings(str(server.url)))
            try:
                yield client
            finally:
                client.close()
        self.pact.write_file(self.recorder.folder)
        self.recorder.recorded.add(self.test_name)


MockUserService = MockProvider[UserServiceClient]
MockPhotoService = MockProvider[PhotoServiceClient]


@pytest.fixture
def user_service(recorder: Recorder, request: pytest.FixtureRequest) -> MockUserService:
    """A fresh pact with user-service for one interaction."""
    return MockProvider(recorder, request.node.originalname, PartName.USER_SERVICE, UserServiceClient)


@pytest.fixture
def photo_service(recorder: Recorder, request: pytest.FixtureRequest) -> MockPhotoService:
    """A fresh pact with photo-service for one interaction."""
    return MockProvider(recorder, request.node.originalname, PartName.PHOTO_SERVICE, PhotoServiceClient)


def user_body(username: str) -> dict[str, Any]:
    """A User as web-ui reads it."""
    return {
        "id": match.int(1),
        "username": username,
        "display_name": match.str("Alice Liddell"),
        "created_at": TIMESTAMP,
    }


def photo_body(
    owner: str = "alice",
    caption: str | AbstractMatcher[Any] = ANY_CAPTION,
    visibility: str | AbstractMatcher[Any] = ANY_VISIBILITY,
) -> dict[str, Any]:
    """A Photo as web-ui reads it."""
    return {
        "id": match.int(1),
        "owner": owner,
        "caption": caption,
        "visibility": visibility,
        "content_type": match.regex("image/png", regex=r"^image/(jpeg|png|webp)$"),
        "width": match.int(32),
        "height": match.int(24),
        "size_bytes": match.int(len(PNG)),
        "created_at": TIMESTAMP,
    }


def photo_page(owner: str = "alice") -> dict[str, Any]:
    """A page of at least one photo, the last page."""
    return {"items": match.each_like(photo_body(owner), min=1), "next_cursor": None}


def problem(slug: str, status: int, title: str) -> dict[str, Any]:
    """A problem document as web-ui reads it: the type names the error."""
    return {
        "type": f"{PROBLEMS}/{slug}",
        "title": match.str(title),
        "status": status,
        "detail": match.str("There is nothing here."),
    }


def content_type_rule(content_type: str) -> dict[str, Any]:
    """A body matched by what its bytes are, not by the bytes themselves."""
    return {"body": {"$": {"combine": "AND", "matchers": [{"match": "contentType", "value": content_type}]}}}


# user-service


def test_sign_up(user_service: MockUserService) -> None:
    """Signing up returns the new user."""
    (
        user_service.pact.upon_receiving("a sign-up")
        .given(NO_USERS)
        .with_request("POST", f"{API}/users")
        .with_body(
            {"username": "alice", "password": PASSWORD, "display_name": "Alice Liddell"},
            content_type="application/json",
        )
        .will_respond_with(201)
        .with_body(user_body("alice"), content_type="application/json")
    )
    with user_service.exercise() as client:
        user = client.sign_up("alice", PASSWORD, "Alice Liddell")
        assert user.username == "alice"


def test_sign_up_with_a_taken_username(user_service: MockUserService) -> None:
    """Signing up with a taken username is a username-taken problem."""
    (
        user_service.pact.upon_receiving("a sign-up with a taken username")
        .given(ALICE_EXISTS)
        .with_request("POST", f"{API}/users")
        .with_body(
            {"username": "alice", "password": PASSWORD, "display_name": "Another Alice"},
            content_type="application/json",
        )
        .will_respond_with(409)
        .with_body(problem("username-taken", 409, "Username taken"), content_type="application/problem+json")
    )
    with user_service.exercise() as client, pytest.raises(UsernameTaken):
        client.sign_up("alice", PASSWORD, "Another Alice")


def test_log_in(user_service: MockUserService) -> None:
    """Logging in returns an access token."""
    (
        user_service.pact.upon_receiving("a log-in")
        .given(ALICE_EXISTS)
        .with_request("POST", f"{API}/tokens")
        .with_body({"username": "alice", "password": PASSWORD}, content_type="application/json")
        .will_respond_with(201)
        .with_body(
            {"access_token": match.str(TOKEN), "token_type": "Bearer", "expires_in": match.int(3600)},
            content_type="application/json",
        )
    )
    with user_service.exercise() as client:
        assert client.log_in("alice", PASSWORD) == TOKEN


def test_log_out(user_service: MockUserService) -> None:
    """Logging out revokes the session's access token."""
    (
        user_service.pact.upon_receiving("a log-out")
        .given(ALICE_EXISTS)
        .with_request("DELETE", f"{API}/tokens/current")
        .with_header("Authorization", BEARER)
        .will_respond_with(204)
    )
    with user_service.exercise() as client:
        client.log_out(TOKEN)


def test_profile(user_service: MockUserService) -> None:
    """A user's profile, by username."""
    (
        user_service.pact.upon_receiving("a request for alice's profile")
        .given(ALICE_EXISTS)
        .with_request("GET", f"{API}/users/alice")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(user_body("alice"), content_type="application/json")
    )
    with user_service.exercise() as client:
        assert client.user("alice", TOKEN).username == "alice"


def test_profile_of_an_unknown_user(user_service: MockUserService) -> None:
    """The profile of someone who does not exist is a not-found problem."""
    (
        user_service.pact.upon_receiving("a request for the profile of an unknown user")
        .given(ALICE_EXISTS)
        .with_request("GET", f"{API}/users/nobody")
        .with_header("Authorization", BEARER)
        .will_respond_with(404)
        .with_body(problem("not-found", 404, "Not found"), content_type="application/problem+json")
    )
    with user_service.exercise() as client, pytest.raises(NotFound):
        client.user("nobody", TOKEN)


# photo-service


def test_own_photos(photo_service: MockPhotoService) -> None:
    """A page of the caller's photos."""
    (
        photo_service.pact.upon_receiving("a request for my photos")
        .given(ALICE_OWNS_PHOTO)
        .with_request("GET", f"{API}/photos")
        .with_query_parameter("limit", "20")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(photo_page(), content_type="application/json")
    )
    with photo_service.exercise() as client:
        page = client.own_photos(TOKEN, 20, None)
        assert [photo.owner for photo in page.items] == ["alice"]
        assert page.next_cursor is None


def test_public_photos_of_a_user(photo_service: MockPhotoService) -> None:
    """A page of someone's public photos."""
    (
        photo_service.pact.upon_receiving("a request for bob's public photos")
        .given(BOB_SHARES_PHOTO)
        .with_request("GET", f"{API}/users/bob/photos")
        .with_query_parameter("limit", "20")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(photo_page("bob"), content_type="application/json")
    )
    with photo_service.exercise() as client:
        page = client.public_photos(TOKEN, "bob", 20, None)
        assert [photo.owner for photo in page.items] == ["bob"]


def test_feed(photo_service: MockPhotoService) -> None:
    """A page of the photos shared with the caller."""
    (
        photo_service.pact.upon_receiving("a request for my feed")
        .given(BOB_SHARES_PHOTO)
        .with_request("GET", f"{API}/feed")
        .with_query_parameter("limit", "20")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(photo_page("bob"), content_type="application/json")
    )
    with photo_service.exercise() as client:
        page = client.feed(TOKEN, 20, None)
        assert [photo.owner for photo in page.items] == ["bob"]


def test_photo(photo_service: MockPhotoService) -> None:
    """One photo's metadata."""
    (
        photo_service.pact.upon_receiving("a request for photo 1")
        .given(ALICE_OWNS_PHOTO)
        .with_request("GET", f"{API}/photos/1")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(photo_body(), content_type="application/json")
    )
    with photo_service.exercise() as client:
        assert client.photo(TOKEN, 1).owner == "alice"


def test_missing_photo(photo_service: MockPhotoService) -> None:
    """A photo that does not exist is a not-found problem."""
    (
        photo_service.pact.upon_receiving("a request for a photo that does not exist")
        .given(ALICE_EXISTS)
        .with_request("GET", f"{API}/photos/1")
        .with_header("Authorization", BEARER)
        .will_respond_with(404)
        .with_body(problem("not-found", 404, "Not found"), content_type="application/problem+json")
    )
    with photo_service.exercise() as client, pytest.raises(NotFound):
        client.photo(TOKEN, 1)


def test_upload(photo_service: MockPhotoService) -> None:
    """Uploading an image as multipart: the file, its caption and its visibility."""
    # The part names and the field values are the contract; the image is any file.
    (
        photo_service.pact.upon_receiving("an upload of a photo")
        .given(ALICE_EXISTS)
        .with_request("POST", f"{API}/photos")
        .with_header("Authorization", BEARER)
        .with_header("Content-Type", MULTIPART)
        .with_binary_body(_upload_body("Sunset", "public"), f"multipart/form-data; boundary={BOUNDARY}")
        .with_matching_rules(ANY_FILE_RULE, part="Request")
        .will_respond_with(201)
        .with_body(
            photo_body(caption="Sunset", visibility="public") | {"content_type": "image/png"},
            content_type="application/json",
        )
    )
    with photo_service.exercise() as client:
        photo = client.upload(
            TOKEN,
            data=image_bytes("PNG", (16, 16)),
            filename="other.png",
            caption="Sunset",
            visibility="public",
        )
        assert (photo.caption, photo.visibility) == ("Sunset", "public")


def test_keyed_upload_replays_the_photo_the_key_made(photo_service: MockPhotoService) -> None:
    """The upload form's key as Idempotency-Key: the same form sent again gets the same photo."""
    (
        photo_service.pact.upon_receiving("an upload repeated with its Idempotency-Key")
        .given(ALICE_UPLOADED_WITH_KEY)
        .with_request("POST", f"{API}/photos")
        .with_header("Authorization", BEARER)
        .with_header("Idempotency-Key", IDEMPOTENCY_KEY)
        .with_header("Content-Type", MULTIPART)
        .with_binary_body(
            _upload_body(KEYED_UPLOAD_CAPTION, KEYED_UPLOAD_VISIBILITY),
            f"multipart/form-data; boundary={BOUNDARY}",
        )
        .with_matching_rules(ANY_FILE_RULE, part="Request")
        .will_respond_with(201)
        .with_body(
            photo_body(caption=KEYED_UPLOAD_CAPTION, visibility=KEYED_UPLOAD_VISIBILITY)
            | {"id": 1, "content_type": "image/png"},
            content_type="application/json",
        )
    )
    with photo_service.exercise() as client:
        photo = client.upload(
            TOKEN,
            data=image_bytes("PNG", (16, 16)),
            filename="form.png",
            caption=KEYED_UPLOAD_CAPTION,
            visibility=KEYED_UPLOAD_VISIBILITY,
            idempotency_key="Kx3-form-key_from-the-upload-page",
        )
        assert photo.id == 1


def test_keyed_upload_with_a_key_spent_on_another_upload(photo_service: MockPhotoService) -> None:
    """A key already spent on another upload is refused: idempotency-key-reused."""
    (
        photo_service.pact.upon_receiving("an upload whose Idempotency-Key made another photo")
        .given(ALICE_UPLOADED_WITH_KEY)
        .with_request("POST", f"{API}/photos")
        .with_header("Authorization", BEARER)
        .with_header("Idempotency-Key", IDEMPOTENCY_KEY)
        .with_header("Content-Type", MULTIPART)
        .with_binary_body(_upload_body("Sunset", "public"), f"multipart/form-data; boundary={BOUNDARY}")
        .with_matching_rules(ANY_FILE_RULE, part="Request")
        .will_respond_with(422)
        .with_body(
            problem("idempotency-key-reused", 422, "Idempotency-Key already used for another request"),
            content_type="application/problem+json",
        )
    )
    with photo_service.exercise() as client, pytest.raises(IdempotencyKeyReused):
        client.upload(
            TOKEN,
            data=image_bytes("PNG", (16, 16)),
            filename="other.png",
            caption="Sunset",
            visibility="public",
            idempotency_key=UPLOAD_KEY,
        )


def test_update(photo_service: MockPhotoService) -> None:
    """Changing a photo's caption and visibility."""
    (
        photo_service.pact.upon_receiving("an update of photo 1")
        .given(ALICE_OWNS_PHOTO)
        .with_request("PATCH", f"{API}/photos/1")
        .with_header("Authorization", BEARER)
        .with_body({"caption": "Sunrise", "visibility": "public"}, content_type="application/json")
        .will_respond_with(200)
        .with_body(photo_body(caption="Sunrise", visibility="public"), content_type="application/json")
    )
    with photo_service.exercise() as client:
        photo = client.update(TOKEN, 1, {"caption": "Sunrise", "visibility": "public"})
        assert (photo.caption, photo.visibility) == ("Sunrise", "public")


def test_delete(photo_service: MockPhotoService) -> None:
    """Deleting a photo."""
    (
        photo_service.pact.upon_receiving("a deletion of photo 1")
        .given(ALICE_OWNS_PHOTO)
        .with_request("DELETE", f"{API}/photos/1")
        .with_header("Authorization", BEARER)
        .will_respond_with(204)
    )
    with photo_service.exercise() as client:
        client.delete(TOKEN, 1)


def test_share(photo_service: MockPhotoService) -> None:
    """Sharing a photo with another user."""
    (
        photo_service.pact.upon_receiving("a share of photo 1 with bob")
        .given(ALICE_OWNS_PHOTO)
        .with_request("POST", f"{API}/photos/1/shares")
        .with_header("Authorization", BEARER)
        .with_body({"username": "bob"}, content_type="application/json")
        .will_respond_with(201)
        .with_body({"username": "bob", "created_at": TIMESTAMP}, content_type="application/json")
    )
    with photo_service.exercise() as client:
        client.share(TOKEN, 1, "bob")


def test_shares(photo_service: MockPhotoService) -> None:
    """Who a photo is shared with."""
    (
        photo_service.pact.upon_receiving("a request for the shares of photo 1")
        .given(ALICE_SHARES_PHOTO)
        .with_request("GET", f"{API}/photos/1/shares")
        .with_query_parameter("limit", "100")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {"items": match.each_like({"username": "bob", "created_at": TIMESTAMP}, min=1)},
            content_type="application/json",
        )
    )
    with photo_service.exercise() as client:
        assert [share.user.username for share in client.shares(TOKEN, 1, 100)] == ["bob"]


def test_revoke(photo_service: MockPhotoService) -> None:
    """Stopping sharing a photo with a user."""
    (
        photo_service.pact.upon_receiving("a revocation of bob's share of photo 1")
        .given(ALICE_SHARES_PHOTO)
        .with_request("DELETE", f"{API}/photos/1/shares/bob")
        .with_header("Authorization", BEARER)
        .will_respond_with(204)
    )
    with photo_service.exercise() as client:
        client.revoke(TOKEN, 1, "bob")


def test_content(photo_service: MockPhotoService) -> None:
    """The image as uploaded, with its content type."""
    (
        photo_service.pact.upon_receiving("a request for the content of photo 1")
        .given(ALICE_OWNS_PHOTO)
        .with_request("GET", f"{API}/photos/1/content")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_header("Content-Type", "image/png")
        .with_binary_body(PNG, "image/png")
        .with_matching_rules(content_type_rule("image/png"), part="Response")
    )
    with photo_service.exercise() as client:
        stream = client.content(TOKEN, 1)
        assert stream.content_type == "image/png"
        assert b"".join(stream.chunks()) == PNG


def test_thumbnail(photo_service: MockPhotoService) -> None:
    """The JPEG thumbnail."""
    (
        photo_service.pact.upon_receiving("a request for the thumbnail of photo 1")
        .given(ALICE_OWNS_PHOTO)
        .with_request("GET", f"{API}/photos/1/thumbnail")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_header("Content-Type", "image/jpeg")
        .with_binary_body(JPEG, "image/jpeg")
        .with_matching_rules(content_type_rule("image/jpeg"), part="Response")
    )
    with photo_service.exercise() as client:
        stream = client.thumbnail(TOKEN, 1)
        assert stream.content_type == "image/jpeg"
        assert b"".join(stream.chunks()) == JPEG


def _upload_body(caption: str, visibility: str) -> bytes:
    """The multipart body of an upload of PNG (32x24) with this caption and visibility."""
    return (
        _form_field("caption", caption)
        + _form_field("visibility", visibility)
        + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="sunset.png"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _form_field(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
