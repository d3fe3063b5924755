"""`snappy images build`: the container image of every deployable, with or without a Docker engine.

Every part of the topology (monolith, user-service, photo-service, web-ui, edge) and the
data migration has a Dockerfile beside its code; the schema migrations run from their
part's image with another command (`python -m <package> migrate`), so they need no image
of their own. Each image is named `snappy-<name>:<tag>`.

Where `docker info` succeeds the images are built with `docker build`. Otherwise buildah
builds them without a daemon: `buildah bud --isolation chroot` (no user namespaces needed),
with its layer cache (`--layers`, kept in buildah's storage, /var/lib/containers as root),
Docker's image format (OCI images have no HEALTHCHECK), and the host's CA bundle mounted
over the base's, so that package downloads trust what the host trusts.

The base: the Dockerfiles pin Python 3.11 on Debian bookworm by digest. Where that image
cannot be pulled (no registry reachable), a base with the same Python is made from Debian's
packages with mmdebstrap, cached as a tarball keyed by what it holds
(/var/cache/snappy/debian-base-<key>.tar), imported into the engine and passed to every
build as BASE_IMAGE. Why: deploy/README.md, "Images".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from snappy_devstack.errors import DevstackError
from snappy_devstack.processes import log_tail
from snappy_topology import JOBS, PARTS

__all__ = [
    "BUILDAH",
    "DEBIAN_BASE_PACKAGES",
    "DOCKER",
    "IMAGES",
    "IMAGES_COMMAND",
    "BuiltImage",
    "ImageSpec",
    "add_images_parser",
    "build_images",
    "debian_base",
    "detect_engine",
    "image_reference",
    "pinned_base",
    "run_images",
]

IMAGES_COMMAND = "images"
DOCKER = "docker"
BUILDAH = "buildah"
_ENGINES = ("auto", DOCKER, BUILDAH)
# --base: auto (the pinned base where it can be had, else the Debian base), pinned, debian,
# or any image reference.
_AUTO = "auto"
_PINNED = "pinned"
_DEBIAN = "debian"
_REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_BASE_ARGUMENT = re.compile(r"^ARG BASE_IMAGE=(\S+)$", re.MULTILINE)
# What the Debian base holds: Python 3.11 with venv (the build stage makes a virtual
# environment), the CA bundle (pip's downloads) and passwd (useradd).
DEBIAN_BASE_PACKAGES = ("ca-certificates", "passwd", "python3", "python3-venv")
_DEBIAN_SUITE = "bookworm"
_DEBIAN_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Documentation, manuals and translations are left out of the base: nothing reads them.
_DEBIAN_OPTIONS = (
    "--variant=minbase",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)
_DEFAULT_CACHE_DIR = Path("/var/cache/snappy")
_PULL_TIMEOUT_SECONDS = 300
_ENGINE_PROBE_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class ImageSpec:
    """A deployable with an image: its name in the topology and the project folder holding its Dockerfile."""

    name: str
    project: str

    @property
    def repository(self) -> str:
        """The image's name: snappy-<name>."""
        return f"snappy-{self.name}"

    @property
    def dockerfile(self) -> Path:
        """The Dockerfile beside the project's code."""
        return _REPOSITORY_ROOT / self.project / "Dockerfile"


IMAGES: tuple[ImageSpec, ...] = tuple(
    ImageSpec(str(part.name), part.project) for part in PARTS.values()
) + tuple(ImageSpec(str(job.name), job.project) for job in JOBS.values() if job.project is not None)


@dataclass(frozen=True)
class BuiltImage:
    """An image `snappy images build` built, and how long it took."""

    spec: ImageSpec
    reference: str
    seconds: float


def image_reference(spec: ImageSpec, tag: str) -> str:
    """The local reference of `spec`'s image with `tag`."""
    return f"{spec.repository}:{tag}"


def detect_engine() -> str:
    """docker where an engine answers `docker info`, else buildah; DevstackError when neither is there."""
    if shutil.which(DOCKER) is not None:
        try:
            answered = subprocess.run(  # noqa: S603 - a fixed argv
                [DOCKER, "info"],
                capture_output=True,
                timeout=_ENGINE_PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            answered = None
        if answered is not None and answered.returncode == 0:
            return DOCKER
    if shutil.which(BUILDAH) is not None:
        return BUILDAH
    raise DevstackError(
        "no Docker engine answers and buildah is not installed (Debian: apt-get install buildah mmdebstrap)"
    )


def pinned_base() -> str:
    """The base every Dockerfile pins by digest (its BASE_IMAGE argument's default)."""
    found = _BASE_ARGUMENT.search(IMAGES[0].dockerfile.read_text(encoding="utf-8"))
    if found is None:
        raise DevstackError(f"{IMAGES[0].dockerfile} has no ARG BASE_IMAGE=<image>")
    return found.group(1)


def _qualified(reference: str) -> str:
    """`reference` with its registry: Docker Hub's official images are docker.io/library/<name>."""
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return reference
    return f"docker.io/{reference}" if "/" in reference else f"docker.io/library/{reference}"


def _image_exists(engine: str, reference: str) -> bool:
    argv = (
        [DOCKER, "image", "inspect", reference]
        if engine == DOCKER
        else [BUILDAH, "inspect", "--type", "image", reference]
    )
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0  # noqa: S603


def _pull(engine: str, reference: str, log: Path) -> bool:
    """Pull `reference`; False (the reason in `log`) when it cannot be had."""
    with log.open("ab") as output:
        try:
            pulled = subprocess.run(  # noqa: S603 - a fixed argv
                [engine, "pull", reference],
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=_PULL_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
    return pulled.returncode == 0


def debian_base_key() -> str:
    """What the Debian base holds, as a short digest: its tarball's and its image's name."""
    described = json.dumps(
        {
            "suite": _DEBIAN_SUITE,
            "packages": sorted(DEBIAN_BASE_PACKAGES),
            "sources": list(_DEBIAN_SOURCES),
            "options": list(_DEBIAN_OPTIONS),
        },
        sort_keys=True,
    )
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def debian_base(engine: str, cache_dir: Path, log: Path) -> str:
    """The Debian base in `engine`'s storage (made with mmdebstrap once, then cached); its reference."""
    key = debian_base_key()
    reference = f"localhost/snappy-debian-base:{key}"
    if _image_exists(engine, reference):
        return reference
    tarball = cache_dir / f"debian-base-{key}.tar"
    if not tarball.is_file():
        if shutil.which("mmdebstrap") is None:
            raise DevstackError(
                "the pinned base cannot be pulled and mmdebstrap is not installed to make one"
                " from Debian's packages (Debian: apt-get install mmdebstrap)"
            )
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial.tar")
        _say(f"  making the Debian base ({', '.join(DEBIAN_BASE_PACKAGES)}) with mmdebstrap")
        _run_logged(
            [
                "mmdebstrap",
                *_DEBIAN_OPTIONS,
                f"--include={','.join(DEBIAN_BASE_PACKAGES)}",
                _DEBIAN_SUITE,
                str(partial),
                *_DEBIAN_SOURCES,
            ],
            log,
            "mmdebstrap could not make the Debian base",
        )
        partial.replace(tarball)
    _import(engine, tarball, reference, log)
    return reference


def _import(engine: str, tarball: Path, reference: str, log: Path) -> None:
    """Make image `reference` from the root filesystem in `tarball`."""
    if engine == DOCKER:
        _run_logged([DOCKER, "import", str(tarball), reference], log, "docker could not import the base")
        return
    # buildah has no import command: a scratch container, the tarball unpacked into it, committed.
    container = _run_logged([BUILDAH, "from", "scratch"], log, "buildah could not start the base").strip()
    try:
        _run_logged([BUILDAH, "add", "--quiet", container, str(tarball), "/"], log, "buildah add failed")
        _run_logged([BUILDAH, "config", "--cmd", '["python3"]', container], log, "buildah config failed")
        _run_logged(
            [BUILDAH, "commit", "--quiet", "--format", "docker", container, reference],
            log,
            "buildah could not commit the base",
        )
    finally:
        subprocess.run([BUILDAH, "rm", container], capture_output=True, check=False)  # noqa: S603


def _run_logged(argv: Sequence[str], log: Path, failure: str) -> str:
    """Run `argv`, appending its output to `log`; its stdout, or DevstackError with the log's tail."""
    with log.open("ab") as output:
        finished = subprocess.run(  # noqa: S603 - argv built by this module
            list(argv), stdout=subprocess.PIPE, stderr=output, check=False
        )
        output.write(finished.stdout)
    if finished.returncode != 0:
        raise DevstackError(f"{failure} (exit status {finished.returncode}; log: {log})\n{log_tail(log)}")
    return finished.stdout.decode("utf-8", errors="replace")


def _revision() -> str:
    """The commit the images are built from, for their revision label; unknown outside a checkout."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=_REPOSITORY_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return found.stdout.strip() if found.returncode == 0 else "unknown"


def _build_command(
    engine: str, spec: ImageSpec, reference: str, build_arguments: dict[str, str]
) -> list[str]:
    arguments = [f"--build-arg={name}={value}" for name, value in sorted(build_arguments.items())]
    if engine == DOCKER:
        return [DOCKER, "build", "--file", str(spec.dockerfile), "--tag", reference, *arguments, "."]
    mounts = [f"--volume={_CA_BUNDLE}:{_CA_BUNDLE}:ro"] if _CA_BUNDLE.is_file() else []
    return [
        BUILDAH,
        "bud",
        "--isolation=chroot",
        "--format=docker",
        "--layers",
        f"--file={spec.dockerfile}",
        f"--tag={reference}",
        *arguments,
        *mounts,
        ".",
    ]


def build_images(
    *,
    engine: str = _AUTO,
    base: str = _AUTO,
    tag: str = "latest",
    only: Sequence[str] = (),
    cache_dir: Path = _DEFAULT_CACHE_DIR,
    log_dir: Path | None = None,
) -> list[BuiltImage]:
    """Build the images of `only` (every deployable when empty) and tag them `tag`; what was built.

    DevstackError names the image that failed and shows its build log's tail.
    """
    unknown = sorted(set(only) - {spec.name for spec in IMAGES})
    if unknown:
        raise DevstackError(
            f"no image called {', '.join(unknown)}; the images: {', '.join(spec.name for spec in IMAGES)}"
        )
    wanted = [spec for spec in IMAGES if not only or spec.name in only]
    chosen_engine = detect_engine() if engine == _AUTO else engine
    logs = log_dir or _REPOSITORY_ROOT / ".snappy" / "logs" / "images"
    logs.mkdir(parents=True, exist_ok=True)
    base_log = logs / "base.log"
    base_log.write_bytes(b"")
    base_image = _chosen_base(chosen_engine, base, cache_dir, base_log)
    build_arguments = {"VERSION": tag, "REVISION": _revision()}
    if base_image is not None:
        build_arguments["BASE_IMAGE"] = base_image
    _say(f"Building {len(wanted)} images with {chosen_engine} on {base_image or pinned_base()}")
    built = []
    for spec in wanted:
        reference = image_reference(spec, tag)
        log = logs / f"{spec.name}.log"
        log.write_bytes(b"")
        started = time.monotonic()
        with log.open("ab") as output:
            finished = subprocess.run(  # noqa: S603 - argv built by this module
                _build_command(chosen_engine, spec, reference, build_arguments),
                cwd=_REPOSITORY_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if finished.returncode != 0:
            raise DevstackError(
                f"the image {reference} did not build (exit status {finished.returncode}; log: {log})\n"
                f"{log_tail(log)}"
            )
        seconds = time.monotonic() - started
        built.append(BuiltImage(spec, reference, seconds))
        _say(f"  {reference:<36} {seconds:6.1f} s")
    return built


def _chosen_base(engine: str, base: str, cache_dir: Path, log: Path) -> str | None:
    """The BASE_IMAGE to build on; None for the Dockerfiles' own pinned base."""
    if base == _PINNED:
        return None
    if base == _DEBIAN:
        return debian_base(engine, cache_dir, log)
    if base != _AUTO:
        return base
    pinned = _qualified(pinned_base())
    if _image_exists(engine, pinned) or _pull(engine, pinned, log):
        return None
    _say(f"  the pinned base {pinned} cannot be pulled (see {log}); building on a Debian base instead")
    return debian_base(engine, cache_dir, log)


def add_images_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`snappy images build`."""
    images = commands.add_parser(
        IMAGES_COMMAND,
        help="build the container image of every deployable",
        description="Container images of Snappy's deployables (deploy/README.md, Images).",
    )
    actions = images.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="build every image (docker where an engine answers, else buildah)",
        description=(
            "Build snappy-<name>:<tag> for "
            + ", ".join(spec.name for spec in IMAGES)
            + ". Docker builds them where `docker info` succeeds, buildah otherwise; where the pinned"
            " base cannot be pulled, a Debian base made with mmdebstrap stands in for it."
        ),
    )
    build.add_argument("--engine", choices=_ENGINES, default=_AUTO, help="default: %(default)s")
    build.add_argument(
        "--base",
        default=_AUTO,
        metavar="auto|pinned|debian|IMAGE",
        help=(
            "the base image: the Dockerfiles' pinned one, a Debian base made with mmdebstrap, or any"
            " image; auto (the default) is the pinned one where it can be pulled, else the Debian base"
        ),
    )
    build.add_argument("--tag", default="latest", help="the images' tag (default: %(default)s)")
    build.add_argument(
        "--cache-dir",
        type=Path,
        default=_DEFAULT_CACHE_DIR,
        help="where the Debian base's tarball is kept between builds (default: %(default)s)",
    )
    build.add_argument(
        "only",
        nargs="*",
        metavar="NAME",
        help="build only these images (default: all of them)",
    )


def run_images(arguments: argparse.Namespace) -> int:
    """Run `snappy images <action>`."""
    started = time.monotonic()
    built = build_images(
        engine=arguments.engine,
        base=arguments.base,
        tag=arguments.tag,
        only=arguments.only,
        cache_dir=arguments.cache_dir,
    )
    _say(f"Built {len(built)} images in {time.monotonic() - started:.1f} s")
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stdout, flush=True)
