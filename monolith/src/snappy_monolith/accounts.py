"""Who a token speaks for, asked of whichever part owns users in the current phase.

Phase 0: the monolith's own tables (`revocations.bound_caller`). From phase 1: user-service
(`user_directory.RemoteUsers.bound_caller`), and the caller gets the reference row their
photos and shares will name (`user_directory.ensure_reference_row`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from snappy_monolith import ownership, revocations
from snappy_monolith.components import components
from snappy_monolith.tokens import TokenClaims
from snappy_monolith.user_directory import ensure_reference_row

__all__ = ["bound_caller"]


def bound_caller(session: Session, token: str) -> TokenClaims:
    """The claims of a valid token bound to an existing account and not revoked; 401 otherwise."""
    claims = components().tokens.verify(token)
    if not ownership.users_owned_by_service(session):
        # The signature is not enough: the token must bind an existing account and be unrevoked.
        return revocations.bound_caller(session, claims)
    caller, account = components().user_service().bound_caller(token, claims)
    ensure_reference_row(session, account)
    return caller
