"""Shadow traffic: the reads of one route group also go to a candidate part, and the answers are compared.

When the live control file (`snappy_edge.control`, SNAPPY_EDGE_CONTROL_FILE) says
`shadow: {group, candidate}`, each GET and HEAD of that group that this app handles (the
edge's careful lane: its front sends it every read of a shadowed group) is served as
always, and compared afterwards with the candidate's answer to the same request. A
request whose primary (the part the phase routes it to) is the candidate itself is not
shadowed. The control file is looked at once per GET or HEAD: one stat, and a read only
when it changed; a file that turns invalid keeps the last good state.

- **The client gets the primary's answer only**, streamed as it comes. Its body is teed
  on the way (the first SNAPPY_EDGE_SHADOW_BODY_CAP_BYTES kept, SHA-256 over all of it),
  and when the answer is closed a job is put on a bounded queue without waiting
  (SNAPPY_EDGE_SHADOW_QUEUE_SIZE). A comparison that cannot be made is dropped and
  counted by reason: the queue is full, the edge has no URL for the candidate, the
  client did not read the answer to its end, the request carries a body.
- **Background threads** (SNAPPY_EDGE_SHADOW_WORKERS) send the same request (method, path
  and query as sent, the client's headers, Authorization and Cookie included, and the
  same X-Request-ID) to `upstreams[candidate]` (the candidate's first address when it
  has replicas), with an HTTP client of their own that keeps no cookies, under one
  deadline for the whole answer (SNAPPY_EDGE_SHADOW_TIMEOUT_SECONDS). A slow or failing
  candidate costs a thread of the pool, never the client; it is a `candidate_error`, not
  a mismatch.
- **The comparison** is the parity tests' (`snappy_edge.normalization`): the status, the
  compared headers and the normalized JSON body, with a fresh id numbering per side for
  each exchange; other bodies byte for byte, or by SHA-256 and length past the cap.
- **Metrics**, in the edge's `/metrics`: `snappy_edge_shadow_comparisons_total` by route
  and outcome (match, mismatch, candidate_error), `snappy_edge_shadow_dropped_total` by
  route and reason, and `snappy_edge_shadow_latency_seconds` by route and side (primary,
  candidate): the time to the answer's status and headers. The route is the path's
  template (`/api/v1/photos/{id}/content`; `other` for any unknown shape), so the label
  set stays bounded. The counters live in the process, which is exact because the lane
  runs as one gunicorn worker with threads (docs/decisions.md, "Operations").
- **Records**, in SNAPPY_EDGE_SHADOW_DIR when it is set: one JSON line per comparison in
  `comparisons.jsonl`, and one per mismatch in `mismatches.jsonl` with both answers
  (status, compared headers, body truncated) and every difference. Nothing secret
  reaches them: request headers are not recorded, `Set-Cookie` is no compared header,
  and token fields, JWTs, bearer tokens and the CSRF tokens of HTML forms read
  `<redacted>`. Each line is written whole under a lock: lines from several threads
  never interleave.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram
from werkzeug.wrappers import Response

from snappy_edge.control import CONTROL_FILE_VARIABLE, ControlWatcher, EdgeControl, Shadow
from snappy_edge.normalization import (
    COMPARED_HEADERS,
    IdNumbering,
    normalize_body,
    normalize_headers,
    normalize_page,
)
from snappy_edge.routing import route_group_for
from snappy_plumbing.config import EnvironmentSettings, positive_float, positive_int, variable
from snappy_topology import PartName

__all__ = [
    "COMPARISONS_FILE",
    "MISMATCHES_FILE",
    "OTHER_ROUTE",
    "SHADOW_DIR_VARIABLE",
    "Answer",
    "DropReason",
    "JsonLinesFile",
    "Mirror",
    "Outcome",
    "ShadowSettings",
    "ShadowTraffic",
    "differences",
    "redact_json",
    "redact_text",
    "route_template",
]

logger = logging.getLogger(__name__)

SHADOW_DIR_VARIABLE = "SNAPPY_EDGE_SHADOW_DIR"
COMPARISONS_FILE = "comparisons.jsonl"
MISMATCHES_FILE = "mismatches.jsonl"
REDACTED = "<redacted>"
# A mismatch record keeps this much of each body's text, and this many differences.
RECORDED_BODY_CHARACTERS = 4096
RECORDED_DIFFERENCES = 100
_SHOWN_VALUE_CHARACTERS = 200
_CHUNK_BYTES = 64 * 1024
_SHADOWED_METHODS = frozenset({"GET", "HEAD"})


def _path(name: str, raw: str) -> Path:
    return Path(raw)


@dataclass(frozen=True)
class ShadowSettings(EnvironmentSettings):
    """Where the live state and the records are, and what a comparison may cost."""

    # Unset: nothing is ever shadowed.
    control_file: Path | None = field(default=None, metadata=variable(CONTROL_FILE_VARIABLE, _path))
    # Unset: comparisons are counted in /metrics and mismatches logged, but no file is written.
    directory: Path | None = field(default=None, metadata=variable(SHADOW_DIR_VARIABLE, _path))
    # The candidate's whole answer, connection included, must arrive within this.
    timeout_seconds: float = field(
        default=2.0, metadata=variable("SNAPPY_EDGE_SHADOW_TIMEOUT_SECONDS", positive_float)
    )
    # Jobs waiting for a thread; with the cap, at most queue_size x 2 x cap bytes held.
    queue_size: int = field(default=64, metadata=variable("SNAPPY_EDGE_SHADOW_QUEUE_SIZE", positive_int))
    workers: int = field(default=2, metadata=variable("SNAPPY_EDGE_SHADOW_WORKERS", positive_int))
    # Bodies up to this size are kept and compared as they are; longer ones by SHA-256 and length.
    body_cap_bytes: int = field(
        default=256 * 1024, metadata=variable("SNAPPY_EDGE_SHADOW_BODY_CAP_BYTES", positive_int)
    )


class Outcome(StrEnum):
    """How one comparison ended."""

    MATCH = "match"
    MISMATCH = "mismatch"
    CANDIDATE_ERROR = "candidate_error"


class DropReason(StrEnum):
    """Why a shadowed request was not compared."""

    QUEUE_FULL = "queue_full"
    CANDIDATE_NOT_CONFIGURED = "candidate_not_configured"
    # The client went away (or the primary broke off) before the end of the answer.
    PRIMARY_INCOMPLETE = "primary_incomplete"
    # A GET or HEAD with a body: the shadow copy would not be the same request.
    REQUEST_BODY = "request_body"
    # A fault in the comparison itself (logged with its traceback).
    COMPARISON_FAILED = "comparison_failed"


# --- routes ----------------------------------------------------------------------------

OTHER_ROUTE = "other"
# Every public path shape of both versions (the API, the pages); the first that matches wins.
_ROUTE_TEMPLATES = (
    "/api/v1/users",
    "/api/v1/users/me",
    "/api/v1/users/{username}/photos",
    "/api/v1/users/{username}",
    "/api/v1/tokens",
    "/api/v1/tokens/current",
    "/.well-known/jwks.json",
    "/api/v1/photos",
    "/api/v1/photos/{id}",
    "/api/v1/photos/{id}/content",
    "/api/v1/photos/{id}/thumbnail",
    "/api/v1/photos/{id}/shares",
    "/api/v1/photos/{id}/shares/{username}",
    "/api/v1/feed",
    "/",
    "/signup",
    "/login",
    "/logout",
    "/photos",
    "/upload",
    "/photos/{id}",
    "/photos/{id}/image",
    "/photos/{id}/thumb",
    "/photos/{id}/edit",
    "/photos/{id}/delete",
    "/photos/{id}/shares",
    "/photos/{id}/shares/{username}/revoke",
    "/users/{username}",
    "/static/{file}",
)
_PLACEHOLDER = re.compile(r"\{[a-z]+\}")


def _template_pattern(template: str) -> re.Pattern[str]:
    literal_parts = _PLACEHOLDER.split(template)
    return re.compile("[^/]+".join(re.escape(part) for part in literal_parts))


_ROUTES = tuple((_template_pattern(template), template) for template in _ROUTE_TEMPLATES)


def route_template(path: str) -> str:
    """The template of a decoded request path, for labels and reports; OTHER_ROUTE for an unknown shape."""
    for pattern, template in _ROUTES:
        if pattern.fullmatch(path):
            return template
    return OTHER_ROUTE


# --- redaction -------------------------------------------------------------------------

_SENSITIVE_NAME = re.compile(r"token|password|secret|csrf|cookie|authorization|session", re.IGNORECASE)
# A JWT's header is base64url of a JSON object, so it starts with "eyJ" ('{"').
_JWT_TEXT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BEARER_TEXT = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_HTML_FIELD = re.compile(r"<(?:input|meta)\b[^>]*>", re.IGNORECASE)
_HTML_FIELD_VALUE = re.compile(r"""\b(value|content)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
_SENSITIVE_QUERY_VALUE = re.compile(
    r"([?&][^=&#]*(?:token|password|secret|csrf|session)[^=&#]*=)[^&#]*", re.IGNORECASE
)


def _redact_html_field(match: re.Match[str]) -> str:
    tag = match.group(0)
    if "csrf" not in tag.lower():
        return tag
    return _HTML_FIELD_VALUE.sub(lambda value: f'{value.group(1)}{value.group(2)}"{REDACTED}"', tag)


def redact_text(text: str) -> str:
    """`text` with the values of CSRF form fields, JWTs and bearer tokens replaced by `<redacted>`."""
    text = _HTML_FIELD.sub(_redact_html_field, text)
    text = _JWT_TEXT.sub(REDACTED, text)
    return _BEARER_TEXT.sub(lambda match: f"{match.group(1)} {REDACTED}", text)


def redact_json(value: Any) -> Any:
    """A JSON value with every field named like a secret (`access_token`, ...) and every JWT redacted."""
    if isinstance(value, dict):
        return {
            name: REDACTED if _SENSITIVE_NAME.search(name) else redact_json(item)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _redacted_target(target: str) -> str:
    return redact_text(_SENSITIVE_QUERY_VALUE.sub(lambda match: match.group(1) + REDACTED, target))


# --- answers and their comparison -------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One side's answer to a request, as far as the comparison needs it."""

    status: int
    # The compared headers only (snappy_edge.normalization), names in lower case.
    headers: tuple[tuple[str, str], ...]
    # The body's first bytes, up to the cap.
    body: bytes
    length: int
    sha256: str

    @property
    def whole(self) -> bool:
        """Whether `body` is the whole body."""
        return len(self.body) == self.length

    @property
    def media_type(self) -> str:
        """The media type of Content-Type, in lower case, without its parameters."""
        content_type = dict(self.headers).get("content-type", "")
        return content_type.split(";", 1)[0].strip().lower()


class _BodyTee:
    """Keeps the first `cap` bytes of a body going past, and hashes all of it."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._kept = bytearray()
        self._digest = hashlib.sha256()
        self._length = 0

    def add(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._length += len(chunk)
        room = self._cap - len(self._kept)
        if room > 0:
            self._kept += chunk[:room]

    def answer(self, status: int, headers: httpx.Headers) -> Answer:
        compared = tuple(
            (name.lower(), value) for name, value in headers.multi_items() if name.lower() in COMPARED_HEADERS
        )
        return Answer(status, compared, bytes(self._kept), self._length, self._digest.hexdigest())


_NOT_JSON = object()


def _normalized_json(answer: Answer, ids: IdNumbering) -> Any:
    """The normalized JSON body, or _NOT_JSON when the body is not whole JSON."""
    if not (answer.media_type.endswith("json") and answer.whole):
        return _NOT_JSON
    try:
        return normalize_body(json.loads(answer.body), ids)
    except ValueError:
        return _NOT_JSON


def differences(primary: Answer, candidate: Answer) -> list[str]:
    """Every way `candidate` differs from `primary` after the normalization; empty when they match."""
    found: list[str] = []
    if primary.status != candidate.status:
        found.append(f"status: {primary.status} != {candidate.status}")
    # A fresh numbering per side: ids are numbered in order of appearance within this exchange,
    # the body first, as the parity scenario records it.
    primary_ids, candidate_ids = IdNumbering(), IdNumbering()
    primary_json = _normalized_json(primary, primary_ids)
    candidate_json = _normalized_json(candidate, candidate_ids)
    primary_headers = normalize_headers(dict(primary.headers), primary_ids)
    candidate_headers = normalize_headers(dict(candidate.headers), candidate_ids)
    for name in COMPARED_HEADERS:
        if primary_headers.get(name) != candidate_headers.get(name):
            found.append(
                f"header {name}: {_header_shown(primary_headers.get(name))}"
                f" != {_header_shown(candidate_headers.get(name))}"
            )
    if primary_json is not _NOT_JSON and candidate_json is not _NOT_JSON:
        found += _json_differences(primary_json, candidate_json, "$", None)
    else:
        found += _byte_differences(primary, candidate)
    return found


def _byte_differences(primary: Answer, candidate: Answer) -> list[str]:
    if primary.whole and candidate.whole:
        if primary.body == candidate.body or _same_page(primary, candidate):
            return []
        offset = next(
            (
                index
                for index, (left, right) in enumerate(zip(primary.body, candidate.body, strict=False))
                if left != right
            ),
            min(primary.length, candidate.length),
        )
        return [f"body: differs from byte {offset} ({primary.length} bytes != {candidate.length} bytes)"]
    if (primary.sha256, primary.length) == (candidate.sha256, candidate.length):
        return []
    return [
        f"body: {primary.length} bytes, SHA-256 {primary.sha256[:16]}"
        f" != {candidate.length} bytes, SHA-256 {candidate.sha256[:16]}"
    ]


def _same_page(primary: Answer, candidate: Answer) -> bool:
    """Two HTML pages equal after the normalization (their forms' CSRF tokens set aside)."""
    if not (primary.media_type == candidate.media_type == "text/html"):
        return False
    decoded = [answer.body.decode("utf-8", errors="replace") for answer in (primary, candidate)]
    return normalize_page(decoded[0]) == normalize_page(decoded[1])


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _json_differences(primary: Any, candidate: Any, path: str, key: str | None) -> list[str]:
    if isinstance(primary, dict) and isinstance(candidate, dict):
        found: list[str] = []
        for name in [*primary, *(name for name in candidate if name not in primary)]:
            child = f"{path}.{name}" if _PLAIN_KEY.fullmatch(name) else f"{path}[{json.dumps(name)}]"
            if name not in candidate:
                found.append(f"body {child}: {_shown(primary[name], name)} != (absent)")
            elif name not in primary:
                found.append(f"body {child}: (absent) != {_shown(candidate[name], name)}")
            else:
                found += _json_differences(primary[name], candidate[name], child, name)
        return found
    if isinstance(primary, list) and isinstance(candidate, list):
        found = []
        if len(primary) != len(candidate):
            found.append(f"body {path}: {len(primary)} items != {len(candidate)} items")
        for index, (left, right) in enumerate(zip(primary, candidate, strict=False)):
            found += _json_differences(left, right, f"{path}[{index}]", key)
        return found
    if type(primary) is type(candidate) and primary == candidate:
        return []
    return [f"body {path}: {_shown(primary, key)} != {_shown(candidate, key)}"]


def _shown(value: Any, key: str | None) -> str:
    """A JSON value as a difference shows it: redacted, and cut short."""
    if key is not None and _SENSITIVE_NAME.search(key):
        return REDACTED
    return _cut(json.dumps(redact_json(value), ensure_ascii=True))


def _header_shown(value: str | None) -> str:
    return "(absent)" if value is None else _cut(json.dumps(redact_text(value), ensure_ascii=True))


def _cut(text: str) -> str:
    if len(text) > _SHOWN_VALUE_CHARACTERS:
        text = text[:_SHOWN_VALUE_CHARACTERS] + "..."
    return redact_text(text)


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type.endswith(("json", "xml"))
        or media_type in {"application/javascript", "application/x-www-form-urlencoded"}
    )


def _recorded_answer(answer: Answer, seconds: float | None) -> dict[str, Any]:
    """One side of a mismatch record: redacted, its body's text truncated (binary bodies by digest only)."""
    text: str | None = None
    if answer.media_type.endswith("json") and answer.whole:
        try:
            text = json.dumps(redact_json(json.loads(answer.body)), ensure_ascii=False)
        except ValueError:
            text = None
    if text is None and _is_text(answer.media_type):
        text = redact_text(answer.body.decode("utf-8", errors="replace"))
    truncated = not answer.whole
    if text is not None and len(text) > RECORDED_BODY_CHARACTERS:
        text, truncated = text[:RECORDED_BODY_CHARACTERS], True
    return {
        "status": answer.status,
        "headers": {name: redact_text(value) for name, value in answer.headers},
        "body": text,
        "body_truncated": truncated if text is not None else None,
        "body_length": answer.length,
        "body_sha256": answer.sha256,
        "seconds": None if seconds is None else round(seconds, 6),
    }


# --- records and metrics --------------------------------------------------------------------


class JsonLinesFile:
    """A file of JSON lines that several threads append to; each line is written whole, in one call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._last_error: str | None = None

    def append(self, document: Mapping[str, Any]) -> None:
        """Add `document` as one line; a failure to write is logged (once per kind), never raised."""
        # ASCII only: U+2028 and friends would split a line for line-based tools.
        line = memoryview((json.dumps(document, ensure_ascii=True, default=str) + "\n").encode("ascii"))
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    while line:
                        line = line[os.write(descriptor, line) :]
                finally:
                    os.close(descriptor)
                self._last_error = None
            except OSError as error:
                if str(error) != self._last_error:
                    self._last_error = str(error)
                    logger.warning("shadow: cannot write %s: %s", self.path, error)


class _ShadowMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.comparisons = Counter(
            "snappy_edge_shadow_comparisons",
            "Shadowed requests compared, by route template and outcome (match, mismatch, candidate_error).",
            ["route", "outcome"],
            registry=registry,
        )
        self.drops = Counter(
            "snappy_edge_shadow_dropped",
            "Shadowed requests not compared, by route template and reason.",
            ["route", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "snappy_edge_shadow_latency_seconds",
            "Time to the status and headers of the primary's and the candidate's answer, by route template.",
            ["route", "side"],
            registry=registry,
        )


# --- the traffic ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One request to send to the candidate, and the primary's answer to compare with."""

    time: str
    request_id: str
    method: str
    # The path and query as sent to the primary, without the primary's base path.
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    route: str
    shadow: Shadow
    primary: PartName
    primary_answer: Answer
    primary_seconds: float


@dataclass(frozen=True)
class _CandidateAnswer:
    answer: Answer | None
    seconds: float | None
    error: str | None


class ShadowTraffic:
    """Decides which requests are shadowed, and compares them on background threads."""

    def __init__(
        self,
        settings: ShadowSettings,
        upstreams: Mapping[PartName, str],
        *,
        client: httpx.Client,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self._upstreams = dict(upstreams)
        self._client = client
        self._watcher = ControlWatcher(settings.control_file)
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=settings.queue_size)
        self._metrics = _ShadowMetrics(registry)
        directory = settings.directory
        self._comparisons = None if directory is None else JsonLinesFile(directory / COMPARISONS_FILE)
        self._mismatches = None if directory is None else JsonLinesFile(directory / MISMATCHES_FILE)
        # Threads start with the first job, in the process that serves: gunicorn loads the app
        # in its master (preload_app) and threads do not survive the fork into a worker.
        self._workers_lock = threading.Lock()
        self._workers_pid: int | None = None
        # Nothing shadowed is where every edge starts: only changes from there are logged.
        self._announced: tuple[EdgeControl, str | None] = (EdgeControl(), None)

    def mirror(self, method: str, decision_path: str, primary: PartName, *, has_body: bool) -> Mirror | None:
        """The mirror of a request about to go to `primary`; None when it is not shadowed."""
        if method not in _SHADOWED_METHODS:
            return None
        control = self._watcher.current()
        self._announce(control)
        shadow = control.shadow
        if shadow is None or shadow.candidate == primary:
            return None
        if route_group_for(decision_path) != shadow.group:
            return None
        route = route_template(decision_path)
        if shadow.candidate not in self._upstreams:
            self.count_drop(route, DropReason.CANDIDATE_NOT_CONFIGURED)
            return None
        if has_body:
            self.count_drop(route, DropReason.REQUEST_BODY)
            return None
        primary_base_path = httpx.URL(self._upstreams[primary]).raw_path.split(b"?", 1)[0].rstrip(b"/")
        return Mirror(
            self, shadow, route=route, method=method, primary=primary, primary_base_path=primary_base_path
        )

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait until every queued comparison is finished; False if `timeout` seconds pass first."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def _announce(self, control: EdgeControl) -> None:
        """Log each change of the live state, and of the control file's fault, once."""
        state = (control, self._watcher.error)
        if state == self._announced:
            return
        self._announced = state
        if self._watcher.error is not None:
            logger.warning("shadow: the control file is unusable, the last good state stays: %s", state[1])
        shadow = control.shadow
        logger.info(
            "shadow: %s",
            "off" if shadow is None else f"reads of {shadow.group!r} are compared with {shadow.candidate}",
        )

    def count_drop(self, route: str, reason: DropReason) -> None:
        """Count a shadowed request that will not be compared."""
        self._metrics.drops.labels(route, reason.value).inc()

    def submit(self, job: _Job) -> None:
        """Queue `job` for a thread without waiting: dropped and counted when the queue is full."""
        self._start_workers()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.count_drop(job.route, DropReason.QUEUE_FULL)

    def _start_workers(self) -> None:
        pid = os.getpid()
        if self._workers_pid == pid:
            return
        with self._workers_lock:
            if self._workers_pid == pid:
                return
            for number in range(1, self.settings.workers + 1):
                threading.Thread(target=self._work, name=f"shadow-{number}", daemon=True).start()
            self._workers_pid = pid

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                self._compare(job)
            except Exception:  # a fault in one comparison must not end the thread
                logger.exception("shadow: the comparison of %s failed", job.request_id)
                self.count_drop(job.route, DropReason.COMPARISON_FAILED)
            finally:
                self._queue.task_done()

    def _compare(self, job: _Job) -> None:
        candidate = self._ask_candidate(job)
        found: list[str] = []
        if candidate.answer is None:
            outcome = Outcome.CANDIDATE_ERROR
        else:
            found = differences(job.primary_answer, candidate.answer)
            outcome = Outcome.MISMATCH if found else Outcome.MATCH
        self._metrics.comparisons.labels(job.route, outcome.value).inc()
        self._metrics.latency.labels(job.route, "primary").observe(job.primary_seconds)
        if candidate.seconds is not None:
            self._metrics.latency.labels(job.route, "candidate").observe(candidate.seconds)
        about = {
            "time": job.time,
            "request_id": job.request_id,
            "method": job.method,
            "path": _redacted_target(job.target.decode("ascii", errors="replace")),
            "route": job.route,
            "group": str(job.shadow.group),
            "primary": str(job.primary),
            "candidate": str(job.shadow.candidate),
        }
        if outcome is Outcome.MISMATCH and candidate.answer is not None:
            logger.warning(
                "shadow: %s %s differs on %s: %d difference(s)",
                job.method,
                job.route,
                job.shadow.candidate,
                len(found),
                extra={"request_id": job.request_id, "route": job.route, "differences": len(found)},
            )
            # Before the comparison's line: once a comparison is listed, its mismatch is on file.
            if self._mismatches is not None:
                listed = found[:RECORDED_DIFFERENCES]
                if len(found) > len(listed):
                    listed.append(f"... and {len(found) - len(listed)} more")
                self._mismatches.append(
                    {
                        **about,
                        "differences": listed,
                        "answers": {
                            "primary": _recorded_answer(job.primary_answer, job.primary_seconds),
                            "candidate": _recorded_answer(candidate.answer, candidate.seconds),
                        },
                    }
                )
        if self._comparisons is not None:
            self._comparisons.append(
                {
                    **about,
                    "outcome": outcome.value,
                    "primary_status": job.primary_answer.status,
                    "candidate_status": None if candidate.answer is None else candidate.answer.status,
                    "primary_seconds": round(job.primary_seconds, 6),
                    "candidate_seconds": None if candidate.seconds is None else round(candidate.seconds, 6),
                    "difference_count": len(found),
                    "error": candidate.error,
                }
            )

    def _ask_candidate(self, job: _Job) -> _CandidateAnswer:
        """The candidate's answer to the job's request, or why there is none, within the deadline."""
        timeout = self.settings.timeout_seconds
        base = httpx.URL(self._upstreams[job.shadow.candidate])
        url = base.copy_with(raw_path=base.raw_path.split(b"?", 1)[0].rstrip(b"/") + job.target)
        started = time.perf_counter()
        try:
            response = self._client.send(
                self._client.build_request(job.method, url, headers=list(job.headers)), stream=True
            )
        except httpx.TimeoutException:
            return _CandidateAnswer(None, None, f"no answer within {timeout} s")
        except httpx.HTTPError as error:
            return _CandidateAnswer(None, None, f"not answering ({type(error).__name__})")
        seconds = time.perf_counter() - started
        body = _BodyTee(self.settings.body_cap_bytes)
        # An answer to HEAD has no body (RFC 9110 section 9.3.2), as the primary's reached the client.
        chunks = iter(()) if job.method == "HEAD" else response.iter_raw(_CHUNK_BYTES)
        try:
            for chunk in chunks:
                body.add(chunk)
                if time.perf_counter() - started > timeout:
                    return _CandidateAnswer(None, seconds, f"the answer took longer than {timeout} s")
        except httpx.TimeoutException:
            return _CandidateAnswer(None, seconds, f"the answer stalled past {timeout} s")
        except httpx.HTTPError as error:
            return _CandidateAnswer(None, seconds, f"the answer broke off ({type(error).__name__})")
        finally:
            response.close()
        return _CandidateAnswer(body.answer(response.status_code, response.headers), seconds, None)


_Response = TypeVar("_Response", bound=Response)


class Mirror:
    """One shadowed request: tees the primary's answer as it streams, then queues the comparison."""

    def __init__(
        self,
        traffic: ShadowTraffic,
        shadow: Shadow,
        *,
        route: str,
        method: str,
        primary: PartName,
        primary_base_path: bytes,
    ) -> None:
        self._traffic = traffic
        self._shadow = shadow
        self._route = route
        self._method = method
        self._primary = primary
        self._primary_base_path = primary_base_path
        self._started = time.perf_counter()
        self._body = _BodyTee(traffic.settings.body_cap_bytes)
        self._complete = False
        self._primary_seconds = 0.0
        self._answered_at = ""
        self._request: httpx.Request | None = None
        self._response: httpx.Response | None = None

    def follow(
        self, response: _Response, upstream_request: httpx.Request, upstream: httpx.Response
    ) -> _Response:
        """`response`, the primary's answer to the client: its body teed as it streams, unchanged,
        and the comparison queued once it is closed."""
        self._primary_seconds = time.perf_counter() - self._started
        self._answered_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._request, self._response = upstream_request, upstream
        # No body reaches the client then: the server does not even iterate the answer.
        self._complete = self._method == "HEAD" or upstream.status_code in {204, 304}
        # The edge streams the primary's raw bytes (snappy_edge.app._stream).
        response.response = self._teed(cast(Iterable[bytes], response.response))
        response.call_on_close(self.finish)
        return response

    def _teed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                self._body.add(chunk)
                yield chunk
            self._complete = True
        finally:
            # Closed early (the client went away): close what it streams from, as the server would.
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def finish(self) -> None:
        """The answer is closed: queue the comparison, or count why there is none. Never raises."""
        request, response = self._request, self._response
        if request is None or response is None:
            return
        try:
            if not self._complete:
                self._traffic.count_drop(self._route, DropReason.PRIMARY_INCOMPLETE)
                return
            target = request.url.raw_path
            if target.startswith(self._primary_base_path):
                target = target[len(self._primary_base_path) :]
            self._traffic.submit(
                _Job(
                    time=self._answered_at,
                    request_id=request.headers.get("x-request-id", ""),
                    method=self._method,
                    target=target,
                    # As sent to the primary (the client's, the request id, X-Forwarded-*); the
                    # candidate's own Host comes from its URL.
                    headers=tuple(
                        (name, value) for name, value in request.headers.raw if name.lower() != b"host"
                    ),
                    route=self._route,
                    shadow=self._shadow,
                    primary=self._primary,
                    primary_answer=self._body.answer(response.status_code, response.headers),
                    primary_seconds=self._primary_seconds,
                )
            )
        except Exception:  # the client has its answer: the shadow must not fail the request
            logger.exception(
                "shadow: the comparison of %s could not be queued", request.headers.get("x-request-id")
            )
            self._traffic.count_drop(self._route, DropReason.COMPARISON_FAILED)
