"""Users from user-service, for the monolith's pages and photos once user-service owns them.

From phase 1 (`snappy_monolith.ownership`) user-service is the one writer of users and
tokens. The monolith keeps serving its pages (sign-up, log-in, log-out, profiles) and its
photo API, and reaches users through user-service's API instead of its own tables:

- sign-up is `POST /api/v1/users`, log-in `POST /api/v1/tokens` (user-service's throttle
  counts the visitor's address, forwarded as X-Forwarded-For), log-out
  `DELETE /api/v1/tokens/current`;
- a token binds an account when `GET /api/v1/users/me` with it answers that exact account
  (id, username, creation time): user-service checks its signature, its revocation and the
  account, the monolith checks the binding again;
- a username becomes an account with `POST /internal/v1/users/lookup`.

The monolith's photos and shares keep their foreign keys to its `users` table, so the
monolith keeps a *reference row* of every account they name: id, username, display name
and creation time copied from user-service's answer, and the password hash `!`, which no
password matches. It is written only from user-service's data, only when missing (the
four columns never change), and it is never authoritative: `snappy migrate verify`
proves each one equal to user-service's row, and `snappy migrate sync` does not send it
back (docs/decisions.md, ADR on data ownership).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from snappy_monolith.config import Settings
from snappy_monolith.errors import (
    AuthenticationRequired,
    FieldError,
    InvalidCredentials,
    NotFound,
    ServiceUnavailable,
    TooManyAttempts,
    UsernameTaken,
    ValidationFailed,
)
from snappy_monolith.models import User
from snappy_monolith.revocations import REFUSED_DETAIL
from snappy_monolith.tokens import TokenClaims
from snappy_monolith.validation import is_valid_username

__all__ = [
    "LOOKUP_PATH",
    "REFERENCE_PASSWORD_HASH",
    "Account",
    "RemoteUsers",
    "ensure_reference_row",
]

LOOKUP_PATH = "/internal/v1/users/lookup"
# user-service refuses a lookup of more ids and usernames than this at once.
MAX_LOOKUP_ENTRIES = 500
# A reference row's password hash: not an Argon2 hash, so no password verifies against it
# (passwords.verify_password), as "!" locks an account in /etc/shadow.
REFERENCE_PASSWORD_HASH = "!"  # noqa: S105 - a marker, not a secret
_UNAVAILABLE = "The user directory does not answer; try again shortly"
_DEFAULT_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Account:
    """An account as user-service answers it: the attributes the pages show of a user."""

    id: int
    username: str
    display_name: str
    created_at: datetime


class RemoteUsers:
    """user-service's public and internal API, as the monolith's pages and photo API need it."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        if settings.user_service_url is None:
            raise ValueError("SNAPPY_USER_SERVICE_URL is not set")
        self._client = httpx.Client(
            base_url=settings.user_service_url,
            timeout=httpx.Timeout(settings.service_timeout_seconds),
            transport=transport,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def sign_up(self, username: str, password: str, display_name: str) -> Account:
        """Create the account on user-service; 422 and 409 as user-service answers them."""
        body = {"username": username, "password": password, "display_name": display_name}
        response = self._call("POST", "/api/v1/users", json=body)
        if response.status_code == 201:
            return _account(_document(response))
        if response.status_code == 409:
            raise UsernameTaken(_detail(response, f"The username {username!r} is taken"))
        if response.status_code == 422:
            raise ValidationFailed(_field_errors(response))
        raise ServiceUnavailable(_UNAVAILABLE)

    def log_in(self, username: str, password: str, client_address: str | None) -> str:
        """A token for these credentials, issued by user-service; 401 or 429 as it answers."""
        headers = {"X-Forwarded-For": client_address} if client_address else {}
        response = self._call(
            "POST", "/api/v1/tokens", json={"username": username, "password": password}, headers=headers
        )
        if response.status_code == 201:
            token = _document(response).get("access_token")
            if not isinstance(token, str):
                raise ServiceUnavailable(_UNAVAILABLE)
            return token
        if response.status_code in (401, 422):
            raise InvalidCredentials("The username or password is wrong")
        if response.status_code == 429:
            raise TooManyAttempts(_retry_after(response))
        raise ServiceUnavailable(_UNAVAILABLE)

    def log_out(self, token: str) -> None:
        """Revoke the token on user-service; a token it refuses already opens nothing."""
        response = self._call("DELETE", "/api/v1/tokens/current", headers=_bearer(token))
        if response.status_code not in (204, 401):
            raise ServiceUnavailable(_UNAVAILABLE)

    def bound_caller(self, token: str, claims: TokenClaims) -> tuple[TokenClaims, Account]:
        """The claims and their account when user-service honours the token for that account; else 401."""
        response = self._call("GET", "/api/v1/users/me", headers=_bearer(token))
        if response.status_code == 401:
            raise AuthenticationRequired(REFUSED_DETAIL)
        if response.status_code != 200:
            raise ServiceUnavailable(_UNAVAILABLE)
        account = _account(_document(response))
        if not claims.binds(account.id, account.username, account.created_at):
            raise AuthenticationRequired(REFUSED_DETAIL)
        return replace(claims, username=account.username), account

    def find(self, username: str) -> Account | None:
        """The account with this username, if user-service knows one."""
        if not is_valid_username(username):
            return None
        response = self._call("POST", LOOKUP_PATH, json={"ids": [], "usernames": [username]})
        if response.status_code != 200:
            raise ServiceUnavailable(_UNAVAILABLE)
        users = _document(response).get("users")
        if not isinstance(users, list):
            raise ServiceUnavailable(_UNAVAILABLE)
        found = [_account(item) for item in users]
        return next((account for account in found if account.username == username), None)

    def display_names(self, usernames: Iterable[str]) -> dict[str, str]:
        """The display name of each username user-service knows, in one lookup per 500 names."""
        wanted = sorted({username for username in usernames if is_valid_username(username)})
        names: dict[str, str] = {}
        for start in range(0, len(wanted), MAX_LOOKUP_ENTRIES):
            batch = wanted[start : start + MAX_LOOKUP_ENTRIES]
            response = self._call("POST", LOOKUP_PATH, json={"ids": [], "usernames": batch})
            if response.status_code != 200:
                raise ServiceUnavailable(_UNAVAILABLE)
            users = _document(response).get("users")
            if not isinstance(users, list):
                raise ServiceUnavailable(_UNAVAILABLE)
            names.update((account.username, account.display_name) for account in map(_account, users))
        return names

    def get(self, username: str) -> Account:
        """The account with this username; 404 otherwise."""
        account = self.find(username)
        if account is None:
            raise NotFound(f"No user named {username!r}")
        return account

    def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **options)
        except httpx.HTTPError:
            raise ServiceUnavailable(_UNAVAILABLE) from None


def ensure_reference_row(session: Session, account: Account) -> None:
    """Give `account` its reference row in the monolith's users table, unless it has one.

    Committed at once in a short transaction of its own, not with the request's: a request
    that only reads must not hold the new row's lock (and keep a concurrent upload of the
    same user waiting) until it ends. An insert that does nothing on any conflict: the row,
    once there, holds the same four columns (user-service never changes them), and a
    concurrent request adding it too is no error. The request's session, reading committed
    data, sees the row in its next statement.
    """
    if session.get(User, account.id) is not None:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with engine.connect() as connection, connection.begin():
        connection.execute(
            insert(User)
            .values(
                id=account.id,
                username=account.username,
                display_name=account.display_name,
                password_hash=REFERENCE_PASSWORD_HASH,
                created_at=account.created_at,
            )
            .on_conflict_do_nothing()
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _document(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        raise ServiceUnavailable(_UNAVAILABLE) from None
    if not isinstance(document, dict):
        raise ServiceUnavailable(_UNAVAILABLE)
    return document


def _account(item: object) -> Account:
    try:
        if not isinstance(item, dict):
            raise TypeError("an account must be an object")
        user_id, username, display_name = item["id"], item["username"], item["display_name"]
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise TypeError("id must be an integer")
        if not isinstance(username, str) or not isinstance(display_name, str):
            raise TypeError("username and display_name must be strings")
        created_at = datetime.fromisoformat(str(item["created_at"]))
    except (KeyError, TypeError, ValueError):
        raise ServiceUnavailable(_UNAVAILABLE) from None
    return Account(id=user_id, username=username, display_name=display_name, created_at=created_at)


def _detail(response: httpx.Response, default: str) -> str:
    detail = _document(response).get("detail")
    return detail if isinstance(detail, str) else default


def _field_errors(response: httpx.Response) -> list[FieldError]:
    errors = _document(response).get("errors")
    if not isinstance(errors, list):
        return [FieldError("body", _detail(response, "Validation failed"))]
    return [
        FieldError(str(item.get("field", "body")), str(item.get("message", "")))
        for item in errors
        if isinstance(item, dict)
    ]


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isascii() and value.isdigit() else _DEFAULT_RETRY_AFTER_SECONDS
