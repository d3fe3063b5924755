"""Gunicorn settings: the ones every Snappy service shares (snappy_plumbing.gunicorn_conf)."""

from snappy_plumbing.gunicorn_conf import *  # noqa: F403 - gunicorn reads module-level names
