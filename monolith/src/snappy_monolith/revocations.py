"""Revoked tokens, and who a verified token really speaks for.

A log-out stores its token's id until the token would have expired anyway. A verified
token is honoured only for the account it binds (same id, username and creation time)
and only while its id is not revoked. Functions take the session; callers commit.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from snappy_monolith.errors import AuthenticationRequired
from snappy_monolith.models import RevokedToken, User
from snappy_monolith.tokens import TokenClaims

__all__ = ["REFUSED_DETAIL", "bound_caller", "is_revoked", "revoke"]

# The same answer for every token that is refused after its signature was checked.
REFUSED_DETAIL = "The access token is not valid"


def bound_caller(session: Session, claims: TokenClaims) -> TokenClaims:
    """The claims, with the account's own username, when they bind an existing account and are not revoked.

    The account is read by primary key: it must have the token's id, username and
    creation time, so a token for someone else (another stack's user under the same id,
    a deleted account) opens nothing; 401 otherwise.
    """
    user = session.get(User, claims.user_id)
    if user is None or not claims.binds(user.id, user.username, user.created_at):
        raise AuthenticationRequired(REFUSED_DETAIL)
    if is_revoked(session, claims.token_id):
        raise AuthenticationRequired(REFUSED_DETAIL)
    return replace(claims, username=user.username)


def revoke(session: Session, token_id: str, expires_at: int) -> None:
    """Revoke the token with this id (its `exp` in seconds since the epoch); revoking twice is harmless."""
    now = datetime.now(UTC)
    # Opportunistic purge: rows of tokens that have expired protect nothing any more.
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    session.execute(
        insert(RevokedToken)
        .values(token_id=token_id, expires_at=datetime.fromtimestamp(expires_at, UTC))
        .on_conflict_do_nothing(index_elements=[RevokedToken.token_id])
    )


def is_revoked(session: Session, token_id: str) -> bool:
    """True when a token with this id was revoked (a primary-key read)."""
    return session.get(RevokedToken, token_id) is not None
