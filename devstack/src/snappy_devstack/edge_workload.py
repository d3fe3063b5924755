"""A client that keeps writing and reading through a strangler stack's edge while the stack moves.

One thread, one request at a time, round after round. Every request goes through the edge,
so each lands wherever the edge routes it at that moment: before, during or after a cutover
(`snappy cutover`, `snappy rehearse --phased`). Round n (every round started counts, from
0), with P the user of the last round before it whose user logged in, and Q the one before P:

1. signs a new user up, logs them in and reads `/users/me` with the token;
2. uploads a private photo (`workload_picture()`, captioned with the username) and reads,
   as its owner, its metadata and the owner's list of photos; without a P the round ends here;
3. shares it with P; P reads it (metadata, content, thumbnail) and P's feed; the owner
   lists its shares;
4. as P, edits P's photo: a new caption (not only ASCII), and the visibility `public` when
   n is odd, `private` when even; then reads P's profile and P's public photos;
5. when n % 4 is 2 or 3, as P, revokes the share P's photo has with Q; so the photos kept
   come in all four kinds: private or public, shared still or share revoked;
6. when n % 3 is 2, as Q, deletes Q's photo (edited, and perhaps unshared, the round before);
7. when n is odd, logs the user in a second time, reads `/users/me` with that token and
   logs it out (`DELETE /api/v1/tokens/current`); that token is never sent again.

Steps 4 to 6 are skipped for a photo there is none of, deleted, or whose state is unknown.
Only reads the contract answers 2xx are sent (no photo to a user who may not see it).
Each answer falls in one of three kinds, counted:

- acknowledged: 2xx;
- refused by a cutover's write freeze: the edge's declared 503 (`Retry-After: 1`, a problem
  document saying the writes "are paused while they move"), which a client is told to try
  again; the edge sends it without passing the request on, so nothing was written;
- unexpected: any other answer, or none at all. A cutover that loses nothing leaves none.

A round stops at its first request not acknowledged, and the next one starts a tenth of a
second later.

What the writes acknowledged leave is kept: the users with their profile, each photo with
its owner, caption, visibility, creation time and the users it is shared with now, the
photos deleted, the tokens logged out. A write only changes it once acknowledged. A write
answered unexpectedly, or not at all, may or may not have happened: its photo (or, for an
upload, the owner's lists of photos) is marked unknown and not read back.

`problems_reading_back`, once the workload has stopped, reads all of it back through the
edge from whichever parts own it then, and names each difference:

- every user logs in with its password (201); `/users/me` and its profile are the user
  signed up (username, display name, creation time);
- every photo kept is, to its owner, exactly as acknowledged (owner, caption, visibility,
  content type, size in pixels and bytes, creation time); its content is the uploaded
  bytes; its thumbnail is a JPEG; its shares are exactly the users it is shared with now
  (with the time each share was made); each of them sees it; a user a share was revoked
  from sees it only if it is public now (a private photo not shared with you is a 404);
- every photo deleted is a 404 to its owner, its content and thumbnail too;
- every user's photos (`/photos`), public photos (`/users/{username}/photos`) and feed
  hold exactly the photos kept that belong there: nothing deleted or unshared reappears;
- every token logged out is refused on `/users/me` (401).
"""

from __future__ import annotations

import io
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache, partial
from typing import Any, TypeVar

import httpx
from PIL import Image

from snappy_devstack.errors import one_line

__all__ = [
    "WORKLOAD_PASSWORD",
    "EdgeWorkload",
    "PhotoRecord",
    "UserRecord",
    "WorkloadTally",
    "is_freeze_refusal",
    "workload_picture",
    "workload_through",
]

WORKLOAD_PASSWORD = "workload-password"  # noqa: S105 - the made-up users' password
_API = "/api/v1"
# Long enough for an upload held up by a freeze's wait for the writes in flight.
_TIMEOUT_SECONDS = 30.0
# After an answer that is not 2xx (or none), the next round waits this long: sooner than a
# freeze's Retry-After (1 s), so the client keeps pressing on the freeze, without spinning.
_WAIT_AFTER_A_FAILED_REQUEST_SECONDS = 0.1
# How long stopping waits for the round in progress before leaving the thread behind.
_STOP_SECONDS = 60.0
# Small, so that an upload is decoded and thumbnailed quickly on a busy machine.
_PICTURE_SIZE = (64, 48)
_PICTURE_FILENAME = "walk.jpg"
# httpcore's words for a connection that closed before a single byte of an answer.
_CLOSED_BEFORE_ANY_ANSWER = "Server disconnected without sending a response"
# The page size the read-back asks for (the contract's maximum); it follows next_cursor beyond.
_PAGE_SIZE = 100
# How many of the read-back's checks run at once.
_READ_BACK_THREADS = 4
# Rounds whose number leaves these remainders by 4 revoke the share of the round before's photo.
_REVOKING_ROUNDS = (2, 3)
# A round whose number leaves this remainder by 3 deletes the photo of two rounds before.
_DELETING_ROUND = 2


@cache
def workload_picture() -> bytes:
    """The JPEG every round uploads: the same bytes each time, so a read-back can compare them."""
    width, height = _PICTURE_SIZE
    picture = Image.new("RGB", _PICTURE_SIZE)
    # A gradient, so the picture is not a single colour.
    picture.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG")
    return buffer.getvalue()


def is_freeze_refusal(response: httpx.Response) -> bool:
    """Whether `response` is a cutover's write freeze as the edge declares it (snappy_edge.app._frozen)."""
    if response.status_code != 503 or response.headers.get("Retry-After") != "1":
        return False
    if response.headers.get("Content-Type") != "application/problem+json":
        return False
    try:
        problem: Any = response.json()
    except ValueError:
        return False
    return isinstance(problem, dict) and "paused while they move" in str(problem.get("detail", ""))


@dataclass(frozen=True)
class WorkloadTally:
    """The workload's counts at one moment; `since` gives what happened between two of them."""

    requests: int = 0
    acknowledged: int = 0
    frozen: int = 0
    # One line per unexpected answer: the request and its status, or why none came.
    unexpected: tuple[str, ...] = ()
    # Requests sent again because the kept-alive connection they went out on closed before
    # any answer (`EdgeWorkload._request`); each counts once in `requests`.
    resent: int = 0

    def since(self, earlier: WorkloadTally) -> WorkloadTally:
        """What was counted after `earlier`, a tally of the same workload taken before this one."""
        return WorkloadTally(
            requests=self.requests - earlier.requests,
            acknowledged=self.acknowledged - earlier.acknowledged,
            frozen=self.frozen - earlier.frozen,
            unexpected=self.unexpected[len(earlier.unexpected) :],
            resent=self.resent - earlier.resent,
        )


@dataclass
class UserRecord:
    """A user whose sign-up was acknowledged, as the sign-up answered."""

    username: str
    display_name: str
    created_at: str
    # An upload of theirs went unanswered (or was answered unexpectedly): their lists may hold it.
    uploads_unknown: bool = False


@dataclass
class PhotoRecord:
    """A photo whose upload was acknowledged, as the writes acknowledged since left it."""

    photo_id: int
    owner: str
    caption: str
    visibility: str
    created_at: str
    # The users it is shared with now, each with the share's creation time.
    shared_with: dict[str, str] = field(default_factory=dict)
    # The users a share was revoked from (and not shared with again).
    unshared_from: set[str] = field(default_factory=set)
    deleted: bool = False
    # A write on it went unanswered (or was answered unexpectedly): what it holds now is not known.
    unknown: bool = False


class _NotAcknowledged(Exception):
    """A request of a round answered other than 2xx, or not at all: the round stops there."""


@dataclass
class _RoundUser:
    """A round's user, a token of theirs (never logged out) and the photo they uploaded, if any."""

    username: str
    token: str
    photo_id: int | None = None


@dataclass
class EdgeWorkload:
    """The client's rounds against the edge at `edge_url`, on a thread of its own, and what it saw."""

    edge_url: str
    # What the acknowledged writes left, by username and by photo id; the tokens logged out.
    user_records: dict[str, UserRecord] = field(default_factory=dict)
    photo_records: dict[int, PhotoRecord] = field(default_factory=dict)
    revoked_tokens: list[tuple[str, str]] = field(default_factory=list)
    _tally: WorkloadTally = field(default_factory=WorkloadTally)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def users(self) -> list[str]:
        """The users signed up, in order."""
        with self._lock:
            return list(self.user_records)

    @property
    def photos(self) -> list[tuple[str, int]]:
        """(owner, photo id) of each photo uploaded and not deleted, in order."""
        with self._lock:
            return [
                (photo.owner, photo.photo_id) for photo in self.photo_records.values() if not photo.deleted
            ]

    @property
    def shares(self) -> list[tuple[int, str]]:
        """(photo id, username) of each share standing now, on a photo not deleted."""
        with self._lock:
            return [
                (photo.photo_id, username)
                for photo in self.photo_records.values()
                if not photo.deleted
                for username in photo.shared_with
            ]

    def tally(self) -> WorkloadTally:
        """The counts now."""
        with self._lock:
            return self._tally

    def start(self) -> None:
        """Start the rounds on a daemon thread (one that never keeps the process alive)."""
        self._thread = threading.Thread(target=self._run, name="edge-workload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_STOP_SECONDS)

    def problems_reading_back(self, edge_url: str | None = None) -> list[str]:
        """Read every acknowledged write back through the edge: one line per difference.

        Through `edge_url`, or the workload's own when None. Call it once the workload has
        stopped; the module docstring lists the checks.
        """
        with self._lock:
            users = deepcopy(self.user_records)
            photos = deepcopy(self.photo_records)
            revoked = list(self.revoked_tokens)
        url = (edge_url or self.edge_url).rstrip("/")
        with httpx.Client(base_url=url, timeout=_TIMEOUT_SECONDS) as client:
            return _ReadBack(client, users, photos).problems(revoked)

    def _run(self) -> None:
        recent: list[_RoundUser] = []  # the users of the last two rounds that logged in
        number = 0
        with httpx.Client(base_url=self.edge_url.rstrip("/"), timeout=_TIMEOUT_SECONDS) as client:
            while not self._stop.is_set():
                try:
                    self._round(client, number, recent)
                except _NotAcknowledged:
                    pass  # counted when it was answered
                except (ValueError, KeyError, TypeError) as error:
                    # A 2xx whose body is not what the contract says: counted, and the rounds go on.
                    problem = f"an answer not as documented: {one_line(error)}"
                    with self._lock:
                        self._tally = replace(self._tally, unexpected=(*self._tally.unexpected, problem))
                number += 1

    def _round(self, client: httpx.Client, number: int, recent: list[_RoundUser]) -> None:
        """Round `number`, after the rounds in `recent`; once its user logs in, they end `recent`.

        It stops at the first request not acknowledged (`_NotAcknowledged`).
        """
        earlier = list(recent)
        username = f"walk{secrets.token_hex(4)}"
        profile = self._send(
            client,
            "POST",
            f"{_API}/users",
            json={"username": username, "password": WORKLOAD_PASSWORD, "display_name": username},
        ).json()
        with self._lock:
            self.user_records[username] = UserRecord(
                username, str(profile["display_name"]), str(profile["created_at"])
            )
        this_round = _RoundUser(username, self._log_in(client, username))
        recent[:] = [*earlier[-1:], this_round]
        token = this_round.token
        self._reads(client, token, f"{_API}/users/me")
        photo = self._upload(client, username, token)
        this_round.photo_id = photo.photo_id
        photo_path = f"{_API}/photos/{photo.photo_id}"
        self._reads(client, token, photo_path, f"{_API}/photos")
        if not earlier:
            return
        friend = earlier[-1]
        self._share(client, photo, friend.username, token)
        # The friend sees what was shared with them, from whichever part serves photos now.
        self._reads(
            client,
            friend.token,
            photo_path,
            f"{photo_path}/content",
            f"{photo_path}/thumbnail",
            f"{_API}/feed",
        )
        self._reads(client, token, f"{photo_path}/shares")
        friends_photo = self._writable(friend.photo_id)
        if friends_photo is not None:
            self._edit(client, friends_photo, friend.token, number)
            self._reads(
                client, token, f"{_API}/users/{friend.username}", f"{_API}/users/{friend.username}/photos"
            )
            if number % 4 in _REVOKING_ROUNDS and friends_photo.shared_with:
                self._unshare(client, friends_photo, next(iter(friends_photo.shared_with)), friend.token)
        if number % 3 == _DELETING_ROUND and len(earlier) == 2:
            earlier_photo = self._writable(earlier[0].photo_id)
            if earlier_photo is not None:
                self._delete(client, earlier_photo, earlier[0].token)
        if number % 2 == 1:
            self._log_out_a_second_token(client, username)

    def _log_in(self, client: httpx.Client, username: str) -> str:
        issued = self._send(
            client, "POST", f"{_API}/tokens", json={"username": username, "password": WORKLOAD_PASSWORD}
        )
        return str(issued.json()["access_token"])

    def _upload(self, client: httpx.Client, username: str, token: str) -> PhotoRecord:
        def unknown() -> None:
            self.user_records[username].uploads_unknown = True

        caption, visibility = username, "private"
        uploaded = self._send(
            client,
            "POST",
            f"{_API}/photos",
            token=token,
            files={"file": (_PICTURE_FILENAME, workload_picture(), "image/jpeg")},
            data={"caption": caption, "visibility": visibility},
            if_unknown=unknown,
        )
        with self._unknown_unless_documented(unknown):
            answer = uploaded.json()
            photo = PhotoRecord(int(answer["id"]), username, caption, visibility, str(answer["created_at"]))
        with self._lock:
            self.photo_records[photo.photo_id] = photo
        return photo

    def _share(self, client: httpx.Client, photo: PhotoRecord, username: str, token: str) -> None:
        shared = self._send(
            client,
            "POST",
            f"{_API}/photos/{photo.photo_id}/shares",
            token=token,
            json={"username": username},
            if_unknown=lambda: _mark_unknown(photo),
        )
        with self._unknown_unless_documented(lambda: _mark_unknown(photo)):
            created_at = str(shared.json()["created_at"])
        with self._lock:
            photo.shared_with[username] = created_at
            photo.unshared_from.discard(username)

    def _edit(self, client: httpx.Client, photo: PhotoRecord, token: str, number: int) -> None:
        # Not only ASCII: a caption must keep its characters across every store it moves through.
        caption = f"{photo.owner}, edited in round {number}: café ☕"
        visibility = "public" if number % 2 == 1 else "private"
        self._send(
            client,
            "PATCH",
            f"{_API}/photos/{photo.photo_id}",
            token=token,
            json={"caption": caption, "visibility": visibility},
            if_unknown=lambda: _mark_unknown(photo),
        )
        with self._lock:
            photo.caption, photo.visibility = caption, visibility

    def _unshare(self, client: httpx.Client, photo: PhotoRecord, username: str, token: str) -> None:
        self._send(
            client,
            "DELETE",
            f"{_API}/photos/{photo.photo_id}/shares/{username}",
            token=token,
            if_unknown=lambda: _mark_unknown(photo),
        )
        with self._lock:
            del photo.shared_with[username]
            photo.unshared_from.add(username)

    def _delete(self, client: httpx.Client, photo: PhotoRecord, token: str) -> None:
        self._send(
            client,
            "DELETE",
            f"{_API}/photos/{photo.photo_id}",
            token=token,
            if_unknown=lambda: _mark_unknown(photo),
        )
        with self._lock:
            photo.deleted = True

    def _log_out_a_second_token(self, client: httpx.Client, username: str) -> None:
        second = self._log_in(client, username)
        self._reads(client, second, f"{_API}/users/me")
        # A log-out that went unanswered may or may not have taken: its token is not kept.
        self._send(client, "DELETE", f"{_API}/tokens/current", token=second)
        with self._lock:
            self.revoked_tokens.append((username, second))

    @contextmanager
    def _unknown_unless_documented(self, unknown: Callable[[], None]) -> Iterator[None]:
        """Calls `unknown` (under the lock) when an acknowledged write's answer is not as documented.

        The write took, but what it made (a photo's id, a share's time) cannot be read.
        """
        try:
            yield
        except (ValueError, KeyError, TypeError):
            with self._lock:
                unknown()
            raise

    def _writable(self, photo_id: int | None) -> PhotoRecord | None:
        """The photo, unless there is none, it is deleted, or its state is not known."""
        with self._lock:
            photo = None if photo_id is None else self.photo_records.get(photo_id)
            return None if photo is None or photo.deleted or photo.unknown else photo

    def _reads(self, client: httpx.Client, token: str, *paths: str) -> None:
        """GET each of `paths` with `token` in turn."""
        for path in paths:
            self._send(client, "GET", path, token=token)

    def _send(
        self,
        client: httpx.Client,
        method: str,
        path: str,
        *,
        token: str | None = None,
        if_unknown: Callable[[], None] | None = None,
        **options: Any,
    ) -> httpx.Response:
        """The answer when acknowledged (2xx); raises `_NotAcknowledged` otherwise. Counted either way.

        `if_unknown` is called, under the lock, when the answer leaves it unknown whether the
        write happened: no answer, or one neither 2xx nor the freeze's refusal.
        """
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = f"{method} {path.split('?', maxsplit=1)[0]}"
        try:
            response = self._request(client, method, path, headers=headers, **options)
        except httpx.HTTPError as error:
            self._count(unexpected=f"{request}: no answer ({one_line(error)})", if_unknown=if_unknown)
        else:
            if 200 <= response.status_code < 300:
                self._count(acknowledged=True)
                return response
            if is_freeze_refusal(response):
                self._count(frozen=True)
            else:
                self._count(unexpected=f"{request}: {response.status_code}", if_unknown=if_unknown)
        self._stop.wait(_WAIT_AFTER_A_FAILED_REQUEST_SECONDS)
        raise _NotAcknowledged(request)

    def _request(self, client: httpx.Client, method: str, path: str, **options: Any) -> httpx.Response:
        """Send the request; once more, on a new connection, if a kept-alive one closed before any answer.

        At a flip the edge's nginx front reloads, and its old workers close the idle
        connections they kept alive: a request sent on one just then meets a closed
        connection and no answer, having reached no part. A browser sends such a request
        again on a new connection by itself (Chromium does for any method), and so does this
        client, once, counting it in `resent`. Any other failure is an answer not given.
        """
        try:
            return client.request(method, path, **options)
        except httpx.RemoteProtocolError as error:
            if _CLOSED_BEFORE_ANY_ANSWER not in str(error):
                raise
        with self._lock:
            self._tally = replace(self._tally, resent=self._tally.resent + 1)
        return client.request(method, path, **options)

    def _count(
        self,
        *,
        acknowledged: bool = False,
        frozen: bool = False,
        unexpected: str | None = None,
        if_unknown: Callable[[], None] | None = None,
    ) -> None:
        with self._lock:
            tally = self._tally
            self._tally = replace(
                tally,
                requests=tally.requests + 1,
                acknowledged=tally.acknowledged + acknowledged,
                frozen=tally.frozen + frozen,
                unexpected=(*tally.unexpected, unexpected) if unexpected is not None else tally.unexpected,
            )
            if unexpected is not None and if_unknown is not None:
                if_unknown()


def _mark_unknown(photo: PhotoRecord) -> None:
    photo.unknown = True


class _ReadBack:
    """One read-back of what the workload kept, through one client; `problems` runs it."""

    def __init__(
        self, client: httpx.Client, users: dict[str, UserRecord], photos: dict[int, PhotoRecord]
    ) -> None:
        self.client = client
        self.users = users
        self.photos = photos
        self.tokens: dict[str, str] = {}  # a fresh token of each user that logged in

    def problems(self, revoked: list[tuple[str, str]]) -> list[str]:
        """Every check, a few at a time (a log-in hashes a password: most of the time goes there)."""
        with ThreadPoolExecutor(_READ_BACK_THREADS) as pool:
            # The users first: the checks of photos and lists use the tokens their log-ins got.
            found = list(pool.map(partial(_checked, self.check_user), self.users.values()))
            photos = [
                photo for photo in self.photos.values() if not photo.unknown and photo.owner in self.tokens
            ]
            found += pool.map(partial(_checked, self.check_kept), photos)
            logged_in = [user for user in self.users.values() if user.username in self.tokens]
            found += pool.map(partial(_checked, self.check_lists), logged_in)
            found += pool.map(partial(_checked, self.check_logged_out), revoked)
        return [line for lines in found for line in lines]

    def check_user(self, user: UserRecord) -> list[str]:
        """The user logs in with its password; `/users/me` and its profile are as signed up."""
        found: list[str] = []
        name = user.username
        issued = self.client.post(f"{_API}/tokens", json={"username": name, "password": WORKLOAD_PASSWORD})
        if issued.status_code != 201:
            found.append(f"user {name}: log-in answered {issued.status_code}, not 201")
            return found
        token = str(issued.json()["access_token"])
        self.tokens[name] = token
        expected = {"username": name, "display_name": user.display_name, "created_at": user.created_at}
        for path in (f"{_API}/users/me", f"{_API}/users/{name}"):
            answer = self.get(path, token)
            if answer.status_code != 200:
                found.append(f"user {name}: GET {path} answered {answer.status_code}, not 200")
            else:
                found.extend(
                    f"user {name}: GET {path}: {line}" for line in _differences(answer.json(), expected)
                )
        return found

    def check_kept(self, photo: PhotoRecord) -> list[str]:
        """The photo as the writes acknowledged left it: deleted, or as checked below."""
        if photo.deleted:
            return self.check_deleted(photo)
        return [*self.check_photo(photo), *self.check_shares(photo), *self.check_who_sees(photo)]

    def check_logged_out(self, revoked: tuple[str, str]) -> list[str]:
        """A token logged out is refused."""
        username, token = revoked
        me = self.get(f"{_API}/users/me", token)
        if me.status_code != 401:
            return [f"{username}'s token logged out: GET /users/me answered {me.status_code}, not 401"]
        return []

    def check_deleted(self, photo: PhotoRecord) -> list[str]:
        """A photo deleted is a 404 to its owner: metadata, content and thumbnail."""
        found: list[str] = []
        path = f"{_API}/photos/{photo.photo_id}"
        for read in (path, f"{path}/content", f"{path}/thumbnail"):
            answer = self.get(read, self.tokens[photo.owner])
            if answer.status_code != 404:
                found.append(f"{_named(photo)}, deleted: GET {read} answered {answer.status_code}, not 404")
        return found

    def check_photo(self, photo: PhotoRecord) -> list[str]:
        """To its owner: the metadata acknowledged, the bytes uploaded, a JPEG thumbnail."""
        found: list[str] = []
        path = f"{_API}/photos/{photo.photo_id}"
        owner_token = self.tokens[photo.owner]
        metadata = self.get(path, owner_token)
        if metadata.status_code != 200:
            found.append(f"{_named(photo)}: GET {path} answered {metadata.status_code}, not 200")
        else:
            width, height = _PICTURE_SIZE
            expected: dict[str, object] = {
                "id": photo.photo_id,
                "owner": photo.owner,
                "caption": photo.caption,
                "visibility": photo.visibility,
                "content_type": "image/jpeg",
                "width": width,
                "height": height,
                "size_bytes": len(workload_picture()),
                "created_at": photo.created_at,
            }
            found.extend(f"{_named(photo)}: {line}" for line in _differences(metadata.json(), expected))
        content = self.get(f"{path}/content", owner_token)
        if content.status_code != 200 or content.content != workload_picture():
            found.append(
                f"{_named(photo)}: GET {path}/content answered {content.status_code} with"
                f" {len(content.content)} bytes, not 200 with the {len(workload_picture())} uploaded"
            )
        thumbnail = self.get(f"{path}/thumbnail", owner_token)
        if thumbnail.status_code != 200 or thumbnail.headers.get("Content-Type") != "image/jpeg":
            found.append(
                f"{_named(photo)}: GET {path}/thumbnail answered {thumbnail.status_code}"
                f" {thumbnail.headers.get('Content-Type')}, not 200 image/jpeg"
            )
        return found

    def check_shares(self, photo: PhotoRecord) -> list[str]:
        """Its shares are exactly the users it is shared with now, each made when acknowledged."""
        found: list[str] = []
        path = f"{_API}/photos/{photo.photo_id}/shares"
        shares = self.pages(path, self.tokens[photo.owner])
        if shares is None:
            found.append(f"{_named(photo)}: GET {path} did not answer 200")
            return found
        listed = {str(share["username"]): share.get("created_at") for share in shares}
        if set(listed) != set(photo.shared_with):
            found.append(f"{_named(photo)}: shared with {sorted(listed)}, not {sorted(photo.shared_with)}")
        for username in set(listed) & set(photo.shared_with):
            if not _same_moment(listed[username], photo.shared_with[username]):
                found.append(
                    f"{_named(photo)}: the share with {username} made at {listed[username]!r},"
                    f" not {photo.shared_with[username]!r}"
                )
        return found

    def check_who_sees(self, photo: PhotoRecord) -> list[str]:
        """Each user it is shared with sees it; a user a share was revoked from, only if it is public."""
        found: list[str] = []
        path = f"{_API}/photos/{photo.photo_id}"
        seeing = dict.fromkeys(photo.shared_with, 200)
        # A private photo not shared with the caller is answered like one that does not exist.
        seeing |= dict.fromkeys(photo.unshared_from, 200 if photo.visibility == "public" else 404)
        for username, expected in seeing.items():
            if username not in self.tokens:
                continue
            answer = self.get(path, self.tokens[username])
            if answer.status_code != expected:
                how = "shared" if username in photo.shared_with else "share revoked"
                found.append(
                    f"{_named(photo)}, {photo.visibility}, to {username} ({how}):"
                    f" GET {path} answered {answer.status_code}, not {expected}"
                )
        return found

    def check_lists(self, user: UserRecord) -> list[str]:
        """The user's photos, public photos and feed: exactly the photos kept that belong there."""
        found: list[str] = []
        name = user.username
        unknown = {photo.photo_id for photo in self.photos.values() if photo.unknown}
        live = [photo for photo in self.photos.values() if not photo.deleted and not photo.unknown]
        expected = {f"{_API}/feed": {photo.photo_id for photo in live if name in photo.shared_with}}
        if not user.uploads_unknown:
            owned = [photo for photo in live if photo.owner == name]
            expected[f"{_API}/photos"] = {photo.photo_id for photo in owned}
            expected[f"{_API}/users/{name}/photos"] = {
                photo.photo_id for photo in owned if photo.visibility == "public"
            }
        for path, ids in expected.items():
            items = self.pages(path, self.tokens[name])
            if items is None:
                found.append(f"user {name}: GET {path} did not answer 200")
                continue
            listed = {int(item["id"]) for item in items} - unknown
            if listed - ids:
                found.append(f"user {name}: GET {path} lists {sorted(listed - ids)}, which it should not")
            if ids - listed:
                found.append(f"user {name}: GET {path} lacks {sorted(ids - listed)}")
        return found

    def get(self, path: str, token: str, **params: Any) -> httpx.Response:
        return self.client.get(path, headers={"Authorization": f"Bearer {token}"}, params=params)

    def pages(self, path: str, token: str) -> list[dict[str, Any]] | None:
        """Every item of the list at `path`, page after page; None when a page is not answered 200."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": _PAGE_SIZE}
        while True:
            page = self.get(path, token, **params)
            if page.status_code != 200:
                return None
            body = page.json()
            items.extend(body["items"])
            if body["next_cursor"] is None:
                return items
            params["cursor"] = body["next_cursor"]


def _named(photo: PhotoRecord) -> str:
    return f"photo {photo.photo_id} of {photo.owner}"


_Checked = TypeVar("_Checked", UserRecord, PhotoRecord, tuple[str, str])


def _checked(check: Callable[[_Checked], list[str]], checked: _Checked) -> list[str]:
    """What `check` finds of `checked`; an answer missing or not as documented is one line too."""
    try:
        return check(checked)
    except httpx.HTTPError as error:
        return [f"{_what(checked)}: no answer ({one_line(error)})"]
    except (ValueError, KeyError, TypeError) as error:
        return [f"{_what(checked)}: an answer not as documented ({one_line(error)})"]


def _what(checked: UserRecord | PhotoRecord | tuple[str, str]) -> str:
    if isinstance(checked, UserRecord):
        return f"user {checked.username}"
    if isinstance(checked, PhotoRecord):
        return _named(checked)
    return f"{checked[0]}'s token logged out"


def _differences(answer: dict[str, Any], expected: Mapping[str, object]) -> list[str]:
    """One line per field of `answer` that is not as `expected` (timestamps compared as moments)."""
    return [
        f"{key} is {answer.get(key)!r}, not {value!r}"
        for key, value in expected.items()
        if not (_same_moment(answer.get(key), value) if key == "created_at" else answer.get(key) == value)
    ]


def _same_moment(listed: object, acknowledged: object) -> bool:
    """Whether two of the contract's timestamps name the same moment (spelled alike or not)."""
    try:
        return datetime.fromisoformat(str(listed)) == datetime.fromisoformat(str(acknowledged))
    except ValueError:
        return False


@contextmanager
def workload_through(edge_url: str) -> Iterator[EdgeWorkload]:
    """The workload running against `edge_url` while the context lasts."""
    workload = EdgeWorkload(edge_url)
    workload.start()
    try:
        yield workload
    finally:
        workload.stop()
