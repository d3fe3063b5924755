"""Every deployable's Dockerfile, beside its code, installs its project and starts it as the topology says.

Read as text: no container engine is needed. The Dockerfiles share one recipe, from the
first FROM to the last pip install; each names its project and distribution in two build
arguments and ends with how its image starts.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from snappy_topology import JOBS, PARTS, Command

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_USER = "10001:10001"


@dataclass(frozen=True)
class Deployable:
    """A part or a job that has an image of its own."""

    name: str
    project: str
    start: Command


DEPLOYABLES = [Deployable(part.name, part.project, part.start) for part in PARTS.values()] + [
    Deployable(job.name, job.project, job.command)
    for job in JOBS.values()
    if job.project is not None and job.command is not None
]


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword, and its arguments with continuation lines joined."""

    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The arguments of CMD or ENTRYPOINT written as a JSON array."""
        words = json.loads(self.arguments)
        assert isinstance(words, list), f"{self.keyword} is not in exec form: {self.arguments}"
        return [str(word) for word in words]


def instructions(dockerfile: Path) -> list[Instruction]:
    """The instructions of `dockerfile`, comments and blank lines left out."""
    lines = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    return [
        Instruction(keyword.upper(), " ".join(arguments.split()))
        for keyword, _, arguments in (line.strip().partition(" ") for line in lines)
        if keyword and not keyword.startswith("#")
    ]


def recipe(found: list[Instruction]) -> list[Instruction]:
    """The shared part: from the first FROM to the RUN that installs the distribution."""
    first = next(index for index, instruction in enumerate(found) if instruction.keyword == "FROM")
    last = max(
        index
        for index, instruction in enumerate(found)
        if instruction.keyword == "RUN" and instruction.arguments.startswith("pip install")
    )
    return found[first : last + 1]


def build_argument(found: list[Instruction], name: str) -> str:
    """The default value of the build argument `name`."""
    values = [
        instruction.arguments.partition("=")[2]
        for instruction in found
        if instruction.keyword == "ARG" and instruction.arguments.startswith(f"{name}=")
    ]
    assert len(values) == 1, f"ARG {name}= given {len(values)} times"
    return values[0]


def last(found: list[Instruction], keyword: str) -> Instruction | None:
    """The last `keyword` instruction: the one that takes effect."""
    return next((instruction for instruction in reversed(found) if instruction.keyword == keyword), None)


def project_metadata(folder: Path) -> tuple[str, set[str]]:
    """The distribution a project folder builds, and the names of the distributions it depends on."""
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirement_name = re.compile(r"[A-Za-z0-9._-]+")
    dependencies = set()
    for requirement in project.get("dependencies", []):
        named = requirement_name.match(requirement)
        assert named is not None, requirement
        dependencies.add(named.group())
    return project["name"], dependencies


def copied_folders(found: list[Instruction]) -> list[str]:
    """The repository folders the build stage copies, build arguments left unexpanded."""
    return [
        instruction.arguments.split()[0].rstrip("/")
        for instruction in found
        if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from")
    ]


@pytest.mark.parametrize("deployable", DEPLOYABLES, ids=lambda deployable: deployable.name)
def test_the_dockerfile_beside_the_code_installs_the_project_and_starts_it(deployable: Deployable) -> None:
    found = instructions(REPOSITORY_ROOT / deployable.project / "Dockerfile")
    distribution, _ = project_metadata(REPOSITORY_ROOT / deployable.project)

    assert build_argument(found, "PROJECT") == deployable.project
    assert build_argument(found, "DISTRIBUTION") == distribution
    entrypoint, command = last(found, "ENTRYPOINT"), last(found, "CMD")
    assert command is not None
    started = (entrypoint.exec_form() if entrypoint else []) + command.exec_form()
    assert started == [deployable.start.program, *deployable.start.arguments]
    user = last(found, "USER")
    assert user is not None
    assert user.arguments == RUNTIME_USER


def test_every_dockerfile_shares_one_recipe() -> None:
    recipes = {
        deployable.name: recipe(instructions(REPOSITORY_ROOT / deployable.project / "Dockerfile"))
        for deployable in DEPLOYABLES
    }
    first_name, first_recipe = next(iter(recipes.items()))

    for name, each in recipes.items():
        assert each == first_recipe, f"{name}'s recipe differs from {first_name}'s"
    assert "${DISTRIBUTION}" in first_recipe[-1].arguments
    assert any(instruction.arguments.startswith("${PROJECT}/ ") for instruction in first_recipe)


def test_the_recipe_builds_every_library_a_deployable_depends_on() -> None:
    """The libraries on no index (snappy-plumbing, snappy-topology) come from the repository."""
    shared = recipe(instructions(REPOSITORY_ROOT / DEPLOYABLES[0].project / "Dockerfile"))
    libraries = {
        project_metadata(REPOSITORY_ROOT / folder)[0]
        for folder in copied_folders(shared)
        if (REPOSITORY_ROOT / folder / "pyproject.toml").is_file()
    }
    # Every project of the repository sits one or two folders down (monolith/, microservices/web-ui/).
    local_distributions = {
        project_metadata(pyproject.parent)[0]
        for pattern in ("*/pyproject.toml", "*/*/pyproject.toml")
        for pyproject in REPOSITORY_ROOT.glob(pattern)
    }

    for deployable in DEPLOYABLES:
        _, dependencies = project_metadata(REPOSITORY_ROOT / deployable.project)
        assert dependencies & local_distributions <= libraries, deployable.name
    assert {"snappy-plumbing", "snappy-topology"} <= libraries
