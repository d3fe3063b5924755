"""Which failures mean a dependency is down or too slow: the one place that decides 503."""

from __future__ import annotations

from snappy_monolith.database import is_database_unavailable
from snappy_monolith.storage import StorageUnavailable

__all__ = ["dependency_unavailable"]


def dependency_unavailable(error: BaseException) -> bool:
    """Whether `error` comes from PostgreSQL or S3 not answering (in time), rather than a bug."""
    return isinstance(error, StorageUnavailable) or is_database_unavailable(error)
