"""The edge router: one public entry that sends each request to the component serving it.

It reads the phase and the components' addresses from the environment, looks every
request up in the routing table (`snappy_migration.routing`), and forwards it through a
pooled HTTP client with explicit timeouts, streaming bodies both ways. Paths under
/internal/ are service-to-service only and answer 404 here. A component that does not
answer gives a 503 problem document naming it, never a hang.

Environment: SNAPPY_EDGE_PHASE (0-4, default 3) and the address of each component that
phase uses: SNAPPY_MONOLITH_URL, SNAPPY_USER_SERVICE_URL, SNAPPY_PHOTO_SERVICE_URL,
SNAPPY_WEB_UI_URL. Timeouts: SNAPPY_EDGE_CONNECT_TIMEOUT_SECONDS (2),
SNAPPY_EDGE_READ_TIMEOUT_SECONDS (30).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import httpx
from flask import Flask, Response, g, request
from werkzeug.routing import PathConverter

from snappy_migration.routing import PHASES, Component, component_for, is_internal
from snappy_plumbing.config import ConfigurationError, EnvironmentReader
from snappy_plumbing.errors import NotFound, ServiceUnavailable, register_error_handlers
from snappy_plumbing.observability import ReadinessCheck, install_observability

__all__ = ["EdgeSettings", "create_app"]

logger = logging.getLogger(__name__)

COMPONENT_URL_VARIABLES = {
    Component.MONOLITH: "SNAPPY_MONOLITH_URL",
    Component.USER_SERVICE: "SNAPPY_USER_SERVICE_URL",
    Component.PHOTO_SERVICE: "SNAPPY_PHOTO_SERVICE_URL",
    Component.WEB_UI: "SNAPPY_WEB_UI_URL",
}
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


_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class EdgeSettings:
    """The phase, and where each component listens."""

    phase: int
    upstreams: Mapping[Component, str] = field(default_factory=dict)
    connect_timeout_seconds: float = 2.0
    read_timeout_seconds: float = 30.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> EdgeSettings:
        """Read the phase and the upstream addresses from `environ`."""
        reader = EnvironmentReader(os.environ if environ is None else environ)
        raw_phase = reader.optional("SNAPPY_EDGE_PHASE") or "3"
        if raw_phase not in {str(phase) for phase in PHASES}:
            raise ConfigurationError(f"SNAPPY_EDGE_PHASE must be one of {sorted(PHASES)}, got {raw_phase!r}")
        phase = int(raw_phase)
        upstreams = {
            component: url.rstrip("/")
            for component, variable in COMPONENT_URL_VARIABLES.items()
            if (url := reader.optional(variable))
        }
        return cls(
            phase=phase,
            upstreams=upstreams,
            connect_timeout_seconds=reader.positive_float("SNAPPY_EDGE_CONNECT_TIMEOUT_SECONDS", 2.0),
            read_timeout_seconds=reader.positive_float("SNAPPY_EDGE_READ_TIMEOUT_SECONDS", 30.0),
        )

    def components_in_use(self) -> set[Component]:
        """The components this phase sends traffic to."""
        return set(PHASES[self.phase].values())


def create_app(settings: EdgeSettings | None = None) -> Flask:
    """The edge for one phase."""
    settings = settings or EdgeSettings.from_environ()
    client = httpx.Client(
        timeout=httpx.Timeout(
            connect=settings.connect_timeout_seconds,
            read=settings.read_timeout_seconds,
            write=settings.read_timeout_seconds,
            pool=settings.connect_timeout_seconds,
        ),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        follow_redirects=False,
    )
    app = Flask(__name__)
    app.url_map.converters["proxied"] = ProxiedPathConverter
    register_error_handlers(app)
    install_observability(app, _readiness_checks(settings, client))

    def forward(path: str = "") -> Response:
        """Send the request to the component that serves it, and its answer back."""
        target_path = request.path
        if is_internal(target_path):
            raise NotFound("No resource at this address")
        component = component_for(settings.phase, target_path)
        base_url = settings.upstreams.get(component)
        if base_url is None:
            raise ServiceUnavailable(f"{component} is not configured at this edge")
        query = "?" + request.query_string.decode("latin-1") if request.query_string else ""
        upstream_request = client.build_request(
            request.method,
            httpx.URL(base_url + _raw_path() + query),
            headers=_forwarded_headers(),
            content=_request_body(),
        )
        try:
            upstream = client.send(upstream_request, stream=True)
        except httpx.TimeoutException:
            raise ServiceUnavailable(f"{component} did not answer in time") from None
        except httpx.TransportError:
            raise ServiceUnavailable(f"{component} is not answering") from None
        headers = [
            (name, value)
            for name, value in upstream.headers.multi_items()
            if name.lower() not in HOP_BY_HOP_HEADERS
        ]
        response = Response(_stream(upstream), status=upstream.status_code, headers=headers)
        response.call_on_close(upstream.close)
        return response

    app.add_url_rule("/", view_func=forward, methods=PROXIED_METHODS, provide_automatic_options=False)
    app.add_url_rule(
        "/<proxied:path>", view_func=forward, methods=PROXIED_METHODS, provide_automatic_options=False
    )
    app.extensions["snappy.edge"] = settings
    return app


def _raw_path() -> str:
    # The path as the client sent it (still percent-encoded), so that %2F stays %2F.
    raw: str = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    return raw.split("?", 1)[0] or request.path


def _forwarded_headers() -> list[tuple[str, str]]:
    headers = [
        (name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP_HEADERS
    ]
    headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
    headers.append(("X-Request-ID", g.request_id))
    previous = request.headers.get("X-Forwarded-For")
    client_address = request.remote_addr or "unknown"
    headers = [(name, value) for name, value in headers if not name.lower().startswith("x-forwarded-")]
    headers.append(("X-Forwarded-For", f"{previous}, {client_address}" if previous else client_address))
    headers.append(("X-Forwarded-Proto", request.scheme))
    headers.append(("X-Forwarded-Host", request.host))
    return headers


def _request_body() -> Iterator[bytes] | bytes:
    if request.content_length is None and "chunked" not in request.headers.get("Transfer-Encoding", ""):
        return b""
    stream = request.stream
    return iter(lambda: stream.read(_CHUNK_BYTES), b"")


def _stream(upstream: httpx.Response) -> Iterator[bytes]:
    # Raw bytes: the body reaches the client exactly as the component encoded it.
    yield from upstream.iter_raw(_CHUNK_BYTES)


def _readiness_checks(settings: EdgeSettings, client: httpx.Client) -> dict[str, ReadinessCheck]:
    def check(url: str) -> ReadinessCheck:
        def ready() -> None:
            client.get(f"{url}/readyz", timeout=2.0).raise_for_status()

        return ready

    return {
        str(component): check(settings.upstreams[component])
        for component in sorted(settings.components_in_use())
        if component in settings.upstreams
    }
