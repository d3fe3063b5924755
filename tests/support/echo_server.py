"""A stand-in part on a real port that says who it is and what reached it.

The edge's front is a real proxy (Caddy) in its own process: what it forwards can only be
seen from the other end of a socket. Each request is answered with a JSON document naming
the part, the request target exactly as it arrived and its headers. Two paths behave
differently: `/slow/<seconds>` answers after that long, and `/bytes/<count>` answers with
that many bytes of a fixed pattern.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from snappy_devstack.processes import LOOPBACK
from snappy_topology import PartName

__all__ = ["PATTERN", "EchoServer", "echo_parts", "echo_server"]

PATTERN = bytes(range(256))


@dataclass(frozen=True)
class EchoServer:
    """A running stand-in: its name and where it answers."""

    name: str
    url: str
    # Set when a `/slow/` request has arrived (and is being held).
    slow_arrived: threading.Event = field(default_factory=threading.Event)


def _handler(name: str, slow_arrived: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/slow/"):
                slow_arrived.set()
                time.sleep(float(self.path.rsplit("/", 1)[1]))
            if self.path.startswith("/bytes/"):
                count = int(self.path.rsplit("/", 1)[1])
                payload = (PATTERN * (count // len(PATTERN) + 1))[:count]
                content_type = "application/octet-stream"
            else:
                document = {
                    "part": name,
                    "method": self.command,
                    "target": self.path,
                    "headers": [[key, value] for key, value in self.headers.items()],
                    "body_bytes": len(body),
                }
                payload = json.dumps(document).encode()
                content_type = "application/json"
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        # http.server dispatches on these names.
        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

    return Handler


@contextmanager
def echo_server(name: str) -> Iterator[EchoServer]:
    """Serve a stand-in for part `name` on a free loopback port while the context lasts."""
    slow_arrived = threading.Event()
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler(name, slow_arrived))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"echo-{name}", daemon=True)
    thread.start()
    try:
        yield EchoServer(name, f"http://{LOOPBACK}:{server.server_address[1]}", slow_arrived)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def echo_parts() -> Iterator[dict[PartName, EchoServer]]:
    """A stand-in for each part an edge routes to, by name, while the context lasts."""
    names = (PartName.MONOLITH, PartName.USER_SERVICE, PartName.PHOTO_SERVICE, PartName.WEB_UI)
    with ExitStack() as servers:
        yield {name: servers.enter_context(echo_server(name)) for name in names}
