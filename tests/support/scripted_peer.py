"""A peer on an `httpx.MockTransport` that answers from a script, and records what it was sent."""

from __future__ import annotations

import httpx

__all__ = ["ScriptedPeer"]


class ScriptedPeer:
    """Answers requests in turn, an exception as the transport's failure; records them, and the sleeps."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The next answer of the script."""
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def transport(self) -> httpx.MockTransport:
        """A transport that sends every request here."""
        return httpx.MockTransport(self.handle)

    def sleep(self, seconds: float) -> None:
        """A client's backoff, recorded instead of waited."""
        self.sleeps.append(seconds)
