"""An in-memory stand-in for Snappy's public API: just the calls `snappy seed` makes."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

__all__ = ["FakeSnappy", "running_fake_snappy"]


@dataclass
class FakeSnappy:
    """The state of an in-memory stand-in for Snappy's public API."""

    base_url: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    photos: list[dict[str, Any]] = field(default_factory=list)
    shares: set[tuple[int, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def running_fake_snappy() -> Iterator[FakeSnappy]:
    """Serve a fresh fake Snappy on a free loopback port while the context lasts."""
    state = FakeSnappy()
    with serving(fake_handler(state)) as base_url:
        state.base_url = base_url
        yield state


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port, in a thread, while the context lasts; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def fake_handler(state: FakeSnappy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            user = self._caller()
            if user is None:
                return
            if self.path.startswith("/api/v1/photos"):
                own = [photo for photo in state.photos if photo["owner"] == user]
                self._send(200, {"items": own[::-1][:1], "next_cursor": None})
            else:
                self._problem(404, "not-found")

        def do_POST(self) -> None:
            if self.path == "/api/v1/users":
                self._sign_up(self._json())
            elif self.path == "/api/v1/tokens":
                self._log_in(self._json())
            elif self.path == "/api/v1/photos":
                user = self._caller()
                if user is not None:
                    self._upload(user)
            elif match := re.fullmatch(r"/api/v1/photos/(\d+)/shares", self.path):
                user = self._caller()
                if user is not None:
                    self._share(user, int(match.group(1)), self._json())
            else:
                self._problem(404, "not-found")

        def _sign_up(self, body: dict[str, Any]) -> None:
            assert set(body) == {"username", "password", "display_name"}
            with state.lock:
                if body["username"] in state.passwords:
                    self._problem(409, "username-taken")
                    return
                state.passwords[body["username"]] = body["password"]
            self._send(201, {"id": len(state.passwords), "username": body["username"]})

        def _log_in(self, body: dict[str, Any]) -> None:
            if state.passwords.get(body.get("username", "")) != body.get("password"):
                self._problem(401, "invalid-credentials")
                return
            token = {"access_token": f"token-{body['username']}", "token_type": "Bearer"}
            self._send(201, {**token, "expires_in": 3600})

        def _upload(self, user: str) -> None:
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("multipart/form-data"):
                self._problem(415, "unsupported-media-type")
                return
            raw = f"Content-Type: {content_type}\r\n\r\n".encode() + self._body()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            fields: dict[str, bytes] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                fields[str(name)] = payload
            image = Image.open(io.BytesIO(fields["file"]))
            with state.lock:
                photo = {
                    "id": len(state.photos) + 1,
                    "owner": user,
                    "caption": fields.get("caption", b"").decode(),
                    "visibility": fields.get("visibility", b"private").decode(),
                    "content_type": Image.MIME[str(image.format)],
                    "width": image.width,
                    "height": image.height,
                }
                state.photos.append(photo)
            self._send(201, photo)

        def _share(self, user: str, photo_id: int, body: dict[str, Any]) -> None:
            photo = next((p for p in state.photos if p["id"] == photo_id), None)
            if photo is None or photo["owner"] != user:
                self._problem(404, "not-found")
            elif body["username"] not in state.passwords or body["username"] == user:
                self._problem(422, "unknown-username")
            elif (photo_id, body["username"]) in state.shares:
                self._problem(409, "already-shared")
            else:
                state.shares.add((photo_id, body["username"]))
                self._send(201, {"username": body["username"]})

        def _caller(self) -> str | None:
            token = self.headers.get("Authorization", "").removeprefix("Bearer token-")
            if token not in state.passwords:
                self._problem(401, "authentication-required")
                return None
            return token

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def _json(self) -> dict[str, Any]:
            body = json.loads(self._body())
            assert isinstance(body, dict)
            return body

        def _problem(self, status: int, slug: str) -> None:
            problem = {"type": f"https://snappy.example/problems/{slug}", "title": slug}
            self._send(status, {**problem, "status": status, "detail": f"{slug} (fake)"})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
