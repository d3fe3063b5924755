"""A gthread worker whose threads never wait on a client: slow clients cannot starve it.

Gunicorn's gthread worker hands a connection to a pool thread as soon as its first byte
arrives; the thread then reads the request head and the application reads the body, both
with blocking reads and no deadline. A client that trickles its head (slowloris) or its
body holds a thread for as long as it likes, and `threads` such clients stop the process
answering anything, `/healthz` included.

`BufferingThreadWorker` keeps every read in the worker's event loop (the main thread,
non-blocking sockets) until the request is complete:

- the head (request line and headers) is buffered until its blank line, at most
  `HEAD_LIMIT_BYTES`, within `HEAD_TIMEOUT_SECONDS` of the connection becoming active;
- the body (Content-Length or chunked framing) is buffered into a spooled temporary file
  (memory up to `SPOOL_MEMORY_BYTES`, then disk), at most the largest body any Snappy
  endpoint accepts, at an average rate of at least `BODY_MIN_BYTES_PER_SECOND` after a
  grace of `BODY_GRACE_SECONDS`;
- only then does a pool thread parse the complete request from that buffer with gunicorn's
  own parser and run the application, which therefore never reads from the socket.

A request over a bound or past a deadline is answered from the event loop with an
`application/problem+json` document (413, 414, 431, 408) and the connection is closed
without blocking: a lingering close that drains what the client still sends for a moment,
so that it reads the answer rather than a reset. Errors gunicorn's parser finds in a
complete head (a malformed request line or header, a field over gunicorn's own limits)
are problem documents too (400, 414, 431).

Deliberately free of Snappy imports: the monolith keeps a byte-identical copy
(`snappy_monolith.gunicorn_worker`), the way it keeps its own errors and tokens, and a test
holds the two copies equal.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from gunicorn import http, util
from gunicorn.http import errors as http_errors
from gunicorn.http.unreader import Unreader
from gunicorn.workers import gthread

__all__ = [
    "BODY_GRACE_SECONDS",
    "BODY_MIN_BYTES_PER_SECOND",
    "HEAD_LIMIT_BYTES",
    "HEAD_TIMEOUT_SECONDS",
    "BufferingThreadWorker",
    "RequestReader",
    "problem_response",
]

PROBLEM_TYPE_BASE = "https://snappy.example/problems/"
# Request line and header fields together; Envoy's default is 60 KiB, nginx's 4 x 8 KiB.
HEAD_LIMIT_BYTES = 32 * 1024
# From the connection's first byte (or its acceptance) to the head's blank line.
HEAD_TIMEOUT_SECONDS = 10.0
# A body gets this long, plus one second per BODY_MIN_BYTES_PER_SECOND of its size.
BODY_GRACE_SECONDS = 10.0
BODY_MIN_BYTES_PER_SECOND = 16 * 1024
# The largest body any endpoint takes: an upload plus its multipart framing (the
# applications' MAX_CONTENT_LENGTH); a larger one is refused before it is read.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
SPOOL_MEMORY_BYTES = 1024 * 1024
# One chunk-size or trailer line of a chunked body.
CHUNK_LINE_LIMIT_BYTES = 4096
RECV_BYTES = 64 * 1024
# How long a closing connection keeps draining what the client sends, and how much.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 256 * 1024
# A pool thread writing a response to a client that does not read gives up after this.
SEND_TIMEOUT_SECONDS = 30.0
# gunicorn's own ceiling on the request line when its setting is 0 or too large.
MAX_REQUEST_LINE = 8190
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class Refusal:
    """A request answered by the worker itself: status, reason phrase, problem slug and title."""

    status: int
    reason: str
    slug: str
    title: str
    detail: str


MALFORMED = Refusal(
    400, "Bad Request", "malformed-request", "Malformed request", "The request is not valid HTTP/1.1."
)
TIMED_OUT = Refusal(
    408, "Request Timeout", "request-timeout", "Request timeout", "The request did not arrive in time."
)
TOO_LARGE = Refusal(
    413, "Content Too Large", "payload-too-large", "Request body too large", "The request body is too large."
)
URI_TOO_LONG = Refusal(
    414, "URI Too Long", "uri-too-long", "Request line too long", "The request line is too long."
)
HEADERS_TOO_LARGE = Refusal(
    431,
    "Request Header Fields Too Large",
    "request-header-fields-too-large",
    "Request header fields too large",
    "The request's header fields are too large.",
)
INTERNAL = Refusal(
    500, "Internal Server Error", "internal-error", "Internal server error", "Internal server error"
)


def problem_response(refusal: Refusal) -> bytes:
    """The whole HTTP/1.1 response, closing the connection, that carries `refusal` as a problem document."""
    document = {
        "type": PROBLEM_TYPE_BASE + refusal.slug,
        "title": refusal.title,
        "status": refusal.status,
        "detail": refusal.detail,
    }
    body = json.dumps(document).encode()
    head = (
        f"HTTP/1.1 {refusal.status} {refusal.reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        "Cache-Control: no-store\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _refusal_for(exc: BaseException) -> Refusal | None:
    """The problem document for an error gunicorn's parser raised, or None for one left to gunicorn."""
    if isinstance(exc, (http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName)):
        # A header the application tried to send: the application's fault.
        return INTERNAL
    if isinstance(exc, http_errors.LimitRequestLine):
        return URI_TOO_LONG
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return HEADERS_TOO_LARGE
    malformed = (
        http_errors.InvalidRequestLine,
        http_errors.InvalidRequestMethod,
        http_errors.InvalidHTTPVersion,
        http_errors.InvalidHeader,
        http_errors.InvalidHeaderName,
        http_errors.ObsoleteFolding,
        http_errors.InvalidChunkSize,
        http_errors.ChunkMissingTerminator,
        http_errors.InvalidChunkExtension,
        http_errors.InvalidSchemeHeaders,
        http_errors.NoMoreData,
    )
    if isinstance(exc, malformed):
        return MALFORMED
    return None


# A client that left, or did not read its response within SEND_TIMEOUT_SECONDS (no errno).
_CLIENT_GONE_ERRNOS = (None, errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)
# Errors gunicorn answers itself (403, 417, 501, its own 500 for configuration), as it does.
_ANSWERED_BY_GUNICORN = (
    http_errors.ParseException,
    ssl.SSLError,
)


def max_body_bytes(environ: dict[str, str] | None = None) -> int:
    """The largest request body accepted: SNAPPY_MAX_UPLOAD_BYTES plus multipart framing."""
    source = os.environ if environ is None else environ
    text = source.get("SNAPPY_MAX_UPLOAD_BYTES", "").strip()
    upload = int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_UPLOAD_BYTES
    return upload + MULTIPART_OVERHEAD_BYTES


class _ChunkedFraming:
    """Finds where a chunked body ends, fed piece by piece; it checks framing, gunicorn decodes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.state = "size"
        self.line = bytearray()
        self.remaining = 0
        self.total = 0

    def feed(self, data: bytes) -> int | None:
        """How many bytes of `data` complete the body, or None if it needs more; ValueError on bad framing."""
        position = 0
        while position < len(data):
            if self.state == "data":
                taken = min(self.remaining, len(data) - position)
                position += taken
                self.remaining -= taken
                if self.remaining == 0:
                    self.state = "data-end"
                continue
            line_end = data.find(b"\n", position)
            if line_end == -1:
                self.line += data[position:]
                if len(self.line) > CHUNK_LINE_LIMIT_BYTES:
                    raise ValueError("chunk line too long")
                return None
            self.line += data[position : line_end + 1]
            position = line_end + 1
            if len(self.line) > CHUNK_LINE_LIMIT_BYTES or not self.line.endswith(b"\r\n"):
                raise ValueError("chunk line too long or not ended by CRLF")
            line = bytes(self.line[:-2])
            self.line.clear()
            if self._line_ends_body(line):
                return position
        return None

    def _line_ends_body(self, line: bytes) -> bool:
        if self.state == "size":
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise ValueError("invalid chunk size")
            size = int(size_text, 16)
            self.total += size
            if self.total > self.limit:
                raise OverflowError("chunked body over the limit")
            self.state, self.remaining = ("trailer", 0) if size == 0 else ("data", size)
            return False
        if self.state == "data-end":
            if line:
                raise ValueError("chunk data not followed by CRLF")
            self.state = "size"
            return False
        # Trailer section: header lines until an empty one.
        return not line


class RequestReader:
    """One request read from a non-blocking socket: its head, then its body, within bounds and deadlines.

    `feed` takes what arrived and says whether the request is complete, needs more, or is
    refused. The complete request (head and body, as received) is in `message`; bytes the
    client sent after it (a pipelined request) are in `surplus`.
    """

    NEED_MORE = "need-more"
    COMPLETE = "complete"

    def __init__(self, *, started: float | None, request_line_limit: int, body_limit: int) -> None:
        # None until the first byte arrives on a kept-alive connection.
        self.started = started
        self.request_line_limit = request_line_limit
        self.body_limit = body_limit
        self.head = bytearray()
        self.head_done = False
        self.body_started = 0.0
        self.body_expected: int | None = None
        self.body_received = 0
        self.chunked: _ChunkedFraming | None = None
        self.expects_continue = False
        self.continue_sent = False
        self.message: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self.surplus = b""

    @property
    def received_anything(self) -> bool:
        """Whether any byte of this request arrived."""
        return bool(self.head)

    def close(self) -> None:
        """Release the buffered message."""
        self.message.close()

    def deadline(self) -> float:
        """When this request must be complete (monotonic clock)."""
        if not self.head_done:
            return (self.started or 0.0) + HEAD_TIMEOUT_SECONDS
        size = self.body_expected if self.body_expected is not None else self.body_received
        return self.body_started + BODY_GRACE_SECONDS + size / BODY_MIN_BYTES_PER_SECOND

    def feed(self, data: bytes, now: float) -> str | Refusal:
        """Take `data` as it arrived; NEED_MORE, COMPLETE, or the Refusal to answer with."""
        if self.started is None:
            self.started = now
        if not self.head_done:
            if not self.head:
                # RFC 9112 section 2.2: empty lines before a request line are ignored.
                data = data.lstrip(b"\r\n")
            self.head += data
            outcome = self._head_outcome(now)
            if outcome is not self.COMPLETE:
                return outcome
            # Whatever followed the head is the start of the body (or the next request).
            head_end = self.head.find(b"\r\n\r\n") + 4
            data = bytes(self.head[head_end:])
            del self.head[head_end:]
            self.message.write(self.head)
            if self.body_expected == 0 and self.chunked is None:
                self.surplus = data
                return self.COMPLETE
        return self._feed_body(data)

    def _head_outcome(self, now: float) -> str | Refusal:
        line_end = self.head.find(b"\r\n")
        if line_end > self.request_line_limit or (
            line_end == -1 and len(self.head) > self.request_line_limit + 2
        ):
            return URI_TOO_LONG
        head_end = self.head.find(b"\r\n\r\n")
        if head_end == -1:
            return HEADERS_TOO_LARGE if len(self.head) > HEAD_LIMIT_BYTES else self.NEED_MORE
        if head_end + 4 > HEAD_LIMIT_BYTES:
            return HEADERS_TOO_LARGE
        self.head_done = True
        self.body_started = now
        return self._read_framing(bytes(self.head[:head_end]))

    def _read_framing(self, head: bytes) -> str | Refusal:
        """How the body is framed (RFC 9112 section 6.3); gunicorn re-checks every header later."""
        lines = head.split(b"\r\n")
        version = lines[0].rsplit(b" ", 1)[-1]
        lengths: list[bytes] = []
        codings: list[bytes] = []
        expect = b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings.extend(coding.strip().lower() for coding in value.split(b","))
            elif name == b"expect":
                expect = value.strip().lower()
        if codings:
            if lengths or codings[-1] != b"chunked":
                # Ambiguous or unsupported framing: gunicorn refuses it from the head alone.
                self.body_expected = 0
                return self.COMPLETE
            self.chunked = _ChunkedFraming(self.body_limit)
        elif lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                self.body_expected = 0
                return self.COMPLETE
            self.body_expected = int(lengths[0])
            if self.body_expected > self.body_limit:
                return TOO_LARGE
        else:
            self.body_expected = 0
        has_body = self.chunked is not None or bool(self.body_expected)
        self.expects_continue = has_body and expect == b"100-continue" and version == b"HTTP/1.1"
        return self.COMPLETE

    def _feed_body(self, data: bytes) -> str | Refusal:
        if self.chunked is not None:
            try:
                end = self.chunked.feed(data)
            except OverflowError:
                return TOO_LARGE
            except ValueError:
                return MALFORMED
        else:
            remaining = (self.body_expected or 0) - self.body_received
            end = remaining if len(data) >= remaining else None
        taken = data if end is None else data[:end]
        self.message.write(taken)
        self.body_received += len(taken)
        if end is None:
            return self.NEED_MORE
        self.surplus = data[end:]
        return self.COMPLETE


class _BufferedUnreader(Unreader):  # type: ignore[misc]  # gunicorn is untyped
    """Serves gunicorn's parser the buffered request, and nothing after it: no socket reads."""

    def __init__(self, message: IO[bytes]) -> None:
        super().__init__()
        self.message = message

    def chunk(self, size_hint: int | None = None) -> bytes:
        return self.message.read(max(size_hint or 0, 8192))

    def exhausted(self) -> bool:
        """Whether the parser consumed the whole buffered request and holds nothing back."""
        return not self.buf.getvalue() and not self.message.read(1)


class BufferedConnection(gthread.TConn):  # type: ignore[misc]  # gunicorn is untyped
    """A client connection with the request being read, or read, into a buffer."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.reader: RequestReader | None = None
        # Idle deadline before a request's first byte (keep-alive), on the monotonic clock.
        self.idle_until = 0.0
        self.linger_until: float | None = None
        self.lingered = 0


class BufferingThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gthread, with every request read in full by the event loop before a pool thread serves it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: set[BufferedConnection] = set()
        self.lingering: set[BufferedConnection] = set()
        self.body_limit = max_body_bytes()
        limit = self.cfg.limit_request_line
        self.request_line_limit = MAX_REQUEST_LINE if limit <= 0 or limit > MAX_REQUEST_LINE else limit

    def _plain_http(self) -> bool:
        # TLS and HTTP/2 keep gthread's own path; Snappy serves neither from gunicorn.
        return not self.cfg.is_ssl and not getattr(self.cfg, "http2", False)

    # -- event loop (main thread) ------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection and wait, in the event loop, for its request."""
        if not self._plain_http():
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = BufferedConnection(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start_request(conn, b"", first=True)

    def _start_request(self, conn: BufferedConnection, pending: bytes, *, first: bool = False) -> None:
        """Read the connection's next request, starting with bytes already received."""
        now = time.monotonic()
        # A new connection owes its head within the head timeout of being accepted; on a
        # kept-alive one the timeout runs from the next request's first byte.
        conn.reader = RequestReader(
            started=now if first else None,
            request_line_limit=self.request_line_limit,
            body_limit=self.body_limit,
        )
        conn.idle_until = now + (HEAD_TIMEOUT_SECONDS if first else self.cfg.keepalive)
        if not self.alive:
            conn.idle_until = min(conn.idle_until, now + gthread.STOP_KEEPALIVE_LINGER)
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if pending:
            self._take(conn, pending)

    def _on_readable(self, conn: BufferedConnection, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)
            return
        self._take(conn, data)

    def _take(self, conn: BufferedConnection, data: bytes) -> None:
        reader = conn.reader
        if reader is None:
            return
        outcome = reader.feed(data, time.monotonic())
        if isinstance(outcome, Refusal):
            self._refuse(conn, outcome)
            return
        if reader.expects_continue and not reader.continue_sent:
            reader.continue_sent = True
            self._send_now(conn, CONTINUE_RESPONSE)
        if outcome == RequestReader.COMPLETE:
            self.reading.discard(conn)
            self.poller.unregister(conn.sock)
            reader.message.seek(0)
            self.enqueue_req(conn)

    def _send_now(self, conn: BufferedConnection, data: bytes) -> None:
        """Write a short answer without blocking; a client that cannot take it loses it."""
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _refuse(self, conn: BufferedConnection, refusal: Refusal) -> None:
        if refusal.status != TIMED_OUT.status:
            self.log.warning("Refused a request from ip=%s: %s", _ip(conn.client), refusal.slug)
        self._send_now(conn, problem_response(refusal))
        self._linger(conn)

    def _linger(self, conn: BufferedConnection) -> None:
        """Close after a response without blocking: FIN first, then drain what the client still sends."""
        self._forget_reader(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.linger_until = time.monotonic() + LINGER_SECONDS
        conn.lingered = 0
        self.lingering.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_lingering, conn))

    def _on_lingering(self, conn: BufferedConnection, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.lingered += len(data)
        if not data or conn.lingered > LINGER_MAX_BYTES:
            self._close(conn)

    def _forget_reader(self, conn: BufferedConnection) -> None:
        if conn in self.reading:
            self.reading.discard(conn)
            self._unregister(conn)
        if conn.reader is not None:
            conn.reader.close()
            conn.reader = None

    def _unregister(self, conn: BufferedConnection) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: BufferedConnection) -> None:
        """Close a connection whose client left or idled out, with no answer owed."""
        self._forget_reader(conn)
        self._close(conn)

    def _close(self, conn: BufferedConnection) -> None:
        if conn in self.lingering:
            self.lingering.discard(conn)
            self._unregister(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also expire requests past their deadline and lingering closes past theirs."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [conn for conn in self.reading if conn.reader is not None]:
            reader = conn.reader
            assert reader is not None
            if not reader.received_anything:
                if not self.alive:
                    conn.idle_until = min(conn.idle_until, now + gthread.STOP_KEEPALIVE_LINGER)
                if now >= conn.idle_until:
                    self._drop(conn)
            elif now >= reader.deadline():
                self._refuse(conn, TIMED_OUT)
        for conn in [conn for conn in self.lingering if now >= (conn.linger_until or 0.0)]:
            self._close(conn)

    def murder_keepalived(self, force: bool = False) -> None:
        """Also close every reading and lingering connection when the worker stops for good."""
        super().murder_keepalived(force)
        if force:
            for conn in list(self.reading):
                self._drop(conn)
            for conn in list(self.lingering):
                self._close(conn)

    def finish_request(self, conn: gthread.TConn, fs: Any) -> None:
        """After a pool thread served a request: read the next one in the event loop, or close."""
        if not isinstance(conn, BufferedConnection):
            super().finish_request(conn, fs)
            return
        try:
            keepalive = bool(fs.result()) if not fs.cancelled() else False
        except Exception:  # noqa: BLE001 - handle() reports its own errors
            keepalive = False
        reader = conn.reader
        surplus = reader.surplus if reader is not None else b""
        if reader is not None:
            reader.close()
            conn.reader = None
        try:
            conn.sock.setblocking(False)
            if keepalive:
                self._start_request(conn, surplus)
            else:
                self._linger(conn)
        except OSError:
            self._close(conn)

    # -- pool threads ----------------------------------------------------------------

    def handle(self, conn: gthread.TConn) -> Any:
        """Serve one buffered request: gunicorn parses it from the buffer, the application answers."""
        if not isinstance(conn, BufferedConnection) or conn.reader is None:
            return super().handle(conn)
        req = None
        reader = conn.reader
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(SEND_TIMEOUT_SECONDS)
            unreader = _BufferedUnreader(reader.message)
            parser = http.RequestParser(self.cfg, conn.sock, conn.client)
            parser.unreader = unreader
            conn.parser = parser
            req = next(parser)
            # The body is already here: no "100 Continue" from gunicorn (the event loop sent it).
            req._expected_100_continue = False  # gunicorn has no public switch
            keepalive = self._keepalive_after(conn, self.handle_request(req, conn))
            # A request framed differently from what the event loop saw must not share the connection.
            return keepalive and unreader.exhausted()
        except StopIteration as error:
            self.log.debug("Closing connection. %s", error)
        except http_errors.NoMoreData as error:
            # The parser wanted more than the event loop framed: the request is malformed.
            self.handle_error(req, conn.sock, conn.client, error)
        except (ssl.SSLError, OSError) as error:
            if isinstance(error, OSError) and error.errno not in _CLIENT_GONE_ERRNOS:
                self.log.exception("Socket error processing request.")
            else:
                self.log.debug("Client connection lost: %s", error)
        except Exception as error:  # noqa: BLE001 - every error becomes an answer
            self.handle_error(req, conn.sock, conn.client, error)
        return False

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Parser errors and faults as problem documents; the rest as gunicorn answers them."""
        refusal = _refusal_for(exc)
        if refusal is None and not isinstance(exc, _ANSWERED_BY_GUNICORN):
            refusal = INTERNAL
        if refusal is None:
            super().handle_error(req, client, addr, exc)
            return
        if refusal is INTERNAL:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", _ip(addr), exc)
        try:
            util.write_nonblock(client, problem_response(refusal))
        except Exception:  # noqa: BLE001 - the client may be gone
            self.log.debug("Failed to send error message.")


def _ip(address: Any) -> str:
    """The IP address of a peer address tuple (empty for a Unix socket)."""
    return str(address[0]) if isinstance(address, tuple) and address else ""
