"""Request ids, JSON logs, Prometheus metrics and the health endpoints.

- Every request gets an id: the caller's `X-Request-ID` when it is sane, else a new one.
  It is echoed in the response and stamped on every log line written for the request.
- Logs are one JSON object per line on stdout.
- `/metrics` counts requests and observes latencies by route template (never by raw path,
  which would explode the label set) and status.
- `/healthz` says the process is alive; `/readyz` that its database and bucket answer.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from snappy_monolith.components import components
from snappy_monolith.errors import ServiceUnavailable, problem_response
from snappy_monolith.storage import StorageError

__all__ = ["JsonLogFormatter", "configure_logging", "install_observability"]

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_STANDARD_LOG_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

logger = logging.getLogger("snappy_monolith.requests")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, with the request id when there is a request."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            document["request_id"] = g.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_LOG_RECORD_FIELDS and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        # ASCII only: U+2028, U+0085 and friends would otherwise split a record for line-based tools.
        return json.dumps(document, default=str, ensure_ascii=True)


def configure_logging(level: str) -> None:
    """Send every log record to stdout as JSON (called once per process)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "snappy_http_requests",
            "HTTP requests handled, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "snappy_http_request_duration_seconds",
            "Time to produce a response, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )


def install_observability(app: Flask) -> None:
    """Add request ids, access logs, metrics and the health endpoints to `app`."""
    metrics = _Metrics()
    app.extensions["snappy.metrics"] = metrics

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(elapsed)
        if route not in {"/healthz", "/readyz", "/metrics"}:
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        return response

    app.register_blueprint(_health_blueprint(metrics))


def _health_blueprint(metrics: _Metrics) -> Blueprint:
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        """Alive: answers without touching any dependency."""
        return jsonify({"status": "ok"})

    @blueprint.get("/readyz")
    def readyz() -> Response:
        """Ready: the database and the bucket answer."""
        failures: list[str] = []
        try:
            components().database.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            logger.warning("readiness: database does not answer", extra={"error": str(exc)})
            failures.append("database")
        try:
            components().storage.ping()
        except StorageError as exc:
            logger.warning("readiness: object store does not answer", extra={"error": str(exc)})
            failures.append("object store")
        if failures:
            return problem_response(ServiceUnavailable(f"Not ready: {', '.join(failures)} unavailable"))
        return jsonify({"status": "ok"})

    @blueprint.get("/metrics")
    def metrics_endpoint() -> Response:
        """Prometheus text exposition."""
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    return blueprint
