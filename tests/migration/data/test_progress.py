"""The progress line: redrawn on a terminal, a line at a time in a log, and figures at the end."""

from __future__ import annotations

import io

from snappy_migration.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_short_work_prints_only_its_final_line() -> None:
    log = io.StringIO()
    progress = Progress("users", 3, "rows", stream=log)

    progress.add(2)
    progress.add(1)
    progress.finish()

    lines = log.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("users: 3/3 rows ")
    assert " rows/s in " in lines[0]


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    terminal = Terminal()
    progress = Progress("photos", 4, "rows", stream=terminal)

    progress.add(2)
    progress.finish()

    output = terminal.getvalue()
    assert "\r" in output
    assert "[############............] 2/4 rows" in output
    assert output.endswith("\x1b[K\n")


def test_more_done_than_expected_widens_the_total() -> None:
    log = io.StringIO()
    progress = Progress("sync", 1, "changes", stream=log)

    progress.add(5)
    progress.finish()

    assert log.getvalue().startswith("sync: 5/5 changes ")
