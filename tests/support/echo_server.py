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
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from snappy_devstack.processes import LOOPBACK

__all__ = ["PATTERN", "EchoServer", "echo_server"]

PATTERN = bytes(range(256))


@dataclass(frozen=True)
class EchoServer:
    """A running stand-in: its name and where it answers."""

    name: str
    url: str


def _handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/slow/"):
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
    server = ThreadingHTTPServer((LOOPBACK, 0), _handler(name))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"echo-{name}", daemon=True)
    thread.start()
    try:
        yield EchoServer(name, f"http://{LOOPBACK}:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
