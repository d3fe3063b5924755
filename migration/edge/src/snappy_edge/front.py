"""The edge's front: Caddy, configured from the routing table, in front of the edge's lane.

The edge is two processes (docs/decisions.md, "The edge: a real proxy in front, a careful
lane behind"):

- **the front**, Caddy, answers the public port. A *plain read* goes straight from it to the
  part that serves its route group in the current phase, over pooled keep-alive connections;
- **the lane**, the Flask edge (`snappy_edge.app`) on a loopback port, gets every other
  request: writes and anything with a body, paths with percent escapes or any spelling
  that is not plain, the edge's own endpoints, `/internal/` (which it refuses), and every
  read of a route group that is being shadowed, since the comparison needs both answers.

A plain read is a GET or HEAD without `Content-Length` or `Transfer-Encoding`, whose
request target is a path of non-empty, non-dot segments of RFC 3986 path characters
without any `%` (plus any query). For such a path the raw spelling, the decoded path that
picks the route and the path forwarded are one and the same string, so the front needs
none of the lane's path rules: every other spelling goes to the lane, which applies them.

`caddy_configuration` is a pure function of the phase, the upstreams and the live control
state; the process that runs both (`snappy_edge.serve`) loads its result into Caddy at
start and again, through Caddy's admin API, whenever the control state changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from snappy_edge.control import EdgeControl
from snappy_edge.routing import PHASES, ROUTE_GROUPS, RouteGroup
from snappy_plumbing.config import ConfigurationError
from snappy_plumbing.errors import PROBLEM_TYPE_BASE, RETRY_AFTER_SECONDS
from snappy_topology import PartName

__all__ = [
    "LANE_PATHS",
    "PLAIN_REQUEST_TARGET",
    "REQUEST_ID",
    "FrontPlan",
    "caddy_configuration",
    "decimal_above",
    "group_pattern",
    "upstream_address",
]

# A path character of RFC 3986 other than "%" and ".", then one that may be ".".
_PATH_CHARACTER_NOT_DOT = r"[A-Za-z0-9_~!$&'()*+,;=:@-]"
_PATH_CHARACTER = r"[A-Za-z0-9._~!$&'()*+,;=:@-]"
# A segment that is neither empty, "." nor "..": at most two dots before another character,
# or three dots or more. (Caddy's regular expressions are RE2: no lookahead.)
_PLAIN_SEGMENT = rf"(?:\.{{0,2}}{_PATH_CHARACTER_NOT_DOT}{_PATH_CHARACTER}*|\.{{3,}}{_PATH_CHARACTER}*)"
# Matched against the request target as sent (Caddy's `{http.request.uri}`), query included.
PLAIN_REQUEST_TARGET = rf"^(?:(?:/{_PLAIN_SEGMENT})+/?|/)(?:\?.*)?$"
# Decided by the lane even when plain: its own endpoints, and the internal paths it refuses.
LANE_PATHS = r"^/(?:internal(?:/|$)|healthz$|readyz$|metrics$)"
REQUEST_ID = r"^[A-Za-z0-9._:-]{1,128}$"  # snappy_plumbing.observability's rule for a sane id
_PROBLEM_MEDIA_TYPE = "application/problem+json"
_HOP = "snappy_hop"
# Go's errors for a request body that breaks its framing while it is copied upstream.
_CLIENT_BODY_ERROR = r"chunk|^readfrom .*: unexpected EOF$"


@dataclass(frozen=True)
class FrontPlan:
    """What the front is configured from."""

    listen: str  # host:port of the public entry
    lane: str  # host:port of the lane
    admin: str  # Caddy's admin endpoint: "unix//path/to/socket" or "host:port"
    phase: int  # the phase the edge started in; the control file's phase, when set, wins
    # Every address of each part: one, or its replicas, which the front takes in turn.
    upstreams: Mapping[PartName, tuple[str, ...]]
    connect_timeout_seconds: float
    read_timeout_seconds: float
    # The largest request body the lane takes: a larger one is refused (413) by the front
    # itself, before it reaches the lane, which would answer early and close mid-body.
    max_body_bytes: int


def upstream_address(url: str) -> str:
    """The host:port the front dials for a part's URL; only plain http URLs without a path can be dialled."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ConfigurationError(
            f"the edge's front proxies to http://host:port URLs without a path, got {url!r}"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 80}"


def caddy_configuration(plan: FrontPlan, control: EdgeControl) -> dict[str, Any]:
    """Caddy's JSON configuration for `plan` in the live state `control`."""
    shadowed = control.shadow.group if control.shadow is not None else None
    phase = control.phase_or(plan.phase)
    routes: list[dict[str, Any]] = [
        _request_id_route(),
        {
            # Refused before the lane is called: its worker would answer early and close
            # mid-body, which Caddy reports as the lane failing.
            "match": [{"header_regexp": {"Content-Length": {"pattern": decimal_above(plan.max_body_bytes)}}}],
            "handle": [
                _problem(413, "payload-too-large", "Payload too large", "The request body is too large")
            ],
            "terminal": True,
        },
        _lane_route(plan, [{"vars_regexp": _on_path(LANE_PATHS)}]),
    ]
    fast_routes: list[dict[str, Any]] = []
    for group in ROUTE_GROUPS:
        on_group = [{"vars_regexp": _on_path(group_pattern(group))}]
        if group.name == shadowed:
            # Every safe read of a shadowed group goes through the lane, which compares answers.
            routes.append(_lane_route(plan, [{"method": ["GET", "HEAD"], **on_group[0]}]))
        else:
            fast_routes.append(_fast_route(plan, on_group, PHASES[phase][group.name]))
    # A subroute, because one matcher set holds one vars_regexp: plain first, then the group.
    routes.append({"match": [_plain_read()], "handle": [{"handler": "subroute", "routes": fast_routes}]})
    routes.append(_lane_route(plan, None))
    return {
        "admin": {"listen": plan.admin, "config": {"persist": False}},
        "logging": {"logs": {"default": {"level": "WARN", "encoder": {"format": "json"}}}},
        "apps": {
            "http": {
                "servers": {
                    "edge": {
                        "listen": [plan.listen],
                        "protocols": ["h1"],
                        "automatic_https": {"disable": True},
                        # A client trickling its head cannot hold a connection (the lane's gunicorn
                        # has the same limit).
                        "read_header_timeout": "10s",
                        "idle_timeout": "75s",
                        "routes": routes,
                        "errors": {"routes": _error_routes(phase)},
                    }
                }
            }
        },
    }


def decimal_above(limit: int) -> str:
    """A regular expression for the decimal numbers (leading zeros allowed) above `limit`."""
    digits = str(limit)
    # More significant digits than `limit`, or as many and larger at the first digit that differs.
    longer = rf"[1-9][0-9]{{{len(digits)},}}"
    same_length = [
        digits[:position] + f"[{int(digit) + 1}-9]" + f"[0-9]{{{len(digits) - position - 1}}}"
        for position, digit in enumerate(digits)
        if digit != "9"
    ]
    return rf"^0*(?:{'|'.join([longer, *same_length])})$"


def group_pattern(group: RouteGroup) -> str:
    return "|".join(f"(?:{pattern.pattern})" for pattern in group.patterns)


def _on_path(pattern: str) -> dict[str, Any]:
    # The decoded path; for a plain request target it is the target's path, byte for byte.
    return {"{http.request.uri.path}": {"pattern": pattern}}


def _plain_read() -> dict[str, Any]:
    return {
        "method": ["GET", "HEAD"],
        # null: the header must be absent. A read that carries a body goes to the lane, which reads it whole.
        "header": {"Content-Length": None, "Transfer-Encoding": None},
        "vars_regexp": {"{http.request.uri}": {"pattern": PLAIN_REQUEST_TARGET}},
    }


def _request_id_route() -> dict[str, Any]:
    """Keep a sane X-Request-ID the client sent; give every other request a fresh one."""
    return {
        "match": [{"not": [{"header_regexp": {"X-Request-ID": {"pattern": REQUEST_ID}}}]}],
        "handle": [{"handler": "headers", "request": {"set": {"X-Request-ID": ["{http.request.uuid}"]}}}],
    }


def _lane_route(plan: FrontPlan, match: list[dict[str, Any]] | None) -> dict[str, Any]:
    route: dict[str, Any] = {
        "handle": [
            # Marks the hop, so that a lane that does not answer is not blamed on a part.
            {"handler": "vars", _HOP: "lane"},
            {"handler": "request_body", "max_size": plan.max_body_bytes},
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": plan.lane}],
                # The lane reads X-Forwarded-* as the front set them (it trusts its front only),
                # and chooses its own timeouts: no transport limits here beyond the lane's, and
                # idle connections kept shorter than its gunicorn keeps them (_KEEP_ALIVE).
                "transport": {"protocol": "http", "keep_alive": _KEEP_ALIVE},
                "flush_interval": -1,
            },
        ],
        "terminal": True,
    }
    if match is not None:
        route["match"] = match
    return route


# Idle upstream connections go after 2 s, under the parts' and the lane's gunicorn keep-alive
# (5 s): Caddy's default (2 min) could reuse a connection gunicorn had just closed, which
# failed that request. The nginx front and the lane's client do the same (nginx_front, app).
_KEEP_ALIVE: Final = {"idle_timeout": "2s"}


def _fast_route(plan: FrontPlan, match: list[dict[str, Any]], part: PartName) -> dict[str, Any]:
    urls = plan.upstreams.get(part)
    if urls is None:
        return {
            "match": match,
            "handle": [
                _problem(
                    503,
                    "service-unavailable",
                    "Service unavailable",
                    f"{part} is not configured at this edge",
                )
            ],
            "terminal": True,
        }
    proxy: dict[str, Any] = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": upstream_address(url)} for url in urls],
        "headers": {"request": {"set": {"Host": ["{http.reverse_proxy.upstream.hostport}"]}}},
        "transport": {
            "protocol": "http",
            "dial_timeout": f"{plan.connect_timeout_seconds}s",
            "response_header_timeout": f"{plan.read_timeout_seconds}s",
            "keep_alive": _KEEP_ALIVE,
        },
        # Stream the answer as it comes: content and thumbnails are not held in the front.
        "flush_interval": -1,
    }
    if len(urls) > 1:
        # Replicas in turn, as the lane and nginx take them (Caddy's default picks at random);
        # no retries are configured, so a read is sent to one replica only.
        proxy["load_balancing"] = {"selection_policy": {"policy": "round_robin"}}
    return {"match": match, "handle": [proxy], "terminal": True}


def _error_routes(phase: int) -> list[dict[str, Any]]:
    """503 problem documents naming the part that did not answer, or did not answer in time."""
    routes: list[dict[str, Any]] = [
        {
            "match": [{"vars": {"{http.error.status_code}": ["413"]}}],
            "handle": [
                _problem(413, "payload-too-large", "Payload too large", "The request body is too large")
            ],
            "terminal": True,
        },
        {
            # Caddy reports a body it could not read from the client (a malformed chunk, input
            # ending before Content-Length) as a failure of the hop it was copying it to.
            "match": [
                {
                    "vars": {_HOP: ["lane"]},
                    "vars_regexp": {"{http.error.message}": {"pattern": _CLIENT_BODY_ERROR}},
                }
            ],
            "handle": [
                _problem(400, "malformed-request", "Malformed request", "The request body could not be read")
            ],
            "terminal": True,
        },
        {
            "match": [{"vars": {_HOP: ["lane"]}}],
            "handle": [
                _problem(
                    503, "service-unavailable", "Service unavailable", "the edge's lane is not answering"
                )
            ],
            "terminal": True,
        },
    ]
    for group in ROUTE_GROUPS:
        part = PHASES[phase][group.name]
        on_group = {"vars_regexp": _on_path(group_pattern(group))}
        routes.append(
            {
                "match": [{**on_group, "vars": {"{http.error.status_code}": ["504"]}}],
                "handle": [
                    _problem(
                        503, "service-unavailable", "Service unavailable", f"{part} did not answer in time"
                    )
                ],
                "terminal": True,
            }
        )
        routes.append(
            {
                "match": [on_group],
                "handle": [
                    _problem(503, "service-unavailable", "Service unavailable", f"{part} is not answering")
                ],
                "terminal": True,
            }
        )
    return routes


def _problem(status: int, slug: str, title: str, detail: str) -> dict[str, Any]:
    document = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    # `instance` only for a plain path, which is a URI reference as it is (no JSON escaping needed).
    return {
        "handler": "subroute",
        "routes": [
            {
                "match": [{"vars_regexp": {"{http.request.uri}": {"pattern": PLAIN_REQUEST_TARGET}}}],
                "handle": [_static(status, {**document, "instance": "{http.request.uri.path}"})],
                "terminal": True,
            },
            {"handle": [_static(status, document)], "terminal": True},
        ],
    }


def _static(status: int, document: Mapping[str, Any]) -> dict[str, Any]:
    headers = {
        "Content-Type": [_PROBLEM_MEDIA_TYPE],
        "X-Content-Type-Options": ["nosniff"],
        "X-Request-ID": ["{http.request.header.X-Request-ID}"],
    }
    if status == 503:
        headers["Retry-After"] = [str(RETRY_AFTER_SECONDS)]
    return {
        "handler": "static_response",
        "status_code": status,
        "headers": headers,
        "body": json.dumps(document, separators=(",", ":")),
    }
