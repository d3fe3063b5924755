"""Several addresses for one part: its replicas, taken in turn.

A part's URL variable (SNAPPY_PHOTO_SERVICE_URL, ...) holds one URL, or several separated
by commas: the replicas of that part, each an `http://` or `https://` URL with a host,
all with the same path (they serve the same paths). An empty item (`a,,b`, a trailing
comma) is refused when the edge starts, as is an address named twice, so that a typo
never becomes a silent change of weights.

The lane (`snappy_edge.app`) sends each request to the next address of its part
(`RoundRobin`); the fronts list every address in the part's upstream and use their own
round robin (`snappy_edge.nginx_front`, `snappy_edge.front`). Nothing is retried on
another address, whatever the method: a request is sent once, to one replica, and a
replica that does not answer gives that request the edge's 503, as a single address
does. The lane and Caddy go on giving it its turns; nginx, by its defaults, leaves it out
of them for 10 s after a failed attempt. The edge's /readyz needs every replica. The turn
is per process: with several lane workers each keeps its own, so the spread is even over
time without strictly alternating.

On a cluster each variable stays one URL, the Service's, which spreads the requests
itself; several addresses are for replicas the edge is told of one by one (`snappy up
--replicas`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from snappy_plumbing.config import ConfigurationError

__all__ = ["ADDRESS_SEPARATOR", "RoundRobin", "addresses", "parse_addresses"]

ADDRESS_SEPARATOR = ","


def addresses(value: str) -> tuple[str, ...]:
    """The addresses a part's URL setting holds, in their order (one for a single URL)."""
    return tuple(item.strip() for item in value.split(ADDRESS_SEPARATOR))


def parse_addresses(name: str, value: str) -> tuple[str, ...]:
    """The addresses of the setting `name`, checked; ConfigurationError naming `name` otherwise."""
    found = addresses(value)
    for position, address in enumerate(found, start=1):
        if not address:
            raise ConfigurationError(
                f"{name} holds an empty address (item {position} of {value!r}): give one URL,"
                " or several separated by commas, e.g. http://10.0.0.1:8000,http://10.0.0.2:8000"
            )
        parts = urlsplit(address)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(f"{name} must hold http:// or https:// URLs, got {address!r}")
    repeated = sorted({address for address in found if found.count(address) > 1})
    if repeated:
        raise ConfigurationError(f"{name} names {', '.join(repeated)} more than once")
    paths = {urlsplit(address).path.rstrip("/") for address in found}
    if len(paths) > 1:
        raise ConfigurationError(
            f"the addresses of {name} must share one path (they serve the same paths), got {value!r}"
        )
    return found


class RoundRobin:
    """The addresses of one part, each request given the next; safe across threads."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("a part needs at least one address")
        self.urls = tuple(urls)
        self._turns = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> str:
        """The address whose turn it is."""
        if len(self.urls) == 1:
            return self.urls[0]
        # The lock makes the turns one sequence however many request threads ask at once.
        with self._lock:
            turn = next(self._turns)
        return self.urls[turn % len(self.urls)]
