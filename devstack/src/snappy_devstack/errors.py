"""The errors the developer tooling reports to its user as one-line messages."""

from __future__ import annotations

__all__ = ["BackingServiceError", "DevstackError", "one_line"]


class DevstackError(Exception):
    """A failure the `snappy` command reports as a one-line message, without a traceback."""


class BackingServiceError(DevstackError):
    """PostgreSQL or S3 could not be provided, reached or changed."""


def one_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (its class name when it has none)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__
