"""The edge's Flask app with its shadow traffic on, in front of parts that are an httpx.MockTransport.

Every part the edge can call answers at `http://<part>.upstream` with a handler a test
chooses, and records each request it receives. Requests reach the edge through Flask's
test client with `buffered=True`, as a server that sends the whole answer and then closes
it: the moment the shadow queues its comparison.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from snappy_edge.app import EdgeSettings, create_app
from snappy_edge.control import EdgeControl, Shadow, write_control
from snappy_edge.shadow import COMPARISONS_FILE, MISMATCHES_FILE, ShadowTraffic
from snappy_topology import PartName, RouteGroupName

__all__ = [
    "PHOTO",
    "UPSTREAMS",
    "BodyStream",
    "Handler",
    "MakeEdge",
    "MockedParts",
    "ShadowedEdge",
    "json_answer",
]

Handler = Callable[[httpx.Request], httpx.Response]
UPSTREAMS = {
    part: f"http://{part}.upstream"
    for part in (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI)
}
_PART_OF_HOST = {f"{part}.upstream": part for part in UPSTREAMS}
# A photo's metadata, as both versions answer it.
PHOTO = {
    "id": 7,
    "owner": "alice",
    "caption": "Sunset",
    "visibility": "public",
    "created_at": "2026-11-26T10:00:00.123456Z",
}


class BodyStream(httpx.SyncByteStream):
    """An answer body that arrives in these chunks, as from a network."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


def json_answer(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A JSON answer, its body not read yet."""
    return httpx.Response(
        status,
        headers={"Content-Type": "application/json", **(headers or {})},
        stream=BodyStream(json.dumps(document).encode()),
    )


@dataclass
class MockedParts:
    """Every part the edge calls, as one transport: each answers with its handler and records each request."""

    handlers: dict[PartName, Handler] = field(
        default_factory=lambda: dict.fromkeys(UPSTREAMS, lambda _request: json_answer(PHOTO))
    )
    received: dict[PartName, list[httpx.Request]] = field(
        default_factory=lambda: {part: [] for part in UPSTREAMS}
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, part: PartName, handler: Handler) -> None:
        """Let `part` answer with `handler` from now on."""
        self.handlers[part] = handler

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The transport's handler: the part named by the host answers."""
        part = _PART_OF_HOST[request.url.host]
        request.read()
        with self._lock:
            self.received[part].append(request)
        return self.handlers[part](request)


@dataclass
class ShadowedEdge:
    """The edge's app (phase 3 unless told), its shadow traffic, control file and records."""

    client: FlaskClient
    traffic: ShadowTraffic
    control_file: Path
    # Where the records go; None when the edge writes none.
    directory: Path | None

    @classmethod
    def create(cls, settings: EdgeSettings, parts: MockedParts) -> ShadowedEdge:
        """The edge on `settings`, in front of `parts`."""
        assert settings.shadow.control_file is not None
        app = create_app(settings, transport=httpx.MockTransport(parts.handle))
        traffic = app.extensions["snappy.shadow"]
        assert isinstance(traffic, ShadowTraffic)
        return cls(
            app.test_client(use_cookies=False),
            traffic,
            settings.shadow.control_file,
            settings.shadow.directory,
        )

    def shadow(self, group: RouteGroupName, candidate: PartName) -> None:
        """Shadow `group` with `candidate`, as `snappy shadow start` does."""
        write_control(self.control_file, EdgeControl(Shadow(group, candidate)))

    def stop_shadowing(self) -> None:
        """Shadow nothing, as `snappy shadow stop` does."""
        write_control(self.control_file, EdgeControl())

    def settle(self) -> None:
        """Wait until every queued comparison is finished."""
        assert self.traffic.wait_until_idle(timeout=30), "the shadow threads did not finish"

    def comparisons(self) -> list[dict[str, Any]]:
        """The comparison records, in the order they were written."""
        return _json_lines(self.directory, COMPARISONS_FILE)

    def mismatches(self) -> list[dict[str, Any]]:
        """The mismatch records, in the order they were written."""
        return _json_lines(self.directory, MISMATCHES_FILE)

    def records_text(self) -> str:
        """Everything the shadow wrote to its files."""
        assert self.directory is not None
        return "".join(
            path.read_text(encoding="utf-8")
            for path in (self.directory / COMPARISONS_FILE, self.directory / MISMATCHES_FILE)
            if path.exists()
        )

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the edge's /metrics (0 when it has not been counted)."""
        text = self.client.get("/metrics").get_data(as_text=True)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0


# Builds the edge in front of the mocked parts; keyword arguments change its shadow settings or upstreams.
MakeEdge = Callable[..., ShadowedEdge]


def _json_lines(directory: Path | None, name: str) -> list[dict[str, Any]]:
    path = None if directory is None else directory / name
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
