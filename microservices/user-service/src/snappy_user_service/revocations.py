"""Revoked tokens: a log-out stores its token's id until the token would have expired anyway.

Functions take the session; callers commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from snappy_user_service.models import RevokedToken

__all__ = ["active_revocations", "is_revoked", "revoke"]


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


def active_revocations(session: Session) -> list[RevokedToken]:
    """Every revoked token that has not expired yet, soonest to expire first."""
    now = datetime.now(UTC)
    query = select(RevokedToken).where(RevokedToken.expires_at >= now).order_by(RevokedToken.expires_at)
    return list(session.scalars(query))
