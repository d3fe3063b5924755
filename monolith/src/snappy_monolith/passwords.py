"""Password hashing with Argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from prometheus_client import Counter

__all__ = ["PASSWORD_CHECKS", "hash_password", "verify_password"]

# Argon2 verifications, the costly part of a log-in: the guessing throttle keeps them down.
# In no registry here; each app adds it to its own, so `/metrics` shows it.
PASSWORD_CHECKS = Counter(
    "snappy_password_checks",
    "Passwords checked with Argon2 (log-in attempts that got that far).",
    registry=None,
)

# argon2-cffi's defaults follow RFC 9106's second recommendation (64 MiB, 3 passes).
_hasher = PasswordHasher()

# Verified against when the username does not exist, so that a wrong username costs as
# long as a wrong password and usernames cannot be discovered by timing.
_DUMMY_HASH = _hasher.hash("snappy-timing-equaliser")


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches `password_hash` (None: no such user)."""
    PASSWORD_CHECKS.inc()
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
