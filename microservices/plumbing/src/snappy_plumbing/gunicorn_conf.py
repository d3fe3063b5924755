"""Gunicorn settings every service shares, from the environment (SNAPPY_BIND,
SNAPPY_WORKERS, SNAPPY_THREADS, SNAPPY_GRACEFUL_TIMEOUT, SNAPPY_WORKER_TIMEOUT_SECONDS,
SNAPPY_LOG_LEVEL).

Each service's own `gunicorn_conf` module star-imports this one, so that its command
(`gunicorn -c python:<package>.gunicorn_conf ...`) stays its own while the settings
do not drift apart.

On SIGTERM gunicorn stops accepting connections, lets in-flight requests finish for up
to `graceful_timeout` seconds, then exits: what Kubernetes expects of a pod.
"""

import os

bind = os.environ.get("SNAPPY_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("SNAPPY_WORKERS", "1"))
threads = int(os.environ.get("SNAPPY_THREADS", "8"))
# gthread, but each request is read in full by the event loop before a thread serves it,
# so clients trickling their head or body cannot hold the threads (docs/security.md,
# "Slow clients and framing").
worker_class = "snappy_plumbing.gunicorn_worker.BufferingThreadWorker"
graceful_timeout = int(os.environ.get("SNAPPY_GRACEFUL_TIMEOUT", "25"))
# Above every request budget below it (the edge's 30 s upstream timeout included), so the
# arbiter never kills a worker over a request that is still within its budget
# (docs/security.md, "Deadlines and idempotency"; checked by tests/security/test_deadline_budget.py).
timeout = int(os.environ.get("SNAPPY_WORKER_TIMEOUT_SECONDS", "60"))
keepalive = 5
# The application writes its own JSON access log with the request id; gunicorn's own
# access logger is silenced in logconfig_dict below.
accesslog = None
# No runtime-control socket: it would be written under $HOME, which containers lack.
control_socket_disable = True
errorlog = "-"
loglevel = os.environ.get("SNAPPY_LOG_LEVEL", "info").lower()
# Load the app before forking: a configuration error stops the master at once.
preload_app = True
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "snappy_plumbing.observability.JsonLogFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}
