"""The caller's own token: `DELETE /api/v1/tokens/current` revokes it (log-out)."""

from __future__ import annotations

from flask import Blueprint, Response

from snappy_monolith import revocations
from snappy_monolith.api.requests import authenticated_caller, owned_here
from snappy_monolith.database import request_session

__all__ = ["register"]


def register(blueprint: Blueprint) -> None:
    """Add the current-token route to the API blueprint."""
    blueprint.add_url_rule(
        "/tokens/current", view_func=owned_here("users")(revoke_current_token), methods=["DELETE"]
    )


def revoke_current_token() -> Response:
    """Revoke the token that authenticates this request: it opens nothing afterwards."""
    caller = authenticated_caller()
    session = request_session()
    revocations.revoke(session, caller.token_id, caller.expires_at)
    session.commit()
    return Response(status=204)
