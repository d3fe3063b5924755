"""User management: sign up, log in, look up. Functions take the session; callers commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from snappy_monolith import ownership
from snappy_monolith.components import components
from snappy_monolith.errors import InvalidCredentials, NotFound, UsernameTaken, ValidationFailed
from snappy_monolith.models import User
from snappy_monolith.passwords import hash_password, verify_password
from snappy_monolith.user_directory import ensure_reference_row
from snappy_monolith.validation import enforced_display_name, is_valid_username, new_user_errors

__all__ = ["authenticate", "find_user", "get_user", "get_user_by_id", "sign_up"]


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
    try:
        # A savepoint, so a concurrent sign-up with the same name fails alone.
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise UsernameTaken(f"The username {username!r} is taken") from None
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    """The user these credentials belong to; 401 otherwise."""
    user = find_user(session, username) if is_valid_username(username) else None
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials("The username or password is wrong")
    return user


def find_user(session: Session, username: str) -> User | None:
    """The user with this username, if any.

    Once user-service owns users, one unknown here is read through from user-service into a
    reference row (snappy_monolith.user_directory), so the photos and shares that name it
    keep their foreign keys.
    """
    if not is_valid_username(username):
        return None
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None and ownership.users_owned_by_service(session):
        account = components().user_service().find(username)
        if account is not None:
            ensure_reference_row(session, account)
            user = session.get(User, account.id)
    return user


def get_user(session: Session, username: str) -> User:
    """The user with this username; 404 otherwise."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"No user named {username!r}")
    return user


def get_user_by_id(session: Session, user_id: int) -> User | None:
    """The user with this id, if any."""
    return session.get(User, user_id)
