"""The edge's front as nginx: the same split as the Caddy front (`snappy_edge.front`), as an nginx.conf.

A plain read goes straight to the part of its phase; every other request goes to the lane.
Where nginx differs from Caddy, in the edge's favour: it answers the framing it refuses
itself (an invalid `Content-Length`, `Content-Length` beside `Transfer-Encoding`, a
malformed chunk) through `error_page`, so those answers are the edge's problem documents;
and it reads a request body whole before it calls the lane (`proxy_request_buffering`, on
by default), so the lane never gets half a request. nginx is not on PyPI: the edge uses it
when it is installed (Debian's `nginx-light`, the edge's image) and `SNAPPY_EDGE_FRONT=nginx`.

The configuration is rendered whole from the routing table, the plan and the control state;
a change is a new file and a SIGHUP, after which nginx's new workers take the new
configuration and the old ones finish the requests they hold.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from snappy_edge.app import PROXIED_METHODS
from snappy_edge.control import EdgeControl
from snappy_edge.front import (
    LANE_PATHS,
    PLAIN_REQUEST_TARGET,
    REQUEST_ID,
    FrontPlan,
    group_pattern,
    upstream_address,
)
from snappy_edge.routing import PHASES, ROUTE_GROUPS
from snappy_plumbing.errors import PROBLEM_TYPE_BASE, RETRY_AFTER_SECONDS
from snappy_plumbing.gunicorn_worker import HEAD_TIMEOUT_SECONDS
from snappy_topology import PartName

__all__ = ["GENERATION_SOCKET", "nginx_configuration"]

GENERATION_SOCKET = "nginx-generation.sock"

_LANE = "lane"
# Where nginx's own refusals are answered: internal locations. A client that asks for one
# of them gets what any other path of its group gets (`@passthrough`), not nginx's 404.
_ERRORS = "/.snappy-edge-errors"
# A request target with a percent escape that is invalid, or that encodes a control
# character: nginx refuses those itself (400) while it reads the request line, before any
# location is chosen. The lane would refuse them as ambiguous (`snappy_edge.app.decision_path`),
# so the front answers as the lane does. Matched on the request line ($request: $request_uri
# is empty for a line nginx refused), on the target's path only, the query aside.
_INVALID_ESCAPE = r"^\S+ [^? ]*%(?:[0-9A-Fa-f]?[^0-9A-Fa-f])"
_CONTROL_ESCAPE = r"^\S+ [^? ]*%(?:[01][0-9A-Fa-f]|7[Ff])"


def _milliseconds(seconds: float) -> str:
    # nginx takes whole numbers with a unit.
    return f"{round(seconds * 1000)}ms"


# How long an idle kept-alive connection to a part (or the lane) may wait for its next
# request: well under the parts' gunicorn keep-alive (5 s, snappy_plumbing.gunicorn_conf), as
# the services' own clients do (snappy_plumbing.peers, 2 s). nginx's default, 60 s, let it
# reuse a connection the part had just closed; with `proxy_next_upstream off` that request
# got a 502 ("upstream prematurely closed connection"), seen under load after a cutover.
_UPSTREAM_IDLE: Final = "2s"


def _upstream_name(part: PartName) -> str:
    return part.replace("-", "_")


def nginx_configuration(plan: FrontPlan, control: EdgeControl, runtime: Path, generation: int = 0) -> str:
    """nginx.conf for `plan` in the live state `control`; nginx keeps its files under `runtime`.

    `generation` numbers the configurations loaded one after the other: nginx answers it on
    a Unix socket of the runtime folder (`GENERATION_SOCKET`), so that the edge knows when
    the workers that serve new connections are those of the new configuration.
    """
    shadowed = control.shadow.group if control.shadow is not None else None
    phase = control.phase_or(plan.phase)
    parts = sorted({PHASES[phase][group.name] for group in ROUTE_GROUPS})
    upstreams = {
        part: [upstream_address(url) for url in urls]
        for part, urls in plan.upstreams.items()
        if part in parts
    }
    # The group of a path, first match wins as in the routing table; the lane's own paths first.
    group_lines = [f'        "~{LANE_PATHS}" {_LANE};']
    for group in ROUTE_GROUPS:
        group_lines.append(f'        "~{group_pattern(group)}" {group.name.name.lower()};')
    # Where a plain read of each group goes: its part, the lane when the group is shadowed, or a
    # 503 when the part has no URL here.
    route_lines = []
    for group in ROUTE_GROUPS:
        part = PHASES[phase][group.name]
        target = (
            _LANE if group.name == shadowed else _upstream_name(part) if part in upstreams else "unconfigured"
        )
        route_lines.append(f"        1:{group.name.name.lower()} {target};")
    names = [f"        {_upstream_name(part)} {json.dumps(str(part))};" for part in upstreams]
    # One Host per part: nginx builds the header before it picks a replica, so a part with
    # several gets its first address (the services do not route on Host).
    hosts = [f"        {_upstream_name(part)} {addresses[0]};" for part, addresses in upstreams.items()]
    upstream_blocks = "\n".join(
        _upstream_block(_upstream_name(part), addresses) for part, addresses in upstreams.items()
    )
    # As root (a developer's or CI's machine), workers would switch to `nobody`, who cannot
    # write the runtime folder; in the edge's image nginx runs as its unprivileged user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {runtime / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# Rendered by snappy_edge.nginx_front from the routing table; do not edit.
{user}worker_processes 1;
daemon off;
pid {runtime / "nginx.pid"};
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    server_tokens off;
    # The reads the front serves itself, as JSON lines beside the lane's own access log
    # (which covers every request the lane serves): one record per request at the edge.
    log_format snappy_json escape=json '{{"time":"$time_iso8601","level":"info",'
        '"logger":"snappy_edge.front","message":"$request_method $uri $status",'
        '"request_id":"$snappy_request_id","method":"$request_method","path":"$uri",'
        '"status":$status,"part":"$snappy_part","duration_seconds":$request_time}}';
    access_log /dev/stdout snappy_json if=$snappy_logged;
    # A client has this long, from its first byte, to send its whole head: the lane's own
    # deadline (snappy_plumbing.gunicorn_worker). nginx then closes the connection without
    # an answer, where the lane sends a 408 (docs/security.md, "Slow clients and framing").
    client_header_timeout {_milliseconds(HEAD_TIMEOUT_SECONDS)};
{temp}
    client_max_body_size {plan.max_body_bytes};

    map $http_x_request_id $snappy_request_id {{
        "~{REQUEST_ID}" $http_x_request_id;
        default $request_id;
    }}
    map $request_uri $snappy_plain {{
        "~{PLAIN_REQUEST_TARGET}" 1;
        default 0;
    }}
    # 1 for a plain read: GET or HEAD, a plain target, no body headers (empty when absent).
    map "$request_method:$snappy_plain:$http_content_length:$http_transfer_encoding" $snappy_fast {{
        "GET:1::" 1;
        "HEAD:1::" 1;
        default 0;
    }}
    # For a plain target, $uri (decoded, normalized) is the target's path byte for byte.
    map $uri $snappy_group {{
{chr(10).join(group_lines)}
    }}
    map "$snappy_fast:$snappy_group" $snappy_upstream {{
{chr(10).join(route_lines)}
        default {_LANE};
    }}
    map $snappy_upstream $snappy_part {{
{chr(10).join(names)}
        {_LANE} "the edge's lane";
        default "a part";
    }}
    map $snappy_upstream $snappy_logged {{
        {_LANE} 0;
        default 1;
    }}
    map $request $snappy_escape_problem {{
        "~{_INVALID_ESCAPE}" "The path holds an invalid percent escape";
        "~{_CONTROL_ESCAPE}" "The path holds an encoded control character";
        default "";
    }}
    map $snappy_upstream $snappy_upstream_host {{
{chr(10).join(hosts)}
        default $host;
    }}
    # The path as the client sent it ($uri is the error page's own after the redirect to it).
    map $request_uri $snappy_target_path {{
        "~^(?<path>[^?]*)" $path;
    }}
    map $snappy_plain $snappy_instance {{
        1 ',"instance":"$snappy_target_path"';
        default "";
    }}

    upstream {_LANE} {{ server {plan.lane}; keepalive 16; keepalive_timeout {_UPSTREAM_IDLE}; }}
{upstream_blocks}

    server {{
        listen {plan.listen};
        default_type {_PROBLEM};
        # nginx's own refusals of the framing, as the edge's problem documents.
        # To internal locations by URI, not named ones: a request line nginx refuses has no URI
        # of its own to carry into a named location (that would be nginx's own 500).
        error_page 400 = {_ERRORS}/malformed;
        error_page 413 = {_ERRORS}/too-large;
        # nginx refuses TRACE itself; the lane would answer its 405 with the methods it proxies.
        error_page 405 = {_ERRORS}/method-not-allowed;
        error_page 414 = {_ERRORS}/uri-too-long;
        # 494: nginx's own status for a header line or a head over its buffers.
        error_page 494 = {_ERRORS}/header-too-large;
        error_page 502 = {_ERRORS}/unreachable;
        error_page 504 = {_ERRORS}/too-slow;

        error_page 404 = @passthrough;

        location / {{
            if ($snappy_upstream = unconfigured) {{
                return 503 '{_UNCONFIGURED}';
            }}
{_proxy_directives(plan)}
        }}
        # Where nginx's own 404 (a client asking for an internal location) goes: on, as any path.
        location @passthrough {{
{_proxy_directives(plan)}
        }}
{_ERROR_LOCATIONS}
    }}

    # For the edge itself, not the public: which configuration the workers run.
    server {{
        listen unix:{runtime / GENERATION_SOCKET};
        access_log off;
        location / {{
            return 200 '{generation}';
        }}
    }}
}}
"""


def _upstream_block(name: str, addresses: list[str]) -> str:
    """A part's upstream: every replica, in nginx's default round robin, over kept-alive connections.

    nginx sends a read to the next server and no further (`proxy_next_upstream off`): a
    replica that does not answer gives that read a 503, as the lane does. By nginx's
    defaults (`max_fails=1 fail_timeout=10s`) that replica then sits out its turns for 10 s,
    where the lane keeps giving it its turn.
    """
    servers = " ".join(f"server {address};" for address in addresses)
    return f"    upstream {name} {{ {servers} keepalive 32; keepalive_timeout {_UPSTREAM_IDLE}; }}"


def _proxy_directives(plan: FrontPlan) -> str:
    return f"""            proxy_pass http://$snappy_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $snappy_upstream_host;
            proxy_set_header X-Request-ID $snappy_request_id;
            # Only the visitor, one hop back: a client's own X-Forwarded-For is not believed.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_connect_timeout {_milliseconds(plan.connect_timeout_seconds)};
            proxy_read_timeout {_milliseconds(plan.read_timeout_seconds)};
            proxy_send_timeout {_milliseconds(plan.read_timeout_seconds)};
            # Answers stream as they come; a failed call is never tried again (writes).
            proxy_buffering off;
            proxy_next_upstream off;
            # Bodies stream on to the lane as they arrive: its worker reads each one whole
            # before the application sees it, and holds a body to its deadline, answering a
            # client that trickles it with a 408 (nginx has no deadline for a whole body).
            proxy_request_buffering off;"""


_PROBLEM = "application/problem+json"


def _problem(status: int, slug: str, title: str, detail: str) -> str:
    document = json.dumps(
        {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail},
        separators=(",", ":"),
    )
    # `instance` only for a plain target, which is a URI reference as it is (no escaping needed).
    return document[:-1] + "$snappy_instance}"


_UNCONFIGURED = _problem(
    503, "service-unavailable", "Service unavailable", "a part of this phase is not configured"
)


def _error_location(name: str, status: int, slug: str, title: str, detail: str, *, first: str = "") -> str:
    extra_header = (
        f"\n            add_header Retry-After {RETRY_AFTER_SECONDS} always;" if status == 503 else ""
    )
    if status == 405:
        extra_header = f'\n            add_header Allow "{", ".join(sorted(PROXIED_METHODS))}" always;'

    return f"""        location = {_ERRORS}/{name} {{
            internal;
            default_type {_PROBLEM};
            add_header X-Content-Type-Options nosniff always;
            add_header X-Request-ID $snappy_request_id always;{extra_header}{first}
            return {status} '{_problem(status, slug, title, detail)}';
        }}"""


# Of the request targets nginx refuses, those the lane would call ambiguous get its answer.
_AMBIGUOUS = _problem(400, "ambiguous-path", "Ambiguous request path", "$snappy_escape_problem")
_AMBIGUOUS_ESCAPE = f"""
            if ($snappy_escape_problem != "") {{
                return 400 '{_AMBIGUOUS}';
            }}"""


_ERROR_LOCATIONS = "\n".join(
    (
        _error_location(
            "malformed",
            400,
            "malformed-request",
            "Malformed request",
            "The request is framed incorrectly",
            first=_AMBIGUOUS_ESCAPE,
        ),
        _error_location(
            "method-not-allowed",
            405,
            "method-not-allowed",
            "Method not allowed",
            "The method is not allowed for the requested URL.",
        ),
        _error_location(
            "too-large", 413, "payload-too-large", "Payload too large", "The request body is too large"
        ),
        _error_location(
            "uri-too-long", 414, "uri-too-long", "Request line too long", "The request line is too long."
        ),
        _error_location(
            "header-too-large",
            431,
            "request-header-fields-too-large",
            "Request header fields too large",
            "The request header fields are too large.",
        ),
        _error_location(
            "unreachable", 503, "service-unavailable", "Service unavailable", "$snappy_part is not answering"
        ),
        _error_location(
            "too-slow",
            503,
            "service-unavailable",
            "Service unavailable",
            "$snappy_part did not answer in time",
        ),
    )
)
