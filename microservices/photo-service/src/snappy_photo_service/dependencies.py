"""Which failures mean a dependency is down or too slow: the one place that decides 503.

user-service is not here: `UserDirectory` already turns its failures into
ServiceUnavailable itself.
"""

from __future__ import annotations

from snappy_photo_service.storage import StorageUnavailable
from snappy_plumbing.database import is_database_unavailable

__all__ = ["dependency_unavailable"]


def dependency_unavailable(error: BaseException) -> bool:
    """Whether `error` comes from PostgreSQL or S3 not answering (in time), rather than a bug."""
    return isinstance(error, StorageUnavailable) or is_database_unavailable(error)
