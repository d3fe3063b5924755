"""Reading settings from environment variables, with errors that name the variable."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ConfigurationError", "EnvironmentReader", "sqlalchemy_url"]


class ConfigurationError(Exception):
    """A required setting is missing or a setting has an invalid value."""


class EnvironmentReader:
    """Typed access to one environment mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        """The stripped value, or None when unset or blank."""
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        """The value; ConfigurationError when unset."""
        value = self.optional(name)
        if value is None:
            raise ConfigurationError(f"{name} is required")
        return value

    def positive_int(self, name: str, default: int) -> int:
        """A whole number of at least 1."""
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
        if value < 1:
            raise ConfigurationError(f"{name} must be at least 1, got {value}")
        return value

    def non_negative_int(self, name: str, default: int) -> int:
        """A whole number of at least 0."""
        raw = self.optional(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()):
            raise ConfigurationError(f"{name} must be a whole number of at least 0, got {raw!r}")
        return int(raw)

    def positive_float(self, name: str, default: float) -> float:
        """A number above 0 (seconds, usually)."""
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if value <= 0:
            raise ConfigurationError(f"{name} must be above 0, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """true/false, yes/no, on/off, 1/0."""
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")

    def text_or_file(self, name: str) -> str | None:
        """`NAME` itself, or the contents of the file that `NAME_FILE` names."""
        inline = self.optional(name)
        if inline:
            return inline
        path = self.optional(f"{name}_FILE")
        if not path:
            return None
        try:
            with open(path, encoding="utf-8") as source:
                return source.read()
        except OSError as exc:
            raise ConfigurationError(f"{name}_FILE: cannot read {path}: {exc}") from exc


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg 3 driver on a plain `postgresql://` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
