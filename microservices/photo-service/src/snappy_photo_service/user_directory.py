"""Who users are, asked of user-service through its internal lookup endpoint.

The photo service stores user ids only. To show usernames, and to turn a username named
in a request into an id, it calls `POST /internal/v1/users/lookup` on user-service: once
for all the users a response needs, never once per item.

Users by id (username and creation time) are kept in memory for `cache_ttl_seconds`: an
id is never reused and a username never changes, so the time limit only bounds memory and
how long a user that no longer exists is remembered. The same cache checks that a token
binds an existing account (`user`), so that check costs no call once a caller is known.
Ids by username are asked for every time (at most one per request): a username freed by
a deleted account could name someone else, and a share must never go to the wrong account.
Users user-service does not know are not remembered, so someone who signs up is found at
once.

The lookup is a read, sent through a `snappy_plumbing.peers.PeerClient` with its timeouts
and retries. When user-service does not answer and the answer is not cached, the request
fails with 503 service-unavailable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx

from snappy_photo_service.config import UserServiceSettings
from snappy_plumbing.errors import ServiceUnavailable
from snappy_plumbing.peers import PeerClient, PeerUnavailable
from snappy_plumbing.validation import is_valid_username

__all__ = ["LOOKUP_PATH", "MAX_LOOKUP_ENTRIES", "KnownUser", "UserDirectory"]

LOOKUP_PATH = "/internal/v1/users/lookup"
# user-service refuses a lookup of more ids and usernames than this at once.
MAX_LOOKUP_ENTRIES = 500
UNAVAILABLE_DETAIL = "The user directory does not answer; try again shortly"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownUser:
    """A user as user-service knows them: the two names of one account, and when it was created."""

    user_id: int
    username: str
    created_at: datetime


class UserDirectory:
    """Usernames by user id (cached for a while) and user ids by username, from user-service."""

    def __init__(
        self,
        settings: UserServiceSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._user_service = PeerClient(
            "user-service", settings.url, settings.calls, sleep=sleep, transport=transport
        )
        self._lock = threading.Lock()
        # User by id, with the moment the entry expires.
        self._users: dict[int, tuple[KnownUser, float]] = {}
        self._next_sweep = clock() + settings.cache_ttl_seconds

    def usernames(self, user_ids: Iterable[int]) -> dict[int, str]:
        """The username of each id that user-service knows; unknown ids are left out.

        Cached ids cost nothing; all the others are looked up together, in one call.
        """
        wanted = set(user_ids)
        found: dict[int, str] = {}
        now = self._clock()
        with self._lock:
            for user_id in wanted:
                cached = self._users.get(user_id)
                if cached is not None and cached[1] > now:
                    found[user_id] = cached[0].username
        missing = sorted(wanted - found.keys())
        for start in range(0, len(missing), MAX_LOOKUP_ENTRIES):
            batch = missing[start : start + MAX_LOOKUP_ENTRIES]
            for user in self._lookup({"ids": batch, "usernames": []}):
                if user.user_id in wanted:
                    found[user.user_id] = user.username
        return found

    def user(self, user_id: int) -> KnownUser | None:
        """The user with this id (from the cache when known); None when user-service knows no such user."""
        with self._lock:
            cached = self._users.get(user_id)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        users = self._lookup({"ids": [user_id], "usernames": []})
        return next((user for user in users if user.user_id == user_id), None)

    def user_id(self, username: str) -> int | None:
        """The id of the user with this username; None when there is no such user."""
        if not is_valid_username(username):
            return None
        users = self._lookup({"ids": [], "usernames": [username]})
        return next((user.user_id for user in users if user.username == username), None)

    def close(self) -> None:
        """Close the pooled connections to user-service."""
        self._user_service.close()

    def _lookup(self, body: dict[str, list[int] | list[str]]) -> list[KnownUser]:
        users = self._call(body)
        self._remember(users)
        return users

    def _call(self, body: dict[str, list[int] | list[str]]) -> list[KnownUser]:
        try:
            response = self._user_service.read("POST", LOOKUP_PATH, json=body)
        except PeerUnavailable:
            raise ServiceUnavailable(UNAVAILABLE_DETAIL) from None
        if response.status_code != 200:
            # The request itself was refused: sending it again would change nothing.
            logger.error(
                "user-service refused a lookup",
                extra={"status": response.status_code, "body": response.text[:500]},
            )
            raise ServiceUnavailable(UNAVAILABLE_DETAIL)
        return _parse_users(response)

    def _remember(self, users: list[KnownUser]) -> None:
        now = self._clock()
        expires_at = now + self._settings.cache_ttl_seconds
        with self._lock:
            if now >= self._next_sweep:
                self._forget_expired(now)
            for user in users:
                self._users[user.user_id] = (user, expires_at)

    def _forget_expired(self, now: float) -> None:
        self._users = {key: entry for key, entry in self._users.items() if entry[1] > now}
        self._next_sweep = now + self._settings.cache_ttl_seconds


def _parse_users(response: httpx.Response) -> list[KnownUser]:
    try:
        document = response.json()
        users = [_known_user(item) for item in document["users"]]
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("user-service answered a lookup with an unexpected body", extra={"error": str(exc)})
        raise ServiceUnavailable(UNAVAILABLE_DETAIL) from None
    return users


def _known_user(item: object) -> KnownUser:
    if not isinstance(item, dict):
        raise TypeError("a user must be an object")
    user_id, username, created_at = item["id"], item["username"], item["created_at"]
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(username, str):
        raise TypeError("a user needs an integer id and a string username")
    if not isinstance(created_at, str):
        raise TypeError("a user needs a created_at timestamp")
    return KnownUser(user_id=user_id, username=username, created_at=datetime.fromisoformat(created_at))
