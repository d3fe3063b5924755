"""The edge router: one public entry that sends each request to the component serving it.

It reads its starting phase and the components' addresses from the environment, looks
every request up in the routing table (`snappy_edge.routing`) for the phase its live
control file says (`snappy_edge.control`: `snappy phase set`, `snappy cutover`), read
once per request, and forwards it through a pooled HTTP client with explicit timeouts.
While a cutover freezes a route group, the requests that write its data answer 503 with
`Retry-After`; /metrics reports the phase, the routing, the freeze and the writes in
flight per group. Paths under /internal/ are service-to-service
only and answer 404 here. A component that does not answer gives a 503 problem document
naming it, never a hang.

The rules that keep the edge from being a way around them (docs/security.md, "The edge"):

- No state between clients. The pooled client keeps no cookies (its jar stores nothing)
  and the edge sets none of its own: a client's `Cookie` header and every `Set-Cookie`
  header of the answer pass through untouched, each `Set-Cookie` as its own header.
- One path, decided once. The route is chosen on the percent-decoding of the exact path
  that is forwarded, and the forwarded URL is checked to carry that path byte for byte.
  Spellings that a server further on could read differently are refused with
  `400 ambiguous-path`: dot segments (`.`, `..`, encoded or not), empty segments, encoded
  slashes and backslashes, raw backslashes, percent-encoded unreserved characters (e.g.
  `/%69nternal`), invalid percent escapes, invalid UTF-8, control characters, and any
  character RFC 3986 does not allow in a path.
- Whole requests only. The request body is read to its end (spooled to disk past
  1 MiB, at most SNAPPY_EDGE_MAX_BODY_BYTES) before anything is sent upstream, so a body
  shorter than its `Content-Length`, a malformed chunked body or a `Content-Length`
  beside `Transfer-Encoding` is refused with `400 malformed-request` (the type the server
  in front of the application uses for the framing it refuses itself) and never reaches a
  component as half a request; the body goes on with a `Content-Length` of its own.

Environment: SNAPPY_EDGE_PHASE (0-4, default 3) and the address of each component that
phase uses: SNAPPY_MONOLITH_URL, SNAPPY_USER_SERVICE_URL, SNAPPY_PHOTO_SERVICE_URL,
SNAPPY_WEB_UI_URL. Each holds one URL, or several separated by commas: the component's
replicas, which take its requests in turn, none retried on another (`snappy_edge.replicas`).
Timeouts: SNAPPY_EDGE_CONNECT_TIMEOUT_SECONDS (2),
SNAPPY_EDGE_READ_TIMEOUT_SECONDS (30). Largest request body:
SNAPPY_EDGE_MAX_BODY_BYTES (32 MiB; an upload is at most 10 MiB plus its form).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.cookiejar import Cookie, CookieJar
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import unquote_to_bytes
from urllib.request import Request as UrllibRequest

import httpx
from flask import Flask, Response, g, request
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import PathConverter

from snappy_edge.control import ControlWatcher, EdgeControl
from snappy_edge.replicas import ADDRESS_SEPARATOR, RoundRobin, addresses, parse_addresses
from snappy_edge.routing import PHASES, ROUTE_GROUPS, component_for, groups_written_by, is_internal
from snappy_edge.shadow import ShadowSettings, ShadowTraffic
from snappy_plumbing.config import (
    ConfigurationError,
    EnvironmentSettings,
    boolean,
    positive_float,
    positive_int,
    section,
    variable,
)
from snappy_plumbing.errors import (
    MalformedRequest,
    NotFound,
    ServiceUnavailable,
    SnappyError,
    problem_response,
    register_error_handlers,
)
from snappy_plumbing.observability import ReadinessCheck, install_observability
from snappy_plumbing.security_headers import install_security_headers
from snappy_topology import EDGE_PHASE, PartName, RouteGroupName, part, url_setting

__all__ = ["AmbiguousPath", "EdgeSettings", "create_app", "decision_path"]

logger = logging.getLogger(__name__)

# The edge's peers and the settings that carry their URLs, as the topology names them.
COMPONENT_URL_VARIABLES = {peer.name: peer.setting for peer in part(PartName.EDGE).peers}
# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ProxiedPathConverter(PathConverter):
    """Any path but the edge's own operational endpoints, which it answers itself.

    Without the exclusion, the catch-all rule would also match `/healthz` for every other
    method, and the `Allow` header of those endpoints would advertise methods they refuse.
    """

    regex = r"(?!(?:healthz|readyz|metrics)$)[^/].*?"


class AmbiguousPath(SnappyError):
    status, slug, title = 400, "ambiguous-path", "Ambiguous request path"


class _KeepNothingCookieJar(CookieJar):
    """A cookie jar that never stores a cookie.

    httpx keeps every `Set-Cookie` of an answer in its client's jar and adds the jar to
    later requests that carry no `Cookie` header: through one shared client, the next
    visitor would get the last one's session. The edge serves many clients, so it keeps none.
    """

    def set_cookie(self, cookie: Cookie) -> None:
        """Keep nothing."""

    def set_cookie_if_ok(self, cookie: Cookie, request: UrllibRequest) -> None:
        """Keep nothing."""

    def extract_cookies(self, response: Any, request: UrllibRequest) -> None:
        """Keep nothing."""


_CHUNK_BYTES = 64 * 1024
# A cutover's freeze lasts about a second (docs/migration-guide.md): retry soon.
_FREEZE_RETRY_AFTER_SECONDS = 1
# Request bodies up to this size stay in memory while they are read; larger ones spool to disk.
_BODY_IN_MEMORY_BYTES = 1024 * 1024
# RFC 3986 section 3.3: what a path may hold as it is, besides "/" and percent escapes.
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_PERCENT_ESCAPE = re.compile(r"%(.?.?)")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Encoded, these would split or join segments for a server that decodes before it routes.
_ENCODED_SEPARATORS = frozenset(b"/\\")
_DIGITS = re.compile(r"[0-9]+")


def decision_path(raw_path: str) -> str:
    """The path a route is decided on: `raw_path` percent-decoded, when it has one reading only.

    Raises AmbiguousPath for any spelling that another server (httpx, an upstream router, a
    normalizing proxy) could read as a different path.
    """
    if not raw_path.startswith("/"):
        raise AmbiguousPath("The request target must be a path starting with '/'")
    if _PATH_CHARACTERS.fullmatch(raw_path) is None:
        raise AmbiguousPath(
            "The path holds a character a path may not hold as it is (a control character, "
            "a space, a backslash, a non-ASCII character, ...)"
        )
    for escape in _PERCENT_ESCAPE.finditer(raw_path):
        hex_digits = escape.group(1)
        if _HEX_PAIR.fullmatch(hex_digits) is None:
            raise AmbiguousPath("The path holds an invalid percent escape")
        byte = int(hex_digits, 16)
        if byte in _UNRESERVED:
            raise AmbiguousPath(f"The path percent-encodes {chr(byte)!r}, which must be written as it is")
        if byte in _ENCODED_SEPARATORS:
            raise AmbiguousPath("The path holds an encoded slash or backslash")
        if byte < 0x20 or byte == 0x7F:
            raise AmbiguousPath("The path holds an encoded control character")
    segments = raw_path.split("/")[1:]
    if any(segment in {".", ".."} for segment in segments):
        raise AmbiguousPath("The path holds a dot segment")
    if any(segment == "" for segment in segments[:-1]):
        raise AmbiguousPath("The path holds an empty segment ('//')")
    try:
        return unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise AmbiguousPath("The path's percent escapes are not UTF-8") from None


def _phase(name: str, raw: str) -> int:
    if raw not in {str(phase) for phase in PHASES}:
        raise ConfigurationError(f"{name} must be one of {sorted(PHASES)}, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class EdgeSettings(EnvironmentSettings):
    """The phase, and where each component listens."""

    phase: int = field(default=3, metadata=variable(EDGE_PHASE, _phase))
    # From the variable of each peer that has one (COMPONENT_URL_VARIABLES), as it is written
    # there: one URL, or the URLs of the part's replicas separated by commas (`replicas`).
    upstreams: Mapping[PartName, str] = field(default_factory=dict)
    # Shadow traffic: the control file, where comparisons are recorded, what they may cost.
    shadow: ShadowSettings = field(default_factory=ShadowSettings, metadata=section())
    connect_timeout_seconds: float = field(
        default=2.0, metadata=variable("SNAPPY_EDGE_CONNECT_TIMEOUT_SECONDS", positive_float)
    )
    # Above web-ui's longest call (a write: 21 s) and the request budgets under it, below
    # gunicorn's worker timeout (tests/security/test_deadline_budget.py checks the chain).
    read_timeout_seconds: float = field(
        default=30.0, metadata=variable("SNAPPY_EDGE_READ_TIMEOUT_SECONDS", positive_float)
    )
    max_body_bytes: int = field(
        default=32 * 1024 * 1024, metadata=variable("SNAPPY_EDGE_MAX_BODY_BYTES", positive_int)
    )
    # Set by `python -m snappy_edge` on the lane it runs behind its front (snappy_edge.serve):
    # the front already set X-Forwarded-For/-Proto/-Host to the visitor's, and the lane listens
    # on loopback only, so it passes them on instead of naming the front as the client.
    behind_front: bool = field(default=False, metadata=variable("SNAPPY_EDGE_BEHIND_FRONT", boolean))
    # Also set by `python -m snappy_edge` on its lane: the file in which it records the phase
    # its front has taken (`snappy_edge.serve.write_front_state`), reported in /metrics.
    front_state_file: str = field(default="", metadata=variable("SNAPPY_EDGE_FRONT_STATE_FILE"))

    def __post_init__(self) -> None:
        # Refused at start, naming the variable: an empty item, an address that is no http URL.
        for component, value in self.upstreams.items():
            parse_addresses(url_setting(component), value)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the phase, the timeouts and the upstream addresses from `environ`."""
        environ = os.environ if environ is None else environ
        upstreams = {
            component: ADDRESS_SEPARATOR.join(address.rstrip("/") for address in addresses(value))
            for component, name in COMPONENT_URL_VARIABLES.items()
            if (value := environ.get(name, "").strip())
        }
        return replace(super().from_environ(environ), upstreams=upstreams)

    @property
    def replicas(self) -> dict[PartName, tuple[str, ...]]:
        """Every address of each configured component, in the order given (one for a single URL)."""
        return {component: addresses(value) for component, value in self.upstreams.items()}

    def components_in_use(self) -> set[PartName]:
        """The components this phase sends traffic to."""
        return set(PHASES[self.phase].values())


def create_app(settings: EdgeSettings | None = None, transport: httpx.BaseTransport | None = None) -> Flask:
    """The edge for one phase; `transport` replaces the network (tests pass httpx.MockTransport)."""
    settings = settings or EdgeSettings.from_environ()
    client = httpx.Client(
        transport=transport,
        cookies=_KeepNothingCookieJar(),
        timeout=httpx.Timeout(
            connect=settings.connect_timeout_seconds,
            read=settings.read_timeout_seconds,
            write=settings.read_timeout_seconds,
            pool=settings.connect_timeout_seconds,
        ),
        # Idle connections go after 2 s, well before the parts' gunicorn closes them (5 s):
        # httpx's default (5 s) could pick a connection the part was closing at that moment.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0),
        follow_redirects=False,
    )
    app = _flask_app(settings)
    live = _LiveState(settings)
    install_observability(app, _readiness_checks(settings, client, live.phase))
    app.extensions["snappy.metrics"].registry.register(_EdgeStateCollector(settings, live))
    proxy = _Proxy(
        settings,
        {component: RoundRobin(urls) for component, urls in settings.replicas.items()},
        client,
        _shadow_traffic(app, settings, transport),
    )
    # The edge's own answers (problem documents) get `nosniff`; what a component sent is kept.
    install_security_headers(app, strict_transport=False)

    @app.before_request
    def refuse_ambiguous_paths() -> None:
        """Decide the path once, for every request, the edge's own endpoints included.

        It runs before Werkzeug's routing outcome is acted on, so a spelling Werkzeug would
        route or redirect on its own reading (`//x`, `/%68ealthz`) is refused first.
        """
        g.edge_raw_path = _raw_path()
        g.edge_decision_path = decision_path(g.edge_raw_path)

    def forward(path: str = "") -> Response:
        """Send the request to the component that serves it, and its answer back."""
        raw_path: str = g.edge_raw_path
        target_path: str = g.edge_decision_path
        if is_internal(target_path):
            raise NotFound("No resource at this address")
        # Read once, when the request starts: a phase change routes the requests after it,
        # and this one finishes where it started.
        control = live.control()
        component = component_for(control.phase_or(settings.phase), target_path)
        written = groups_written_by(request.method, target_path)
        if written & control.freeze:
            return _frozen(written & control.freeze)
        write_ended = live.write_started(written) if written else None
        try:
            response = proxy.send(component, raw_path, target_path)
        except BaseException:
            if write_ended is not None:
                write_ended()
            raise
        if write_ended is not None:
            # When the answer has been sent whole (or the client went away).
            response.call_on_close(write_ended)
        return response

    app.add_url_rule("/", view_func=forward, methods=PROXIED_METHODS, provide_automatic_options=False)
    app.add_url_rule(
        "/<proxied:path>", view_func=forward, methods=PROXIED_METHODS, provide_automatic_options=False
    )
    app.extensions["snappy.edge"] = settings
    return app


@dataclass(frozen=True)
class _Proxy:
    """Sends one request on to a component, and streams its answer back."""

    settings: EdgeSettings
    # Each component's addresses; a request goes to the next one, and only to it.
    replicas: Mapping[PartName, RoundRobin]
    client: httpx.Client
    shadow: ShadowTraffic

    def send(self, component: PartName, raw_path: str, target_path: str) -> Response:
        """The component's answer to the current request, or ServiceUnavailable."""
        replicas = self.replicas.get(component)
        if replicas is None:
            raise ServiceUnavailable(f"{component} is not configured at this edge")
        # Not tried again on another replica when it fails, whatever the method: a write may
        # have been done, and the front sends a read once as well (`snappy_edge.replicas`).
        base_url = replicas.next()
        upstream_url = _upstream_url(base_url, raw_path, request.query_string.decode("latin-1"))
        body = _read_body()
        # None unless the request is a read of the shadowed group. Made before the primary is
        # called, so that the primary's latency is measured from here.
        mirror = self.shadow.mirror(request.method, target_path, component, has_body=body is not None)
        try:
            headers = _forwarded_headers(trust_front=self.settings.behind_front)
            if body is not None:
                headers.append(("Content-Length", str(body.length)))
            upstream_request = self.client.build_request(
                request.method,
                upstream_url,
                # WSGI hands header values over as Latin-1 text: encoding them back gives the
                # client's bytes, whatever they are (httpx would refuse non-ASCII text).
                headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
                content=_spooled(body.file) if body is not None else b"",
            )
            try:
                upstream = self.client.send(upstream_request, stream=True)
            except httpx.TimeoutException:
                raise ServiceUnavailable(f"{component} did not answer in time") from None
            except httpx.TransportError:
                raise ServiceUnavailable(f"{component} is not answering") from None
        finally:
            # HTTP/1.1 sends the whole body before the answer starts: it is no longer needed.
            if body is not None:
                body.file.close()
        headers = [
            (name, value)
            for name, value in upstream.headers.multi_items()
            if name.lower() not in HOP_BY_HOP_HEADERS
        ]
        response = Response(_stream(upstream), status=upstream.status_code, headers=headers)
        response.call_on_close(upstream.close)
        # Shadowed: the client still gets the primary's answer as it streams; the candidate is
        # asked once the answer is closed, on a shadow thread.
        return response if mirror is None else mirror.follow(response, upstream_request, upstream)


def _frozen(groups: frozenset[RouteGroupName]) -> Response:
    """A cutover's write freeze: 503, to be tried again in a moment."""
    names = " and ".join(sorted(map(str, groups)))
    return problem_response(
        ServiceUnavailable(f"Writes to {names} are paused while they move; try again in a moment"),
        headers={"Retry-After": str(_FREEZE_RETRY_AFTER_SECONDS)},
    )


def _flask_app(settings: EdgeSettings) -> Flask:
    """The Flask app, before the edge's own behaviour is added to it."""
    # No static folder: Flask's default `/static/<filename>` route would shadow the pages' own
    # stylesheet and script, which the component serving pages answers.
    app = Flask(__name__, static_folder=None)
    # Werkzeug enforces this on the body stream too, chunked bodies included (413).
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.url_map.converters["proxied"] = ProxiedPathConverter
    register_error_handlers(app)
    return app


def _raw_path() -> str:
    # The path as the client sent it (still percent-encoded): the one the decision is made
    # on is the one forwarded. A server that gives no raw target gets the decoded path.
    raw: str = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    return raw.split("?", 1)[0]


def _upstream_url(base_url: str, raw_path: str, query: str) -> httpx.URL:
    """The component's URL for `raw_path`; refused when httpx would send another path."""
    base = httpx.URL(base_url)
    expected_path = base.raw_path.split(b"?", 1)[0].rstrip(b"/") + raw_path.encode("ascii")
    url = httpx.URL(base_url + raw_path + ("?" + query if query else ""))
    sent_path = url.raw_path.split(b"?", 1)[0]
    if sent_path != expected_path or url.host != base.host or url.port != base.port:
        raise AmbiguousPath("The path would not reach the component as it was sent")
    return url


@dataclass(frozen=True)
class _Body:
    """A request body read to its end."""

    file: IO[bytes]
    length: int


def _read_body() -> _Body | None:
    """The whole request body, or None when the request has none; refuses broken framing.

    The body is read before anything goes upstream, so a component never receives half a
    request; the bytes read are checked against the framing the client declared.
    """
    content_length = request.environ.get("CONTENT_LENGTH", "")
    transfer_encoding = request.environ.get("HTTP_TRANSFER_ENCODING", "")
    if content_length and transfer_encoding:
        # RFC 9112 section 6.1: a server that lets both through invites request smuggling.
        raise MalformedRequest("Content-Length and Transfer-Encoding must not be sent together")
    if content_length and _DIGITS.fullmatch(content_length) is None:
        raise MalformedRequest("Content-Length must be a non-negative decimal integer")
    if not content_length and not transfer_encoding:
        return None
    declared = int(content_length) if content_length else None
    spool = tempfile.SpooledTemporaryFile(max_size=_BODY_IN_MEMORY_BYTES)  # noqa: SIM115 - closed by the caller
    try:
        length = _copy_body(spool)
        if declared is not None and length != declared:
            raise MalformedRequest(
                f"The body ended after {length} of the {declared} bytes its Content-Length declares"
            )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _Body(file=spool, length=length)


def _copy_body(spool: IO[bytes]) -> int:
    """Copy the request body into `spool`; returns its length."""
    stream = request.stream
    length = 0
    while True:
        try:
            chunk = stream.read(_CHUNK_BYTES)
        except RequestEntityTooLarge:
            raise
        except Exception as error:  # noqa: BLE001 - any failure to read the body is the client's
            # Each WSGI server reports a body that cannot be read its own way (gunicorn:
            # NoMoreData, InvalidChunkSize, ChunkMissingTerminator...; Werkzeug:
            # ClientDisconnected). All of them mean the client's framing broke.
            logger.warning("request body unreadable: %s", type(error).__name__)
            raise MalformedRequest(f"The request body could not be read: {type(error).__name__}") from None
        if not chunk:
            return length
        length += len(chunk)
        spool.write(chunk)


def _spooled(file: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: file.read(_CHUNK_BYTES), b"")


def _forwarded_headers(*, trust_front: bool = False) -> list[tuple[str, str]]:
    # Content-Length is set again from the body read; the client's Cookie header is kept as is.
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name.lower() not in HOP_BY_HOP_HEADERS and name.lower() != "content-length"
    ]
    headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
    headers.append(("X-Request-ID", g.request_id))
    if trust_front:
        return headers
    previous = request.headers.get("X-Forwarded-For")
    client_address = request.remote_addr or "unknown"
    headers = [(name, value) for name, value in headers if not name.lower().startswith("x-forwarded-")]
    headers.append(("X-Forwarded-For", f"{previous}, {client_address}" if previous else client_address))
    headers.append(("X-Forwarded-Proto", request.scheme))
    headers.append(("X-Forwarded-Host", request.host))
    return headers


def _stream(upstream: httpx.Response) -> Iterator[bytes]:
    # Raw bytes: the body reaches the client exactly as the component encoded it.
    yield from upstream.iter_raw(_CHUNK_BYTES)


def _shadow_traffic(
    app: Flask, settings: EdgeSettings, transport: httpx.BaseTransport | None
) -> ShadowTraffic:
    """The app's shadow traffic (snappy_edge.shadow), counted in the app's /metrics."""
    shadow = ShadowTraffic(
        settings.shadow,
        # A component's first address: the copies are a comparison, not the component's load.
        {component: urls[0] for component, urls in settings.replicas.items()},
        # A pool of its own, with the shadow's tight timeouts, and no cookie jar either.
        client=httpx.Client(
            transport=transport,
            cookies=_KeepNothingCookieJar(),
            timeout=settings.shadow.timeout_seconds,
            follow_redirects=False,
        ),
        registry=app.extensions["snappy.metrics"].registry,
    )
    app.extensions["snappy.shadow"] = shadow
    return shadow


class _LiveState:
    """What an operator changes while the edge runs, and the writes it is carrying.

    The control file (`snappy_edge.control`) is looked at once per call (one stat) and read
    again only when it changed: the phase to route by (`snappy phase set`, else the starting
    one) and the route groups whose writes are frozen (a cutover). The writes in flight are
    counted per route group written, so that a cutover knows when the last write that
    started before its freeze has finished.
    """

    def __init__(self, settings: EdgeSettings) -> None:
        self._watcher = ControlWatcher(settings.shadow.control_file)
        self._starting_phase = settings.phase
        self._lock = threading.Lock()
        self._writes_in_flight: Counter[RouteGroupName] = Counter()

    def control(self) -> EdgeControl:
        return self._watcher.current()

    def phase(self) -> int:
        return self.control().phase_or(self._starting_phase)

    def writes_in_flight(self) -> dict[RouteGroupName, int]:
        with self._lock:
            return {group: self._writes_in_flight[group] for group in RouteGroupName}

    def write_started(self, groups: frozenset[RouteGroupName]) -> Callable[[], None]:
        """Count a write of `groups` as in flight; the returned call ends it (once)."""
        with self._lock:
            self._writes_in_flight.update(groups)
        ended = threading.Event()

        def end() -> None:
            if ended.is_set():
                return
            ended.set()
            with self._lock:
                self._writes_in_flight.subtract(groups)

        return end


def _readiness_checks(
    settings: EdgeSettings, client: httpx.Client, current_phase: Callable[[], int]
) -> dict[str, ReadinessCheck]:
    """A check of every configured part; each counts only while the current phase routes to it.

    A part with replicas is ready when every one of them is: each gets its turn of the
    requests, and none is tried again on another.
    """

    def check(component: PartName, urls: tuple[str, ...]) -> ReadinessCheck:
        def ready() -> None:
            if component in set(PHASES[current_phase()].values()):
                for url in urls:
                    client.get(f"{url}/readyz", timeout=2.0).raise_for_status()

        return ready

    return {str(component): check(component, urls) for component, urls in sorted(settings.replicas.items())}


class _EdgeStateCollector(Collector):
    """The edge's live state in /metrics, read when it is scraped: phase, routing, parts."""

    def __init__(self, settings: EdgeSettings, live: _LiveState) -> None:
        self._settings = settings
        self._live = live

    def collect(self) -> Iterator[Metric]:
        """The state now."""
        control = self._live.control()
        phase = control.phase_or(self._settings.phase)
        yield GaugeMetricFamily("snappy_edge_phase", "The phase the edge routes by.", value=phase)
        routes = GaugeMetricFamily(
            "snappy_edge_route",
            "1 for the part each route group goes to in the current phase.",
            labels=["group", "part"],
        )
        for group in ROUTE_GROUPS:
            routes.add_metric([str(group.name), str(PHASES[phase][group.name])], 1)
        yield routes
        configured = GaugeMetricFamily(
            "snappy_edge_part_configured",
            "1 for each part the edge has an address for (the phases it can be set to need theirs).",
            labels=["part"],
        )
        for configured_part in sorted(self._settings.upstreams):
            configured.add_metric([str(configured_part)], 1)
        yield configured
        frozen = GaugeMetricFamily(
            "snappy_edge_write_freeze",
            "1 for each route group whose writes are refused for now (a cutover's freeze).",
            labels=["group"],
        )
        for group in ROUTE_GROUPS:
            frozen.add_metric([str(group.name)], 1 if group.name in control.freeze else 0)
        yield frozen
        in_flight = GaugeMetricFamily(
            "snappy_edge_writes_in_flight",
            "Writes the edge is carrying now, by the route group whose data they write.",
            labels=["group"],
        )
        for group_name, count in self._live.writes_in_flight().items():
            in_flight.add_metric([str(group_name)], count)
        yield in_flight
        front = _front_state(self._settings.front_state_file)
        if front is not None:
            name, front_phase = front
            front_metric = GaugeMetricFamily(
                "snappy_edge_front_phase",
                "The phase the edge's front (nginx or Caddy) was last configured for.",
                labels=["front"],
            )
            front_metric.add_metric([name], front_phase)
            yield front_metric


def _front_state(path: str) -> tuple[str, int] | None:
    """The front and the phase it took, as `snappy_edge.serve` recorded them; None without a front."""
    if not path:
        return None
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return str(document["front"]), int(document["phase"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
