"""User management: sign up, log in, look up. Functions take the session; callers commit."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from snappy_plumbing.database import add_in_savepoint
from snappy_plumbing.errors import (
    FieldError,
    InvalidCredentials,
    NotFound,
    UsernameTaken,
    ValidationFailed,
)
from snappy_user_service.models import User
from snappy_user_service.passwords import hash_password, verify_password
from snappy_user_service.validation import enforced_display_name, is_valid_username, new_user_errors

__all__ = [
    "MAX_LOOKUP_ENTRIES",
    "authenticate",
    "find_user",
    "get_user",
    "get_user_by_id",
    "look_up_users",
    "sign_up",
]

# One lookup answers a page of photos (at most 100) with room to spare, while keeping
# the query's IN lists and the response small.
MAX_LOOKUP_ENTRIES = 500


def sign_up(session: Session, username: str, password: str, display_name: str) -> User:
    """Create a user; 422 for a broken rule, 409 for a taken username."""
    errors = new_user_errors(username, password, display_name)
    if errors:
        raise ValidationFailed(errors)
    if find_user(session, username) is not None:
        raise UsernameTaken(f"The username {username!r} is taken")
    user = User(
        username=username,
        display_name=enforced_display_name(display_name),
        password_hash=hash_password(password),
    )
    # In a savepoint, so a concurrent sign-up with the same name fails alone.
    if not add_in_savepoint(session, user):
        raise UsernameTaken(f"The username {username!r} is taken")
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user these credentials belong to; 401 otherwise."""
    user = find_user(session, username) if is_valid_username(username) else None
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials("The username or password is wrong")
    return user


def find_user(session: Session, username: str) -> User | None:
    """The user with this username, if any."""
    if not is_valid_username(username):
        return None
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def get_user(session: Session, username: str) -> User:
    """The user with this username; 404 otherwise."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"No user named {username!r}")
    return user


def get_user_by_id(session: Session, user_id: int) -> User | None:
    """The user with this id, if any."""
    return session.get(User, user_id)


def look_up_users(session: Session, ids: Collection[int], usernames: Collection[str]) -> list[User]:
    """The users with any of these ids or usernames, by id; unknown ones are simply absent."""
    if len(ids) + len(usernames) > MAX_LOOKUP_ENTRIES:
        message = f"ids and usernames together must be at most {MAX_LOOKUP_ENTRIES} entries"
        named = (("ids", ids), ("usernames", usernames))
        raise ValidationFailed([FieldError(name, message) for name, values in named if values])
    conditions: list[ColumnElement[bool]] = []
    if ids:
        conditions.append(User.id.in_(set(ids)))
    # A name that breaks the username rule cannot exist, so it never reaches the query.
    valid_usernames = {username for username in usernames if is_valid_username(username)}
    if valid_usernames:
        conditions.append(User.username.in_(valid_usernames))
    if not conditions:
        return []
    return list(session.scalars(select(User).where(or_(*conditions)).order_by(User.id)))
