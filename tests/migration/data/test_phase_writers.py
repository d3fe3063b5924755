"""Which phases a strangler stack may restart between with no data moving (`same_writers`).

`snappy up --stack strangler` refuses a phase other than the recorded one unless both give
every table the same writer: the services have writes the monolith lacks, and only a cutover
moves data and ownership together. Phases 2, 3 and 4 differ only in who renders the pages,
which is how phase 4 (no monolith process) is reached and left again by a restart.
"""

from __future__ import annotations

import pytest

from snappy_migration.mapping import TABLES
from snappy_migration.phases import SERVICE_OWNS_FROM, monolith_owns, same_writers

PHASES = range(5)


@pytest.mark.parametrize("phase", PHASES)
def test_a_phase_has_the_same_writers_as_itself(phase: int) -> None:
    assert same_writers(phase, phase)


@pytest.mark.parametrize(("phase", "other"), [(2, 3), (3, 4), (2, 4), (4, 3), (4, 2)])
def test_the_phases_after_every_table_moved_share_their_writers(phase: int, other: int) -> None:
    assert same_writers(phase, other)


@pytest.mark.parametrize(("phase", "other"), [(0, 1), (1, 2), (0, 4), (1, 3), (1, 4), (4, 0)])
def test_phases_on_either_side_of_a_data_move_do_not(phase: int, other: int) -> None:
    assert not same_writers(phase, other)
    # And the reason is a table whose writer differs, not the phase numbers.
    assert any(monolith_owns(table, phase) != monolith_owns(table, other) for table in TABLES)


def test_every_table_has_moved_by_the_first_phase_that_shares_writers_with_phase_4() -> None:
    first = min(phase for phase in PHASES if same_writers(phase, 4))
    assert first == max(SERVICE_OWNS_FROM.values())
