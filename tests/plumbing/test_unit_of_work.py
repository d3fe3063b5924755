"""The unit of work of user-service and photo-service, on a real PostgreSQL: all of it is written, or none.

`unit_of_work` commits when its block ends and rolls back when the block or the commit
raises; `add_in_savepoint` lets one refused insert fail alone inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import String, UniqueConstraint, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from snappy_devstack.backing import BackingServices, create_database, drop_database
from snappy_plumbing.config import sqlalchemy_url
from snappy_plumbing.database import Database, add_in_savepoint, unit_of_work
from tests.support.session import SESSION_TAG


class Base(DeclarativeBase):
    """This module's own tables."""


class Entry(Base):
    """A row with an immediate and a deferred unique constraint, so a write can fail at flush or at commit."""

    __tablename__ = "entries"
    # Checked at the commit: two entries may share a code until then.
    __table_args__ = (
        UniqueConstraint("code", name="uq_entries_code", deferrable=True, initially="DEFERRED"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    code: Mapped[str] = mapped_column(String(32))


class BlockFailed(Exception):
    """What the code inside a unit of work raises in these tests."""


@pytest.fixture(scope="module")
def database(backing: BackingServices) -> Iterator[Database]:
    name = f"snappy_unit_of_work_{SESSION_TAG}"
    database = Database(sqlalchemy_url(create_database(backing.postgres_url, name, drop_existing=True)))
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()
    drop_database(backing.postgres_url, name)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE entries"))
    with database.sessions() as session:
        yield session


def stored_names(database: Database) -> list[str]:
    """The names committed, as another connection sees them."""
    with database.sessions() as reader:
        return list(reader.scalars(select(Entry.name).order_by(Entry.name)))


def write_then_fail(session: Session) -> None:
    """Flush a row, then raise inside the unit of work."""
    with unit_of_work(session):
        session.add(Entry(name="a", code="1"))
        session.flush()
        raise BlockFailed


def fail_without_writing(session: Session) -> None:
    """Raise inside the unit of work before it sends anything."""
    with unit_of_work(session):
        raise BlockFailed


def write_rows_sharing_a_code(session: Session) -> None:
    """Flush two rows the deferred constraint refuses only at the commit."""
    with unit_of_work(session):
        session.add_all([Entry(name="a", code="same"), Entry(name="b", code="same")])
        session.flush()


def test_a_block_that_ends_commits_everything(database: Database, session: Session) -> None:
    with unit_of_work(session):
        session.add_all([Entry(name="a", code="1"), Entry(name="b", code="2")])

    assert stored_names(database) == ["a", "b"]


def test_a_block_that_raises_writes_nothing(database: Database, session: Session) -> None:
    with pytest.raises(BlockFailed):
        write_then_fail(session)

    assert stored_names(database) == []
    # Rolled back, not left broken: the session takes the next unit of work.
    with unit_of_work(session):
        session.add(Entry(name="b", code="2"))
    assert stored_names(database) == ["b"]


def test_a_commit_that_fails_writes_nothing(database: Database, session: Session) -> None:
    with pytest.raises(IntegrityError, match="uq_entries_code"):
        write_rows_sharing_a_code(session)

    assert stored_names(database) == []
    assert session.scalar(select(func.count()).select_from(Entry)) == 0


def test_a_unit_of_work_continues_the_transaction_its_reads_began(
    database: Database, session: Session
) -> None:
    """A request reads (to authenticate its caller) before it writes; Session.begin() would refuse."""
    assert session.scalar(select(func.count()).select_from(Entry)) == 0
    assert session.in_transaction()

    with unit_of_work(session):
        session.add(Entry(name="a", code="1"))

    assert stored_names(database) == ["a"]


def test_a_refused_insert_in_a_savepoint_fails_alone(database: Database, session: Session) -> None:
    with unit_of_work(session):
        assert add_in_savepoint(session, Entry(name="a", code="1"))
        assert not add_in_savepoint(session, Entry(name="a", code="2"))
        assert add_in_savepoint(session, Entry(name="b", code="3"))

    assert stored_names(database) == ["a", "b"]


def test_a_rollback_the_database_cannot_take_leaves_the_blocks_error(
    database: Database, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """The server went away: the request's own error (a 503 for the outage) must stand."""
    backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with database.engine.begin() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

    with caplog.at_level(logging.WARNING), pytest.raises(BlockFailed):
        fail_without_writing(session)

    assert any("could not roll back" in record.getMessage() for record in caplog.records)
