"""`snappy browse`: a few sample users read what they can see on a running Snappy.

Real read traffic for a shadowed route group (`snappy shadow start`), or a smoke check of a
stack that writes nothing. For each user and round it reads the pages a visitor's browser
reads before logging in (`/` and `/login`), logs in through the API (POST /api/v1/tokens,
the one request that is not a GET), then reads exactly what `compare_user_views` compares
(`snappy_devstack.user_views.user_reads`): `/users/me`, the public profile, every page of
the user's photos, feed and public photos, and each owned photo's metadata, shares,
content and thumbnail.

Logged-in pages are not read: the page log-in is a form POST carrying a CSRF token scraped
from the login page, a second request that is not a GET, where the API's bearer token takes
one documented call. The log-in is the only request that can leave a trace on the server:
the login throttle counts a refused one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from snappy_devstack.seed import DEFAULT_USERS, DEMO_PASSWORD, sample_usernames
from snappy_devstack.user_views import Read, UserViewsError, Version, open_version, user_reads

__all__ = [
    "ANONYMOUS_PAGES",
    "BROWSE",
    "Browsing",
    "UserTally",
    "add_browse_parser",
    "browse",
    "browser_reads",
    "run_browse",
]

BROWSE = "browse"
# The pages a visitor's browser reads before logging in.
ANONYMOUS_PAGES = ("/", "/login")
_DEFAULT_URL = "http://127.0.0.1:8000"
_EXIT_NOT_OK = 1
_EXIT_NO_ANSWER = 2
# Requests not answered OK named on a user's line; the rest are only counted.
_NOT_OK_SHOWN = 5


@dataclass
class UserTally:
    """What one user's reads got, over every round."""

    username: str
    reads: int = 0
    # The status of each read answered 2xx, counted.
    answered: Counter[int] = field(default_factory=Counter)
    # Each (request, status) of a read not answered 2xx, counted.
    not_ok: Counter[tuple[str, int]] = field(default_factory=Counter)
    # Each refused log-in: the request, its status and what the problem document said, counted.
    log_in_refusals: Counter[str] = field(default_factory=Counter)
    # Each request that got no answer at all, and why, counted; the user's round stopped there.
    unanswered: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """Whether every log-in issued a token and every read was answered 2xx."""
        return not (self.not_ok or self.log_in_refusals or self.unanswered)

    def add(self, read: Read) -> None:
        """Count one read, or the log-in (the one request that is not a GET)."""
        if read.method != "GET":
            if read.token is None:
                self.log_in_refusals[_refusal(read)] += 1
            return
        self.reads += 1
        if 200 <= read.view.status < 300:
            self.answered[read.view.status] += 1
        else:
            self.not_ok[(read.request, read.view.status)] += 1

    def line(self) -> str:
        """`alice: 23 reads, all answered (200)`, or what was not."""
        parts = []
        if self.log_in_refusals:
            refusals = ", ".join(_times(what, count) for what, count in self.log_in_refusals.items())
            parts.append(f"cannot log in ({refusals})")
        reads = f"{self.reads} reads"
        if self.not_ok:
            listed = [
                _times(f"{request} {status}", count) for (request, status), count in self.not_ok.items()
            ]
            more = len(listed) - _NOT_OK_SHOWN
            shown = ", ".join(listed[:_NOT_OK_SHOWN]) + (f", and {more} more" if more > 0 else "")
            reads += f"; {sum(self.not_ok.values())} not OK: {shown}"
        elif self.answered:
            reads += f", all answered ({', '.join(map(str, sorted(self.answered)))})"
        parts.append(reads)
        parts += [f"no answer: {_times(what, count)}" for what, count in self.unanswered.items()]
        return f"{self.username}: {'; '.join(parts)}"


@dataclass(frozen=True)
class Browsing:
    """A finished `snappy browse`: where, as whom, for how long, and each user's tally."""

    base_url: str
    rounds: int
    seconds: float
    users: list[UserTally]

    @property
    def ok(self) -> bool:
        """Whether every user logged in and every read was answered 2xx."""
        return all(user.ok for user in self.users)

    def lines(self) -> list[str]:
        """One line per user, then the summary."""
        names = ", ".join(user.username for user in self.users)
        rounds = f" ({self.rounds} rounds)" if self.rounds > 1 else ""
        reads = sum(user.reads for user in self.users)
        not_ok = sum(sum(user.not_ok.values()) for user in self.users)
        refused = [user.username for user in self.users if user.log_in_refusals]
        unanswered = sum(sum(user.unanswered.values()) for user in self.users)
        problems = []
        if not_ok:
            problems.append(f"{not_ok} not OK")
        if refused:
            problems.append(f"{', '.join(refused)} could not log in")
        if unanswered:
            problems.append(f"{unanswered} requests got no answer")
        summary = (
            f"browsed {self.base_url} as {names}{rounds}: {reads} reads in {self.seconds:.1f} s;"
            f" {'; '.join(problems) or 'every read answered'}"
        )
        return [user.line() for user in self.users] + [summary]


def browser_reads(version: Version, username: str, password: str) -> Iterator[Read]:
    """What one user's browsing reads: the anonymous pages, then their log-in and `user_reads`."""
    for path in ANONYMOUS_PAGES:
        yield Read("GET", path, version.get(path, accept="text/html"))
    yield from user_reads(version, username, password)


def browse(base_url: str, usernames: Sequence[str], password: str, *, rounds: int = 1) -> Browsing:
    """Each user's reads at `base_url`, `rounds` times over, counted.

    Raises UserViewsError when the first request gets no answer: nothing answers there. A
    request that gets no answer later stops that user's round and is counted as such.
    """
    started = time.monotonic()
    tallies = [UserTally(username) for username in usernames]
    answered_once = False
    with open_version("server", base_url) as version:
        for _round in range(rounds):
            for tally in tallies:
                try:
                    for read in browser_reads(version, tally.username, password):
                        answered_once = True
                        tally.add(read)
                except UserViewsError as error:
                    if not answered_once:
                        raise
                    # One line, without the closing full stop some errors have, as it ends a part.
                    tally.unanswered[" ".join(str(error).split()).rstrip(".")] += 1
    return Browsing(base_url.rstrip("/"), rounds, time.monotonic() - started, tallies)


def add_browse_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `browse` to the `snappy` command's subcommands."""
    command = commands.add_parser(
        BROWSE,
        help="log sample users in and read what they can see: traffic for a shadow, or a smoke check",
        description=(
            "For each user and round: read the pages a browser reads before logging in (/ and /login), log"
            " in with POST /api/v1/tokens (the one request that is not a GET; a refused log-in counts"
            " towards the login throttle), then GET /api/v1/users/me, the user's profile, every page of"
            " /api/v1/photos, /api/v1/feed and /api/v1/users/{name}/photos, and each owned photo's"
            " metadata, /shares, /content and /thumbnail. Logged-in pages are not read: their log-in is a"
            " form POST with a CSRF token. Prints one line per user and a summary. Exit status: 0 when"
            " every read was answered 2xx, 1 when one was not or a user could not log in, 2 when the"
            " server does not answer at all."
        ),
    )
    command.add_argument(
        "--url", type=_base_url, default=_DEFAULT_URL, help="Snappy's base URL (default: %(default)s)"
    )
    command.add_argument(
        "--users",
        type=_usernames,
        default=",".join(sample_usernames(DEFAULT_USERS)),
        metavar="NAME,...",
        help="who browses, comma-separated (default: the users `snappy seed` creates, %(default)s)",
    )
    command.add_argument(
        "--password",
        default=DEMO_PASSWORD,
        help="every user's password (default: the sample users', %(default)s)",
    )
    command.add_argument(
        "--rounds", type=_positive, default=1, metavar="N", help="times each user browses (default: 1)"
    )


def run_browse(arguments: argparse.Namespace) -> int:
    """Run `snappy browse`; the exit status."""
    try:
        browsing = browse(arguments.url, arguments.users, arguments.password, rounds=arguments.rounds)
    except UserViewsError as error:
        print(f"snappy {BROWSE}: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return _EXIT_NO_ANSWER
    for line in browsing.lines():
        print(line, flush=True)
    return 0 if browsing.ok else _EXIT_NOT_OK


def _refusal(read: Read) -> str:
    body: Any = read.view.body
    detail = body.get("detail") or body.get("title") if isinstance(body, dict) else None
    answer = f"{read.request} {read.view.status}"
    return f"{answer}: {detail}" if isinstance(detail, str) and detail else answer


def _times(what: str, count: int) -> str:
    return what if count == 1 else f"{what} ({count} times)"


def _base_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"the URL must start with http:// or https://, got {text!r}")
    return text


def _usernames(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of usernames")
    return list(dict.fromkeys(names))


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return number
