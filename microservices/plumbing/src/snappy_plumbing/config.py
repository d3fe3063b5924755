"""Settings from environment variables, each declared once: on its dataclass field.

A settings class is a frozen dataclass. A field that comes from the environment names
its variable, and how the value is parsed, in its metadata; the field's default is the
setting's default, written nowhere else:

    region: str = field(default="us-east-1", metadata=variable("SNAPPY_S3_REGION"))
    bucket: str = field(metadata=variable("SNAPPY_S3_BUCKET"))  # no default: required
    s3: S3Settings = field(metadata=section())  # a settings class of its own, read alike

`EnvironmentSettings.from_environ` reads the whole tree. A variable that is unset or blank
leaves the default; any other value is parsed, and one that does not parse is a
`ConfigurationError` naming the variable. A section's default, when it has one, holds
the defaults of its fields, so that two deployables can share a section and differ in a
default. A field without metadata is no setting: it keeps its default (a test may set it).
Nothing is read at import time, so tests and tools can build settings from any mapping.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar

__all__ = [
    "ConfigurationError",
    "EnvironmentSettings",
    "ServiceSettings",
    "boolean",
    "check_request_budget",
    "http_url",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "postgresql_url",
    "section",
    "sqlalchemy_url",
    "text",
    "upper_case",
    "variable",
]

# A parser: the variable's name (for the error) and its stripped, non-blank value.
Parse = Callable[[str, str], object]
_METADATA_KEY = "snappy.setting"
_Value = TypeVar("_Value")


class ConfigurationError(Exception):
    """A required setting is missing or a setting has an invalid value."""


@dataclass(frozen=True)
class _Variable:
    name: str
    parse: Parse
    from_file: bool


class _Section:
    """The metadata of a field that is a settings class of its own."""


_SECTION = _Section()


def variable(name: str, parse: Parse | None = None, *, from_file: bool = False) -> dict[str, object]:
    """A field's metadata: its value comes from the variable `name`, parsed by `parse` (as text by default).

    With `from_file`, `NAME_FILE` may name a file that holds the value instead (a secret
    mounted as a file); `NAME` itself wins when both are set.
    """
    return {_METADATA_KEY: _Variable(name, parse or text, from_file)}


def section() -> dict[str, object]:
    """A field's metadata: the field is a settings class of its own, read the same way."""
    return {_METADATA_KEY: _SECTION}


class _Dataclass(Protocol):
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


# Variables that were renamed, and their new names. A deployment that still sets an old
# name is refused at start-up: silently running on the default would hide its setting.
RENAMED_VARIABLES: Mapping[str, str] = {
    "SNAPPY_USER_SERVICE_CONNECT_TIMEOUT_SECONDS": "SNAPPY_PEER_CONNECT_TIMEOUT_SECONDS",
    "SNAPPY_USER_SERVICE_READ_TIMEOUT_SECONDS": "SNAPPY_PEER_READ_TIMEOUT_SECONDS",
    "SNAPPY_USER_SERVICE_ATTEMPTS": "SNAPPY_PEER_ATTEMPTS",
    "SNAPPY_PEER_READ_ATTEMPTS": "SNAPPY_PEER_ATTEMPTS",
}


class EnvironmentSettings:
    """A settings dataclass that can read itself from the environment (see the module's docstring)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Build settings from `environ` (the process environment by default)."""
        environ = os.environ if environ is None else environ
        _refuse_renamed_variables(environ)
        settings: Self = _read(typing.cast(type[_Dataclass], cls), environ)
        return settings


def _refuse_renamed_variables(environ: Mapping[str, str]) -> None:
    renamed = [f"{old} is now {new}" for old, new in RENAMED_VARIABLES.items() if old in environ]
    if renamed:
        raise ConfigurationError(f"renamed settings: {'; '.join(renamed)}")


def _read(cls: type[_Dataclass], environ: Mapping[str, str], defaults: object = None) -> Any:
    """An instance of `cls` from `environ`; `defaults`, an instance, supplies the defaults when given."""
    arguments: dict[str, object] = {}
    for declared in dataclasses.fields(cls):
        default = _default(declared, defaults)
        setting = declared.metadata.get(_METADATA_KEY)
        if setting is _SECTION:
            section_class = typing.get_type_hints(cls)[declared.name]
            arguments[declared.name] = _read(section_class, environ, _or_none(default))
        elif isinstance(setting, _Variable):
            raw = _raw_value(setting, environ)
            if raw is not None:
                arguments[declared.name] = setting.parse(setting.name, raw)
            elif default is dataclasses.MISSING:
                raise ConfigurationError(f"{setting.name} is required")
            else:
                arguments[declared.name] = default
        elif default is not dataclasses.MISSING:
            arguments[declared.name] = default
    return cls(**arguments)


def _default(declared: dataclasses.Field[Any], defaults: object) -> object:
    if defaults is not None:
        return getattr(defaults, declared.name)
    if declared.default is not dataclasses.MISSING:
        return declared.default
    if declared.default_factory is not dataclasses.MISSING:
        return declared.default_factory()
    return dataclasses.MISSING


def _or_none(default: object) -> object:
    return None if default is dataclasses.MISSING else default


def _raw_value(setting: _Variable, environ: Mapping[str, str]) -> str | None:
    """The variable's stripped value, else the file `NAME_FILE` names, as it is; None when unset or blank.

    A file's contents are not stripped: a PEM key keeps its final newline.
    """
    value = environ.get(setting.name, "").strip()
    if value or not setting.from_file:
        return value or None
    path = environ.get(f"{setting.name}_FILE", "").strip()
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as source:
            return source.read()
    except OSError as exc:
        raise ConfigurationError(f"{setting.name}_FILE: cannot read {path}: {exc}") from exc


def text(name: str, raw: str) -> str:
    """The value as it is (stripped)."""
    return raw


def upper_case(name: str, raw: str) -> str:
    """The value in upper case (a log level)."""
    return raw.upper()


def positive_int(name: str, raw: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, got {value}")
    return value


def non_negative_int(name: str, raw: str) -> int:
    """A whole number of at least 0."""
    if not (raw.isascii() and raw.isdigit()):
        raise ConfigurationError(f"{name} must be a whole number of at least 0, got {raw!r}")
    return int(raw)


def positive_float(name: str, raw: str) -> float:
    """A number above 0 (seconds, usually)."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be above 0, got {value}")
    return value


def boolean(name: str, raw: str) -> bool:
    """true/false, yes/no, on/off, 1/0."""
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def http_url(name: str, raw: str) -> str:
    """An http:// or https:// URL (a peer's base URL, a JWKS document)."""
    if not raw.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return raw


def postgresql_url(name: str, raw: str) -> str:
    """A PostgreSQL URL, with the psycopg 3 driver pinned (`sqlalchemy_url`)."""
    return sqlalchemy_url(raw)


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg 3 driver on a plain `postgresql://` URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_request_budget(budget_seconds: float, worst_cases: Mapping[str, float]) -> None:
    """ConfigurationError unless the request budget exceeds the worst case of every call it covers.

    `worst_cases` maps a call, as a sentence names it ("a PostgreSQL call"), to the
    longest it can take.
    """
    for call, worst_case in worst_cases.items():
        if not worst_case < budget_seconds:
            raise ConfigurationError(
                f"SNAPPY_REQUEST_BUDGET_SECONDS ({budget_seconds} s) must exceed"
                f" the longest {call} can take ({worst_case} s)"
            )


@dataclass(frozen=True, kw_only=True)
class ServiceSettings(EnvironmentSettings):
    """What the settings of every Snappy service hold."""

    log_level: str = field(default="INFO", metadata=variable("SNAPPY_LOG_LEVEL", upper_case))
