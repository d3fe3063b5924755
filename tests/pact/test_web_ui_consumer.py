"""web-ui's expectations of user-service and photo-service, recorded as pacts.

Each test drives one of web-ui's real peer clients against a Pact mock server that
answers one interaction; the interactions the clients really send are merged into one
pact per provider, written to shared_contracts/pacts/ once every test of the module
has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from pact import Pact, match
from pact.interaction import HttpInteraction
from pact.match.matcher import AbstractMatcher

from snappy_plumbing.errors import IdempotencyKeyReused, NotFound, UsernameTaken
from snappy_topology import PartName
from snappy_web_ui.clients import ImageStream, Photo, PhotoServiceClient, UserServiceClient
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
    peers = PeerSettings(user_service_url=url, photo_service_url=url)
    return replace(peers, calls=replace(peers.calls, attempts=1))


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


def sign_up_request(pact: Pact, description: str, state: str, display_name: str) -> HttpInteraction:
    """A sign-up as web-ui's form sends it: alice, with the states' password and this display name."""
    return (
        pact.upon_receiving(description)
        .given(state)
        .with_request("POST", f"{API}/users")
        .with_body(
            {"username": "alice", "password": PASSWORD, "display_name": display_name},
            content_type="application/json",
        )
    )


def signed_in_request(
    pact: Pact, description: str, state: str, method: str, path: str, *, limit: int | None = None
) -> HttpInteraction:
    """An interaction in which web-ui calls `method` on the API's `path` with a user's bearer token."""
    interaction = pact.upon_receiving(description).given(state).with_request(method, f"{API}{path}")
    if limit is not None:
        interaction.with_query_parameter("limit", str(limit))
    return interaction.with_header("Authorization", BEARER)


def upload_request(
    pact: Pact, description: str, state: str, caption: str, visibility: str, *, keyed: bool
) -> HttpInteraction:
    """An upload as web-ui sends it: multipart with any file, this caption and visibility, keyed or not."""
    interaction = signed_in_request(pact, description, state, "POST", "/photos")
    if keyed:
        interaction.with_header("Idempotency-Key", IDEMPOTENCY_KEY)
    return (
        interaction.with_header("Content-Type", MULTIPART)
        .with_binary_body(_upload_body(caption, visibility), f"multipart/form-data; boundary={BOUNDARY}")
        .with_matching_rules(ANY_FILE_RULE, part="Request")
    )


def upload_from_the_form(
    client: PhotoServiceClient,
    filename: str,
    caption: str,
    visibility: str,
    idempotency_key: str | None = None,
) -> Photo:
    """What web-ui's upload form sends: another image than the pact's example, as any file may be."""
    return client.upload(
        TOKEN,
        data=image_bytes("PNG", (16, 16)),
        filename=filename,
        caption=caption,
        visibility=visibility,
        idempotency_key=idempotency_key,
    )


# user-service


def test_sign_up_returns_the_new_user(user_service: MockUserService) -> None:
    """Signing up returns the new user."""
    (
        sign_up_request(user_service.pact, "a sign-up", NO_USERS, "Alice Liddell")
        .will_respond_with(201)
        .with_body(user_body("alice"), content_type="application/json")
    )
    with user_service.exercise() as client:
        user = client.sign_up("alice", PASSWORD, "Alice Liddell")
        assert user.username == "alice"


def test_sign_up_with_a_taken_username_is_refused_as_username_taken(user_service: MockUserService) -> None:
    """Signing up with a taken username is a username-taken problem."""
    (
        sign_up_request(user_service.pact, "a sign-up with a taken username", ALICE_EXISTS, "Another Alice")
        .will_respond_with(409)
        .with_body(problem("username-taken", 409, "Username taken"), content_type="application/problem+json")
    )
    with user_service.exercise() as client, pytest.raises(UsernameTaken):
        client.sign_up("alice", PASSWORD, "Another Alice")


def test_log_in_returns_an_access_token(user_service: MockUserService) -> None:
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


def test_log_out_revokes_the_token_it_is_sent_with(user_service: MockUserService) -> None:
    """Logging out revokes the session's access token."""
    signed_in_request(
        user_service.pact, "a log-out", ALICE_EXISTS, "DELETE", "/tokens/current"
    ).will_respond_with(204)
    with user_service.exercise() as client:
        client.log_out(TOKEN)


def test_a_profile_is_read_by_username(user_service: MockUserService) -> None:
    """A user's profile, by username."""
    (
        signed_in_request(
            user_service.pact, "a request for alice's profile", ALICE_EXISTS, "GET", "/users/alice"
        )
        .will_respond_with(200)
        .with_body(user_body("alice"), content_type="application/json")
    )
    with user_service.exercise() as client:
        assert client.user("alice", TOKEN).username == "alice"


def test_the_profile_of_an_unknown_user_is_not_found(user_service: MockUserService) -> None:
    """The profile of someone who does not exist is a not-found problem."""
    (
        signed_in_request(
            user_service.pact,
            "a request for the profile of an unknown user",
            ALICE_EXISTS,
            "GET",
            "/users/nobody",
        )
        .will_respond_with(404)
        .with_body(problem("not-found", 404, "Not found"), content_type="application/problem+json")
    )
    with user_service.exercise() as client, pytest.raises(NotFound):
        client.user("nobody", TOKEN)


# photo-service


def test_my_photos_come_one_page_at_a_time(photo_service: MockPhotoService) -> None:
    """A page of the caller's photos."""
    (
        signed_in_request(
            photo_service.pact, "a request for my photos", ALICE_OWNS_PHOTO, "GET", "/photos", limit=20
        )
        .will_respond_with(200)
        .with_body(photo_page(), content_type="application/json")
    )
    with photo_service.exercise() as client:
        page = client.own_photos(TOKEN, 20, None)
        assert [photo.owner for photo in page.items] == ["alice"]
        assert page.next_cursor is None


def test_a_users_public_photos_come_one_page_at_a_time(photo_service: MockPhotoService) -> None:
    """A page of someone's public photos."""
    (
        signed_in_request(
            photo_service.pact,
            "a request for bob's public photos",
            BOB_SHARES_PHOTO,
            "GET",
            "/users/bob/photos",
            limit=20,
        )
        .will_respond_with(200)
        .with_body(photo_page("bob"), content_type="application/json")
    )
    with photo_service.exercise() as client:
        page = client.public_photos(TOKEN, "bob", 20, None)
        assert [photo.owner for photo in page.items] == ["bob"]


def test_the_feed_lists_the_photos_shared_with_me(photo_service: MockPhotoService) -> None:
    """A page of the photos shared with the caller."""
    (
        signed_in_request(
            photo_service.pact, "a request for my feed", BOB_SHARES_PHOTO, "GET", "/feed", limit=20
        )
        .will_respond_with(200)
        .with_body(photo_page("bob"), content_type="application/json")
    )
    with photo_service.exercise() as client:
        page = client.feed(TOKEN, 20, None)
        assert [photo.owner for photo in page.items] == ["bob"]


def test_a_photo_is_read_by_id(photo_service: MockPhotoService) -> None:
    """One photo's metadata."""
    (
        signed_in_request(photo_service.pact, "a request for photo 1", ALICE_OWNS_PHOTO, "GET", "/photos/1")
        .will_respond_with(200)
        .with_body(photo_body(), content_type="application/json")
    )
    with photo_service.exercise() as client:
        assert client.photo(TOKEN, 1).owner == "alice"


def test_a_missing_photo_is_not_found(photo_service: MockPhotoService) -> None:
    """A photo that does not exist is a not-found problem."""
    (
        signed_in_request(
            photo_service.pact, "a request for a photo that does not exist", ALICE_EXISTS, "GET", "/photos/1"
        )
        .will_respond_with(404)
        .with_body(problem("not-found", 404, "Not found"), content_type="application/problem+json")
    )
    with photo_service.exercise() as client, pytest.raises(NotFound):
        client.photo(TOKEN, 1)


def test_an_upload_sends_file_caption_and_visibility_as_multipart(photo_service: MockPhotoService) -> None:
    """Uploading an image as multipart: the file, its caption and its visibility."""
    # The part names and the field values are the contract; the image is any file.
    (
        upload_request(
            photo_service.pact, "an upload of a photo", ALICE_EXISTS, "Sunset", "public", keyed=False
        )
        .will_respond_with(201)
        .with_body(
            photo_body(caption="Sunset", visibility="public") | {"content_type": "image/png"},
            content_type="application/json",
        )
    )
    with photo_service.exercise() as client:
        photo = upload_from_the_form(client, "other.png", "Sunset", "public")
        assert (photo.caption, photo.visibility) == ("Sunset", "public")


def test_a_keyed_upload_sent_again_gets_the_photo_its_key_made(photo_service: MockPhotoService) -> None:
    """The upload form's key as Idempotency-Key: the same form sent again gets the same photo."""
    (
        upload_request(
            photo_service.pact,
            "an upload repeated with its Idempotency-Key",
            ALICE_UPLOADED_WITH_KEY,
            KEYED_UPLOAD_CAPTION,
            KEYED_UPLOAD_VISIBILITY,
            keyed=True,
        )
        .will_respond_with(201)
        .with_body(
            photo_body(caption=KEYED_UPLOAD_CAPTION, visibility=KEYED_UPLOAD_VISIBILITY)
            | {"id": 1, "content_type": "image/png"},
            content_type="application/json",
        )
    )
    with photo_service.exercise() as client:
        photo = upload_from_the_form(
            client,
            "form.png",
            KEYED_UPLOAD_CAPTION,
            KEYED_UPLOAD_VISIBILITY,
            idempotency_key="Kx3-form-key_from-the-upload-page",
        )
        assert photo.id == 1


def test_a_key_spent_on_another_upload_is_refused_as_reused(photo_service: MockPhotoService) -> None:
    """A key already spent on another upload is refused: idempotency-key-reused."""
    (
        upload_request(
            photo_service.pact,
            "an upload whose Idempotency-Key made another photo",
            ALICE_UPLOADED_WITH_KEY,
            "Sunset",
            "public",
            keyed=True,
        )
        .will_respond_with(422)
        .with_body(
            problem("idempotency-key-reused", 422, "Idempotency-Key already used for another request"),
            content_type="application/problem+json",
        )
    )
    with photo_service.exercise() as client, pytest.raises(IdempotencyKeyReused):
        upload_from_the_form(client, "other.png", "Sunset", "public", idempotency_key=UPLOAD_KEY)


def test_an_update_changes_caption_and_visibility(photo_service: MockPhotoService) -> None:
    """Changing a photo's caption and visibility."""
    (
        signed_in_request(photo_service.pact, "an update of photo 1", ALICE_OWNS_PHOTO, "PATCH", "/photos/1")
        .with_body({"caption": "Sunrise", "visibility": "public"}, content_type="application/json")
        .will_respond_with(200)
        .with_body(photo_body(caption="Sunrise", visibility="public"), content_type="application/json")
    )
    with photo_service.exercise() as client:
        photo = client.update(TOKEN, 1, {"caption": "Sunrise", "visibility": "public"})
        assert (photo.caption, photo.visibility) == ("Sunrise", "public")


def test_a_deletion_is_answered_with_no_content(photo_service: MockPhotoService) -> None:
    """Deleting a photo."""
    signed_in_request(
        photo_service.pact, "a deletion of photo 1", ALICE_OWNS_PHOTO, "DELETE", "/photos/1"
    ).will_respond_with(204)
    with photo_service.exercise() as client:
        client.delete(TOKEN, 1)


def test_sharing_names_the_recipient(photo_service: MockPhotoService) -> None:
    """Sharing a photo with another user."""
    (
        signed_in_request(
            photo_service.pact, "a share of photo 1 with bob", ALICE_OWNS_PHOTO, "POST", "/photos/1/shares"
        )
        .with_body({"username": "bob"}, content_type="application/json")
        .will_respond_with(201)
        .with_body({"username": "bob", "created_at": TIMESTAMP}, content_type="application/json")
    )
    with photo_service.exercise() as client:
        client.share(TOKEN, 1, "bob")


def test_the_shares_of_a_photo_list_its_recipients(photo_service: MockPhotoService) -> None:
    """Who a photo is shared with."""
    (
        signed_in_request(
            photo_service.pact,
            "a request for the shares of photo 1",
            ALICE_SHARES_PHOTO,
            "GET",
            "/photos/1/shares",
            limit=100,
        )
        .will_respond_with(200)
        .with_body(
            {"items": match.each_like({"username": "bob", "created_at": TIMESTAMP}, min=1)},
            content_type="application/json",
        )
    )
    with photo_service.exercise() as client:
        assert [share.user.username for share in client.shares(TOKEN, 1, 100)] == ["bob"]


def test_revoking_a_share_is_answered_with_no_content(photo_service: MockPhotoService) -> None:
    """Stopping sharing a photo with a user."""
    signed_in_request(
        photo_service.pact,
        "a revocation of bob's share of photo 1",
        ALICE_SHARES_PHOTO,
        "DELETE",
        "/photos/1/shares/bob",
    ).will_respond_with(204)
    with photo_service.exercise() as client:
        client.revoke(TOKEN, 1, "bob")


@pytest.mark.parametrize(
    ("image", "read", "content_type", "body"),
    [
        ("content", PhotoServiceClient.content, "image/png", PNG),
        ("thumbnail", PhotoServiceClient.thumbnail, "image/jpeg", JPEG),
    ],
)
def test_an_image_and_its_thumbnail_come_with_their_type(
    photo_service: MockPhotoService,
    image: str,
    read: Callable[[PhotoServiceClient, str, int], ImageStream],
    content_type: str,
    body: bytes,
) -> None:
    """The image as uploaded, and its JPEG thumbnail, each with its content type."""
    (
        signed_in_request(
            photo_service.pact,
            f"a request for the {image} of photo 1",
            ALICE_OWNS_PHOTO,
            "GET",
            f"/photos/1/{image}",
        )
        .will_respond_with(200)
        .with_header("Content-Type", content_type)
        .with_binary_body(body, content_type)
        .with_matching_rules(content_type_rule(content_type), part="Response")
    )
    with photo_service.exercise() as client:
        stream = read(client, TOKEN, 1)
        assert stream.content_type == content_type
        assert b"".join(stream.chunks()) == body


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
