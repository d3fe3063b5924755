"""The monolith's copies of code the microservices share stay in step with the originals.

The monolith does not import `snappy_plumbing` or a service's package: it is the "before"
version and keeps working alone until it is retired (docs/decisions.md). Where it carries
the same cross-cutting code as the microservices, each pair here must stay the same code:
module docstrings and imports may differ (they name their own package), nothing else.
A fix made to one side only fails this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
MONOLITH = "monolith/src/snappy_monolith"
PLUMBING = "microservices/plumbing/src/snappy_plumbing"
USER_SERVICE = "microservices/user-service/src/snappy_user_service"
PHOTO_SERVICE = "microservices/photo-service/src/snappy_photo_service"

COPIES = [
    (f"{PLUMBING}/gunicorn_worker.py", f"{MONOLITH}/gunicorn_worker.py"),
    (f"{PLUMBING}/security_headers.py", f"{MONOLITH}/security_headers.py"),
    (f"{USER_SERVICE}/throttle.py", f"{MONOLITH}/throttle.py"),
    (f"{PHOTO_SERVICE}/sweep.py", f"{MONOLITH}/sweep.py"),
]
_MODULE_DOCSTRING = re.compile(r'\A"""(?:.|\n)*?"""\n')
_IMPORT = re.compile(r"^(?:from \S+ )?import .*$", re.MULTILINE)
_PACKAGE = re.compile(r"\bsnappy_(?:monolith|plumbing|user_service|photo_service)\b")


def _code(relative_path: str) -> str:
    """The module without its docstring and imports, every Snappy package named alike."""
    text = (REPOSITORY_ROOT / relative_path).read_text()
    text = _IMPORT.sub("", _MODULE_DOCSTRING.sub("", text, count=1))
    return _PACKAGE.sub("snappy_package", text)


@pytest.mark.parametrize(("original", "copy"), COPIES, ids=[Path(copy).name for _, copy in COPIES])
def test_the_monolith_copy_is_the_same_code(original: str, copy: str) -> None:
    assert _code(copy) == _code(original)


def test_a_change_to_one_side_is_noticed(tmp_path: Path) -> None:
    """The comparison is not blind: one added line of code is a difference."""
    original, _ = COPIES[0]
    changed = tmp_path / "changed.py"
    changed.write_text((REPOSITORY_ROOT / original).read_text() + "ONE_MORE_SETTING = 1\n")

    assert _code(str(changed)) != _code(original)
