"""What a project needs from the package index, and which of the repository's libraries it uses.

The Dockerfiles' build stage runs it (standard library only, Python 3.11) on the projects'
pyproject.toml files alone, before any code is copied, so that the third-party packages
are installed in a layer of their own: a change of code then rebuilds only the layer that
installs the repository's own projects.

    python3 third_party.py PROJECT LIBRARY...          the third-party requirements, one a line
    python3 third_party.py --local PROJECT LIBRARY...  PROJECT and the LIBRARY folders it uses

PROJECT and each LIBRARY are folders holding a pyproject.toml. A requirement naming a
LIBRARY (with its extras) is followed into that library's own requirements.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project(folder: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return table


def resolve(project: Path, libraries: list[Path]) -> tuple[list[str], list[Path]]:
    """The third-party requirements of `project`, and the folders of it and of the libraries it uses."""
    by_name = {_canonical(_project(folder)["name"]): folder for folder in libraries}
    requirements: set[str] = set()
    folders = [project]
    seen: set[tuple[str, frozenset[str]]] = set()
    waiting: list[tuple[Path, frozenset[str]]] = [(project, frozenset())]
    while waiting:
        folder, extras = waiting.pop()
        described = _project(folder)
        optional = described.get("optional-dependencies", {})
        for requirement in [
            *described.get("dependencies", []),
            *(r for e in extras for r in optional.get(e, [])),
        ]:
            matched = _REQUIREMENT.match(requirement)
            if matched is None:
                raise SystemExit(f"{folder}: cannot read the requirement {requirement!r}")
            name = _canonical(matched.group(1))
            if name not in by_name:
                requirements.add(requirement)
                continue
            wanted = frozenset(
                extra.strip() for extra in (matched.group(2) or "").split(",") if extra.strip()
            )
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            if by_name[name] not in folders:
                folders.append(by_name[name])
            waiting.append((by_name[name], wanted))
    return sorted(requirements), folders


def main(argv: list[str]) -> int:
    """Print the requirements (or, with --local, the folders); 2 on wrong usage."""
    local = argv[:1] == ["--local"]
    folders = [Path(argument) for argument in (argv[1:] if local else argv)]
    if not folders:
        print(__doc__, file=sys.stderr)
        return 2
    requirements, used = resolve(folders[0], folders[1:])
    print("\n".join(str(folder) for folder in used) if local else "\n".join(requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
