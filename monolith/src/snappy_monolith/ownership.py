"""Who writes what: the ownership phase, one row in the monolith's database.

The strangler moves route groups from the monolith to the services one at a time
(`snappy_edge.routing`). The data moves with them, and at every moment each table has
exactly one writer (docs/decisions.md, ADR on data ownership):

| phase | users and tokens | photos, shares, feed |
|-------|------------------|----------------------|
| 0     | the monolith     | the monolith         |
| 1     | user-service     | the monolith         |
| 2-4   | user-service     | photo-service        |

From the phase where a service owns a group, the monolith's pages and API reach that
data through the service (branch by abstraction): they never write the monolith's own
tables of that group, except the reference rows of users that its photos' foreign keys
need (`snappy_monolith.user_directory`), copied from user-service's answers.

The phase lives in the table `ownership_phase` (one row), so every replica sees a change
at once and without a restart. A request reads it once, on first use, and keeps that
value to its end: a request in flight finishes under the ownership it started with.
`set_ownership_phase` is the one writer of the row (`snappy phase set` and `snappy
cutover` call it); `python -m snappy_monolith ownership show|set N` runs it by hand.
"""

from __future__ import annotations

from typing import Final

from flask import g, has_app_context
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session

from snappy_monolith.config import sqlalchemy_url
from snappy_monolith.errors import MisdirectedRequest
from snappy_monolith.models import OwnershipPhase

__all__ = [
    "PHASES",
    "PHOTO_SERVICE_OWNS_PHOTOS_FROM",
    "USER_SERVICE_OWNS_USERS_FROM",
    "current_phase",
    "photos_owned_by_service",
    "read_ownership_phase",
    "require_photos_here",
    "require_users_here",
    "set_ownership_phase",
    "users_owned_by_service",
]

PHASES: Final = range(5)
# The first phase in which the service owns the group's data (snappy_edge.routing.PHASES).
USER_SERVICE_OWNS_USERS_FROM: Final = 1
PHOTO_SERVICE_OWNS_PHOTOS_FROM: Final = 2
_REQUEST_CACHE_KEY = "snappy_ownership_phase"


def current_phase(session: Session) -> int:
    """The ownership phase, read once per request (and on every call outside one)."""
    if has_app_context() and _REQUEST_CACHE_KEY in g:
        cached: int = g.get(_REQUEST_CACHE_KEY)
        return cached
    phase = session.scalars(select(OwnershipPhase.phase).where(OwnershipPhase.id == 1)).one_or_none()
    # No row: a database the migration 0005 has not reached yet, which the monolith owns whole.
    value = 0 if phase is None else int(phase)
    if has_app_context():
        setattr(g, _REQUEST_CACHE_KEY, value)
    return value


def users_owned_by_service(session: Session) -> bool:
    """True when user-service writes users and tokens (phase 1 on)."""
    return current_phase(session) >= USER_SERVICE_OWNS_USERS_FROM


def photos_owned_by_service(session: Session) -> bool:
    """True when photo-service writes photos, shares and their objects (phase 2 on)."""
    return current_phase(session) >= PHOTO_SERVICE_OWNS_PHOTOS_FROM


def require_users_here(session: Session) -> None:
    """421 for the API of users and tokens once user-service owns them: no write may land here."""
    if users_owned_by_service(session):
        raise MisdirectedRequest("Users and tokens are served by user-service in this phase of the migration")


def require_photos_here(session: Session) -> None:
    """421 for the API of photos, shares and the feed once photo-service owns them."""
    if photos_owned_by_service(session):
        raise MisdirectedRequest(
            "Photos, shares and the feed are served by photo-service in this phase of the migration"
        )


def read_ownership_phase(database_url: str) -> int:
    """The phase recorded in the monolith's database at `database_url`."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with Session(engine) as session:
            return current_phase(session)
    finally:
        engine.dispose()


def set_ownership_phase(database_url: str, phase: int) -> int:
    """Record `phase` (0-4) in the monolith's database at `database_url`; return the phase it replaced.

    One committed update of the one row: every replica's next request sees the new owner.
    The caller orders it with the rest of a cutover (the write freeze, the final sync and
    the edge's flip); this function only records the decision.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase}; phases are {PHASES.start} to {PHASES.stop - 1}")
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with Session(engine) as session, session.begin():
            previous = session.scalars(
                select(OwnershipPhase.phase).where(OwnershipPhase.id == 1).with_for_update()
            ).one_or_none()
            if previous is None:
                session.add(OwnershipPhase(id=1, phase=phase))
            else:
                session.execute(
                    update(OwnershipPhase)
                    .where(OwnershipPhase.id == 1)
                    .values(phase=phase, changed_at=text("clock_timestamp()"))
                )
        return 0 if previous is None else int(previous)
    finally:
        engine.dispose()
