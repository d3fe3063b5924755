"""Every deployable's Dockerfile, beside its code, installs its project and starts it as the topology says.

Read as text: no container engine is needed (tests/container_images builds and runs the
images). The Dockerfiles share one recipe, from the first FROM to the RUN that adds the
runtime user; each names its base, project and distribution in build arguments, copies the
installed environment from the build stage, carries the OCI labels and a probe (servers) or
none (jobs), and ends with how its image starts.
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
# The base, pinned by digest; `snappy images build` may pass another in the same argument.
PINNED_BASE = re.compile(r"[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}")
ENVIRONMENT_COPY = "--from=build /opt/snappy /opt/snappy"
OCI_LABELS = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.base.name",
)
WRITABLE_PATHS_LABEL = "io.snappy.writable-paths"


@dataclass(frozen=True)
class Deployable:
    """A part or a job that has an image of its own."""

    name: str
    project: str
    start: Command
    # A server answers probes (HEALTHCHECK); a job runs to completion and has none.
    serves: bool


DEPLOYABLES = [Deployable(part.name, part.project, part.start, serves=True) for part in PARTS.values()] + [
    Deployable(job.name, job.project, job.command, serves=False)
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
    """The shared part: from the first FROM to the RUN that adds the runtime user."""
    first = next(index for index, instruction in enumerate(found) if instruction.keyword == "FROM")
    last = max(
        index
        for index, instruction in enumerate(found)
        if instruction.keyword == "RUN" and "useradd" in instruction.arguments
    )
    return found[first : last + 1]


def labels(found: list[Instruction]) -> dict[str, str]:
    """The LABEL keys and their values, quotes removed."""
    pairs = re.compile(r'([A-Za-z0-9._-]+)="([^"]*)"')
    return {
        key: value
        for instruction in found
        if instruction.keyword == "LABEL"
        for key, value in pairs.findall(instruction.arguments)
    }


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


@pytest.mark.parametrize("deployable", DEPLOYABLES, ids=lambda deployable: deployable.name)
def test_the_image_is_pinned_labelled_probed_and_copies_only_the_built_environment(
    deployable: Deployable,
) -> None:
    found = instructions(REPOSITORY_ROOT / deployable.project / "Dockerfile")

    assert PINNED_BASE.fullmatch(build_argument(found, "BASE_IMAGE"))
    stages = [instruction.arguments for instruction in found if instruction.keyword == "FROM"]
    assert stages == ["${BASE_IMAGE} AS build", "${BASE_IMAGE} AS runtime"]
    copied_from_build = [
        instruction.arguments
        for instruction in found
        if instruction.keyword == "COPY" and instruction.arguments.startswith("--from")
    ]
    assert copied_from_build == [ENVIRONMENT_COPY]
    found_labels = labels(found)
    assert set(OCI_LABELS) <= set(found_labels)
    assert found_labels["org.opencontainers.image.base.name"] == "${BASE_IMAGE}"
    writable = found_labels[WRITABLE_PATHS_LABEL].split()
    assert writable
    assert all(path.startswith("/") and path != "/" for path in writable)
    probe = last(found, "HEALTHCHECK")
    assert probe is not None
    if deployable.serves:
        assert "CMD" in probe.arguments.split()
        assert "/healthz" in probe.arguments
    else:
        assert probe.arguments == "NONE"


def test_every_dockerfile_shares_one_recipe() -> None:
    recipes = {
        deployable.name: recipe(instructions(REPOSITORY_ROOT / deployable.project / "Dockerfile"))
        for deployable in DEPLOYABLES
    }
    first_name, first_recipe = next(iter(recipes.items()))

    for name, each in recipes.items():
        assert each == first_recipe, f"{name}'s recipe differs from {first_name}'s"
    assert any(instruction.arguments.startswith("${PROJECT}/ ") for instruction in first_recipe)
    assert any("pip install" in instruction.arguments for instruction in first_recipe)


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
