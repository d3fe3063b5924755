"""`snappy cutover`: a running strangler stack walks its phases under writes, losing none.

One stack (`snappy up --stack strangler --phase 0 --seed`, embedded PostgreSQL and S3)
walks the phases of WALK (out to the highest and back to 0) with `snappy cutover` while a
client keeps signing users up, uploading and sharing photos through the edge
(snappy_devstack.edge_workload). Every write is either acknowledged or refused with the
freeze's 503 (Retry-After, problem document), and the freezes' count and total duration are
reported; at the end of each way, everything the acknowledged writes left reads back as
written (`EdgeWorkload.problems_reading_back`), from whichever part owns it then: the
services at the far end, the monolith again at phase 0.

Throughout, a browser (the session's Chromium) stays logged in as a sample user: logged
in once through the edge's own /login form before the walk, it loads "My photos" in the
same context while each cutover is under way (its writes frozen; between phases 3 and 4,
the monolith's process stopping or starting) and again after each flip, and is served it
signed in, styled (the owning part's /static/*) and with the same photos, by
the monolith's pages up to phase 2 and by web-ui's from phase 3. At the start and after
each cutover, the parity scenario (tests/parity) answers through the edge exactly as
through a reference monolith.

A cutover that is not one phase away, that finds a difference in the moving data no
change-log entry explains, or that finds the edge and the monolith's database in
different phases, is refused with one line and changes nothing.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response

from snappy_devstack.edge_workload import EdgeWorkload, WorkloadTally, workload_through
from snappy_devstack.seed import DEMO_PASSWORD, sample_usernames
from tests.parity.scenario import Exchange, Step, run_scenario, scenario_steps
from tests.parity.test_parity import differences
from tests.strangler.conftest import StranglerStack, running_strangler, snappy
from tests.support.live import LiveMonolith

# pytest's `record_property` fixture: a figure kept in the JUnit report.
RecordProperty = Callable[[str, object], None]

# The phases the stack walks, one `snappy cutover` each: out to the highest and back.
WALK = (0, 1, 2, 3, 4, 3, 2, 1, 0)
# The sample user (`--seed`) whose browser session lasts the whole walk.
SESSION_USER = sample_usernames(1)[0]
# A page load on a machine that also runs the stack, its workload and the parity scenario.
PAGE_TIMEOUT_MS = 30_000
_CUTOVER_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StranglerStack]:
    """The strangler stack at the walk's first phase with the sample data; every part runs, standing by."""
    with running_strangler(WALK[0], tmp_path_factory.mktemp("cutover"), seed=True) as running:
        yield running


def snappy_command(stack: StranglerStack, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*snappy(), *arguments, "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        cwd=stack.workdir,
        timeout=_CUTOVER_TIMEOUT_SECONDS,
        check=False,
    )


def test_a_cutover_is_refused_unless_one_phase_away_with_the_data_verified_and_the_phases_together(
    stack: StranglerStack,
) -> None:
    far = snappy_command(stack, "cutover", "--to", "2")
    assert far.returncode == 2
    assert "refused: one phase at a time: from phase 0, go to -1 or 1" in far.stderr

    # A user only user-service has, at phase 0: no change-log entry explains it.
    stray = 900_000_001
    stack.query(
        "user_service",
        "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, 'stray', 'Stray', '!')",
        stray,
    )
    try:
        differs = snappy_command(stack, "cutover", "--to", "1")
    finally:
        stack.query("user_service", "DELETE FROM users WHERE id = %s", stray)
    assert differs.returncode == 2
    assert f"refused: the users data differs at phase 0: users ids [{stray}]" in differs.stderr
    assert '"phase": 0' in snappy_command(stack, "phase", "status", "--json").stdout

    # The edge moved by hand, the data not: the cutover will not guess which is right.
    assert snappy_command(stack, "phase", "set", "1").returncode == 0
    try:
        apart = snappy_command(stack, "cutover", "--to", "2")
        assert apart.returncode == 2
        assert (
            "the edge routes by phase 1 but the monolith's database records ownership phase 0" in apart.stderr
        )
    finally:
        assert snappy_command(stack, "phase", "set", "0").returncode == 0


def test_the_stack_walks_out_and_back_under_writes_a_signed_in_browser_and_the_parity_scenario(
    stack: StranglerStack, live_monolith: LiveMonolith, browser: Browser, record_property: RecordProperty
) -> None:
    # Each cutover as (from, to); out to the highest phase, then back.
    moves = list(pairwise(WALK))
    turn = WALK.index(max(WALK))
    legs = (moves[:turn], moves[turn:])
    with (
        closing(browser.new_context(base_url=stack.edge_url)) as context,
        ThreadPoolExecutor(max_workers=1) as reference_recorder,
    ):
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        session = SignedInBrowser.logged_in(context, SESSION_USER, DEMO_PASSWORD)
        assert session.photo_ids, f"{SESSION_USER} owns no sample photos"
        parity = ParityAtEachPhase(stack.edge_url, live_monolith.base_url, reference_recorder)
        parity.check(WALK[0])
        freeze_seconds: list[float] = []
        frozen_writes = 0
        for leg in legs:
            walked = walk_under_writes(stack, leg, session, parity)
            phases = tuple(to for _, to in leg)
            record_property(
                f"freezes to {phases}", ", ".join(f"{seconds:.3f} s" for seconds in walked.freezes)
            )
            record_property(f"writes refused by the freezes to {phases}", walked.tally.frozen)
            # Sent again on a new connection: the front's old workers closed theirs at a reload.
            record_property(f"requests resent to {phases}", walked.tally.resent)
            # The freeze's declared 503s are the only answers not acknowledged.
            assert walked.tally.unexpected == ()
            assert walked.writes.users, "the writer acknowledged nothing"
            status = snappy_command(stack, "phase", "status", "--json")
            assert f'"phase": {phases[-1]}' in status.stdout
            # Every acknowledged write, read back from the parts that own it now.
            problems = walked.writes.problems_reading_back()
            assert problems == [], "\n".join(problems)
            freeze_seconds += walked.freezes
            frozen_writes += walked.tally.frozen
    record_property("writes frozen in all (s)", round(sum(freeze_seconds), 3))
    record_property("freeze 503s in all", frozen_writes)
    record_property("browser checks signed in", ", ".join(session.checked))
    record_property("parity scenario passed at phases", ", ".join(map(str, parity.passed)))
    record_property("seconds loading the browser's page", round(session.seconds, 1))
    record_property("seconds waiting for the parity scenario", round(parity.seconds, 1))
    assert parity.passed == list(WALK)
    # Owned by the monolith again: the users signed up last are in its own table, with their hash.
    assert stack.query(
        "monolith",
        "SELECT count(*) FROM users WHERE username = %s AND password_hash <> '!'",
        walked.writes.users[-1],
    ) == [(1,)]


@dataclass
class SignedInBrowser:
    """A browser context logged in through the edge's /login form, and what its user saw first."""

    page: Page
    username: str
    # The user's photos on "My photos" when logged in: every later load must list the same.
    photo_ids: frozenset[str] = frozenset()
    # When the session was found signed in, as "during 1 -> 2", "after 1 -> 2", ...
    checked: list[str] = field(default_factory=list)
    # The time spent loading the page, the walk's cost of watching the session.
    seconds: float = 0.0

    @classmethod
    def logged_in(cls, context: BrowserContext, username: str, password: str) -> SignedInBrowser:
        """Log `username` in with the edge's own /login form, in a tab of `context`."""
        page = context.new_page()
        # Every load asks the edge again, stylesheet included: none is answered from the cache.
        devtools = context.new_cdp_session(page)
        devtools.send("Network.enable")
        devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})
        page.goto("/login")
        form = page.get_by_test_id("login-form")
        form.get_by_label("Username").fill(username)
        form.get_by_label("Password").fill(password)
        form.get_by_role("button", name="Log in").click()
        page.get_by_test_id("current-user").wait_for()
        session = cls(page, username)
        session.photo_ids = session.my_photos("logged in")
        return session

    def my_photos(self, moment: str) -> frozenset[str]:
        """Load "My photos" in the session: served signed in and styled; the ids of its photo cards."""
        answers: list[Response] = []

        def keep(answer: Response) -> None:
            answers.append(answer)

        self.page.on("response", keep)
        started = time.monotonic()
        try:
            loaded = self.page.goto("/photos", wait_until="load")
        finally:
            self.page.remove_listener("response", keep)
            self.seconds += time.monotonic() - started
        cookies = [
            f"{cookie.get('name')} (path {cookie.get('path')})" for cookie in self.page.context.cookies()
        ]
        assert urlsplit(self.page.url).path == "/photos", (
            f"{moment}: the session is lost, /photos sent the browser to {self.page.url}; "
            f"cookies held: {cookies}"
        )
        assert loaded is not None, moment
        assert loaded.status == 200, (moment, loaded.status)
        shown = self.page.get_by_test_id("current-user").all_inner_texts()
        assert shown == [self.username], f"{moment}: the navigation names {shown}; cookies held: {cookies}"
        failed = [f"{answer.status} {answer.url}" for answer in answers if answer.status >= 400]
        assert failed == [], f"{moment}: {failed}"
        stylesheets = [answer for answer in answers if urlsplit(answer.url).path == "/static/snappy.css"]
        assert [answer.status for answer in stylesheets] == [200], f"{moment}: the stylesheet {stylesheets}"
        rules: list[int] = self.page.evaluate(
            "() => [...document.querySelectorAll('link[rel=stylesheet]')]"
            ".map(link => link.sheet ? link.sheet.cssRules.length : 0)"
        )
        assert rules, f"{moment}: no stylesheet"
        assert all(rules), f"{moment}: stylesheets with no rules applied: {rules}"
        cards = self.page.get_by_test_id("photo-card")
        ids: list[str] = cards.evaluate_all("cards => cards.map(card => card.dataset.photoId)")
        if self.photo_ids:
            assert frozenset(ids) == self.photo_ids, f"{moment}: {sorted(ids)} != {sorted(self.photo_ids)}"
        self.checked.append(moment)
        return frozenset(ids)


@dataclass
class ParityAtEachPhase:
    """The parity scenario, with users of its own each time, through the edge and a reference monolith."""

    edge_url: str
    monolith_url: str
    # Records the reference monolith's half of a check on a thread of its own, while a cutover
    # runs: that half does not depend on the stack's phase, and the walk need not wait for it.
    reference_recorder: ThreadPoolExecutor
    passed: list[int] = field(default_factory=list)
    # The time the walk waited for the scenario, its cost of checking parity.
    seconds: float = 0.0
    _next: tuple[list[Step], Future[list[Exchange]]] | None = None

    def prepare(self) -> None:
        """Start recording the reference half of the next check, with users of its own."""
        steps = scenario_steps(secrets.token_hex(4))
        self._next = (steps, self.reference_recorder.submit(run_scenario, self.monolith_url, steps))

    def check(self, phase: int) -> None:
        """Run the scenario through the edge; it must answer every step as the monolith did."""
        started = time.monotonic()
        if self._next is None:
            self.prepare()
        assert self._next is not None
        steps, reference = self._next
        self._next = None
        answered = run_scenario(self.edge_url, steps)
        expected = reference.result()
        self.seconds += time.monotonic() - started
        assert len(expected) == len(steps)
        assert differences(expected, answered) == [], f"parity at phase {phase}"
        self.passed.append(phase)


@dataclass(frozen=True)
class WalkedLeg:
    """One way of the walk: what the client wrote during it, its counts, each cutover's freeze."""

    writes: EdgeWorkload
    tally: WorkloadTally
    freezes: list[float]


def walk_under_writes(
    stack: StranglerStack, moves: list[tuple[int, int]], session: SignedInBrowser, parity: ParityAtEachPhase
) -> WalkedLeg:
    """`snappy cutover --to N` for each (from, N) of `moves` in turn while a client keeps writing.

    The browser loads its page while each cutover is under way and after each flip;
    the parity scenario runs through the edge between the cutovers, never in a freeze (its
    reference half, on the monolith, during the cutover).
    """
    freezes: list[float] = []
    with workload_through(stack.edge_url) as writes:
        for before, phase in moves:
            parity.prepare()
            moved = cutover_to(stack, phase, midway=partial(session.my_photos, f"during {before} -> {phase}"))
            assert moved.returncode == 0, moved.stdout
            [summary] = [
                line
                for line in moved.stdout.splitlines()
                if line.startswith("phase ") and f"-> {phase}:" in line
            ]
            assert "verify passed" in summary or "no data moves with it" in summary
            freezes.append(float(summary.split("writes frozen for ")[1].split(" s;")[0]))
            session.my_photos(f"after {before} -> {phase}")
            parity.check(phase)
    return WalkedLeg(writes, writes.tally(), freezes)


def cutover_to(
    stack: StranglerStack, phase: int, *, midway: Callable[[], object]
) -> subprocess.CompletedProcess[str]:
    """`snappy cutover --to phase`, calling `midway` on this thread once it is under way.

    Under way: its writes frozen, the flip still to come; or, between phases 3 and 4 (nothing
    frozen), the edge at the new phase while the monolith's process stops or starts.
    """
    command = [*snappy(), "cutover", "--to", str(phase), "--state-dir", str(stack.state_dir)]
    printed: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=stack.workdir
    ) as process:
        assert process.stdout is not None
        try:
            # The timeline is printed as it happens: "  0.812 s  web pages: writes frozen".
            under_way = (": writes frozen", f"the edge routes by phase {phase}")
            for line in process.stdout:
                printed.append(line)
                if line.rstrip().endswith(under_way):
                    midway()
                    break
        finally:
            # Whatever `midway` found, the cutover ends before the test goes on.
            try:
                rest, _ = process.communicate(timeout=_CUTOVER_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    return subprocess.CompletedProcess(command, process.returncode, "".join(printed) + rest)
