"""The clean-up context the benchmarks run in: SIGTERM interrupts like Ctrl-C, and clean-ups finish."""

from __future__ import annotations

import os
import signal

import pytest

from snappy_devstack.processes import cleanup_that_survives_interrupts


def interrupt_own_process(signal_number: int) -> None:
    os.kill(os.getpid(), signal_number)


def test_sigterm_interrupts_the_run_and_every_cleanup_still_runs() -> None:
    ran: list[str] = []
    handlers_before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))

    def first_cleanup() -> None:
        # A second Ctrl-C during clean-up is ignored, so the clean-ups after this one still run.
        interrupt_own_process(signal.SIGINT)
        ran.append("first")

    with cleanup_that_survives_interrupts() as cleanup:
        cleanup.callback(lambda: ran.append("second"))
        cleanup.callback(first_cleanup)
        with pytest.raises(KeyboardInterrupt):
            interrupt_own_process(signal.SIGTERM)

    assert ran == ["first", "second"]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers_before
