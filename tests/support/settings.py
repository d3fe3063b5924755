"""A deployable's settings tested as one table: the variables given, and the settings read or the refusal.

Each row is a `Reads` or a `Refuses`, and gives only what it changes on top of the
variables every row of its table gets (the required ones); one parametrized test per
settings class checks every row with its `from_environ`. A blank variable counts as unset
(tests/plumbing/test_config.py), so a row leaves a required variable out by blanking it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["ReadSettings", "Reads", "Refuses", "SettingsCase", "the_required_variables"]

# A settings class's `from_environ`: the variables in, the settings out (or a configuration error).
ReadSettings = Callable[[Mapping[str, str]], object]


@dataclass(frozen=True)
class Reads:
    """Given `variables`, and secrets in `files`, the settings read are `expected`."""

    summary: str
    variables: Mapping[str, str]
    expected: object
    # A `_FILE` variable -> what the file it names holds: a secret mounted as a file.
    files: Mapping[str, str] = field(default_factory=dict)

    def check(
        self, read: ReadSettings, base: Mapping[str, str], error: type[Exception], folder: Path
    ) -> None:
        """Assert that `read` gives the expected settings from `base` and the row's variables."""
        environ = {**base, **self.variables}
        for file_variable, content in self.files.items():
            path = folder / file_variable
            path.write_text(content)
            environ[file_variable] = str(path)
        assert read(environ) == self.expected


@dataclass(frozen=True)
class Refuses:
    """Given `variables`, reading stops with the deployable's configuration error, which says `message`."""

    variables: Mapping[str, str]
    # Part of the error's message, as written (not a pattern).
    message: str

    @property
    def summary(self) -> str:
        """What the case checks: the error it expects."""
        return self.message

    def check(
        self, read: ReadSettings, base: Mapping[str, str], error: type[Exception], folder: Path
    ) -> None:
        """Assert that `read` raises `error` with the message, given `base` and the row's variables."""
        with pytest.raises(error, match=re.escape(self.message)):
            read({**base, **self.variables})


SettingsCase = Reads | Refuses


def the_required_variables(required: Mapping[str, str], expected: object) -> list[SettingsCase]:
    """The rows a table starts with: `required` alone reads as `expected`; each one blank is named."""
    return [
        Reads("the required variables alone: the rest are the fields' defaults", {}, expected),
        *(Refuses({name: ""}, f"{name} is required") for name in required),
    ]
