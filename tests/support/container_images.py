"""Snappy's images run as a cluster runs them: own user, read-only root, only declared paths writable.

buildah runs each image (`buildah run --isolation chroot`, on the host's network, so the
containers reach the session's PostgreSQL and S3 on the loopback and each other on their
ports). Its `run` has no read-only option, so the working container's root filesystem is
remounted read-only on the host before the run: the container's mount namespace copies
that mount, read-only, when it is set up. Two things buildah needs are then arranged:

- a tmpfs at /run, where buildah itself writes /run/.containerenv into every container
  (it cannot create that file on a read-only root); nothing of Snappy's is under /run;
- once the container's first process is in its root, the host's view is remounted
  writable again, because buildah's clean-up after the run removes that file's mount point
  through it. The container keeps its own read-only copy of the mount (checked through
  /proc/<pid>/mountinfo by tests/container_images).

Each image declares what must be writable in its `io.snappy.writable-paths` label; each
of those paths gets a tmpfs (a Kubernetes emptyDir), and nothing else is writable.
Secrets (the JWT signing key) are bind-mounted read-only under /run/secrets/snappy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from snappy_devstack.backing import BackingServices
from snappy_devstack.images import IMAGES, ImageSpec, image_reference
from snappy_devstack.processes import LOOPBACK, free_ports, log_tail
from snappy_topology import EDGE_PHASE, JWT_PRIVATE_KEY_FILE, PartName, part
from tests.support.gunicorn import STOP_GRACE_SECONDS, wait_until_ready
from tests.support.parts import MicroservicesUrls, part_environment
from tests.support.provisioning import MicroservicesStores, new_bucket, new_database
from tests.support.session import SESSION_SECRET, SESSION_TAG

__all__ = [
    "BUILDAH_RUNTIME_PATH",
    "IMAGE_TAG",
    "IMAGE_TESTS",
    "SECRETS_PATH",
    "ContainerProcess",
    "FinishedJob",
    "ImageConfig",
    "RunningContainer",
    "container_environment",
    "image_config",
    "image_of",
    "image_stores",
    "images_selected",
    "migrate_from_image",
    "run_job",
    "running_image",
    "secrets_folder",
    "spawn_microservices_from_images",
    "spawn_part_from_image",
]

# Set to 1 (as .ci/run does, after `snappy images build`) to collect tests/container_images and
# to run the live microservices (tests/support/live.py) from their images.
IMAGE_TESTS = "SNAPPY_IMAGE_TESTS"
# The tag `snappy images build` gave the images under test.
IMAGE_TAG = os.environ.get("SNAPPY_IMAGE_TAG", "latest")
WRITABLE_PATHS_LABEL = "io.snappy.writable-paths"
# buildah's own writable path in every container it runs (see the module's docstring).
BUILDAH_RUNTIME_PATH = "/run"
SECRETS_PATH = "/run/secrets/snappy"
_BUILDAH = "buildah"
_START_TIMEOUT_SECONDS = 60.0
_JOB_TIMEOUT_SECONDS = 300.0
_POLL_SECONDS = 0.005
# runc and crun give a container's stdout and stderr to its user, so that a program may reopen
# them by name (nginx's `access_log /dev/stdout`); buildah's chroot isolation leaves them
# root's pipes. This prelude, run by the image's Python as the image's user, puts the command's
# output on a pipe of that user's, relayed to buildah's by a forked copier, then becomes the
# command (the same process, so the signals buildah passes on reach it).
_OWN_OUTPUT_PRELUDE = """
import os, sys
readable, writable = os.pipe()
if os.fork() == 0:
    os.close(writable)
    while chunk := os.read(readable, 65536):
        os.write(1, chunk)
    os._exit(0)
os.close(readable)
os.dup2(writable, 1)
os.dup2(writable, 2)
os.close(writable)
os.execvp(sys.argv[1], sys.argv[1:])
"""
_OWN_OUTPUT = ("python", "-c", _OWN_OUTPUT_PRELUDE)


def images_selected() -> bool:
    """Whether this session runs the image tests and the live microservices from images."""
    return os.environ.get(IMAGE_TESTS) == "1"


def image_of(name: str) -> ImageSpec:
    """The image of part or job `name`."""
    [spec] = [spec for spec in IMAGES if spec.name == name]
    return spec


@dataclass(frozen=True)
class ImageConfig:
    """What an image says about how it runs."""

    user: str
    command: tuple[str, ...]
    environment: dict[str, str]
    labels: dict[str, str]

    @property
    def writable_paths(self) -> tuple[str, ...]:
        """The paths the image needs writable; every other may be read-only."""
        return tuple(self.labels.get(WRITABLE_PATHS_LABEL, "").split())


def image_config(reference: str) -> ImageConfig:
    """The configuration of the local image `reference` (Docker format, as `snappy images build` makes)."""
    inspected = subprocess.run(
        [_BUILDAH, "inspect", "--type", "image", reference], capture_output=True, text=True, check=True
    )
    config = json.loads(inspected.stdout)["Docker"]["config"]
    return ImageConfig(
        user=config.get("User", ""),
        command=tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or [])),
        environment=dict(variable.split("=", 1) for variable in config.get("Env") or []),
        labels=dict(config.get("Labels") or {}),
    )


@dataclass(frozen=True)
class ContainerProcess:
    """A process inside a container, as the host sees it."""

    pid: int

    def uids(self) -> tuple[int, ...]:
        """Its real, effective, saved and filesystem uids."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return tuple(int(uid) for uid in line.split()[1:])
        raise AssertionError(f"no Uid line for process {self.pid}")

    def mounts(self) -> dict[str, str]:
        """Its mount points and each one's per-mount options (ro or rw first)."""
        mounts = {}
        for line in Path(f"/proc/{self.pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            mounts[fields[4]] = fields[5]
        return mounts


@dataclass(frozen=True)
class RunningContainer:
    """An image's command running under buildah."""

    reference: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # The working container buildah made from the image (its name), and its root on the host.
    container: str

    def processes(self) -> list[ContainerProcess]:
        """Every process inside the container now."""
        return [ContainerProcess(pid) for pid in _contained_descendants(self.process.pid)]


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent pid is the 4th field, after the command name in parentheses.
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _contained_descendants(pid: int) -> list[int]:
    """The descendants of `pid` whose root is not the host's: the processes inside the container."""
    children = _children()
    found = []
    waiting = list(children.get(pid, []))
    while waiting:
        each = waiting.pop()
        waiting.extend(children.get(each, []))
        try:
            if os.readlink(f"/proc/{each}/root") != "/":
                found.append(each)
        except OSError:
            continue
    return found


def _buildah(*arguments: str) -> str:
    finished = subprocess.run([_BUILDAH, *arguments], capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise AssertionError(f"buildah {' '.join(arguments)} failed: {finished.stderr.strip()}")
    return finished.stdout.strip()


def _remount(root: str, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", root], check=True, capture_output=True)


@contextmanager
def running_image(
    reference: str,
    environment: Mapping[str, str],
    log_path: Path,
    *,
    command: Sequence[str] = (),
    secrets_dir: Path | None = None,
) -> Iterator[RunningContainer]:
    """Run `command` (the image's own by default) in image `reference` until the block ends.

    The root is read-only, the image's writable paths and /run are tmpfs, the network is the
    host's, and only `environment` is added to the image's. At the end the command gets
    SIGTERM (SIGKILL after the grace period) and the working container is removed.
    """
    container = _buildah("from", "--pull-never", "--name", f"snappy-test-{os.urandom(4).hex()}", reference)
    try:
        root = _buildah("mount", container)
        _remount(root, "ro")
        config = image_config(reference)
        tmpfs = [
            f"--mount=type=tmpfs,destination={path}"
            for path in sorted({*config.writable_paths, BUILDAH_RUNTIME_PATH})
        ]
        secrets = [f"--volume={secrets_dir}:{SECRETS_PATH}:ro"] if secrets_dir is not None else []
        variables = [f"--env={name}={value}" for name, value in sorted(environment.items())]
        argv = [
            _BUILDAH,
            "run",
            "--isolation=chroot",
            "--network=host",
            *tmpfs,
            *secrets,
            *variables,
            container,
            "--",
            *_OWN_OUTPUT,
            # buildah run needs the command spelled out: the image's own, ENTRYPOINT then CMD.
            *(command or config.command),
        ]
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            _await_container(process, log_path, int(config.user.partition(":")[0]))
        finally:
            _remount(root, "rw")
        try:
            yield RunningContainer(reference, process, log_path, container)
        finally:
            _stop(process)
    finally:
        subprocess.run([_BUILDAH, "rm", container], capture_output=True, check=False)


def _await_container(process: subprocess.Popen[bytes], log_path: Path, uid: int) -> None:
    """Wait until the command runs inside the container as the image's user: its mounts are set up.

    buildah's own set-up runs inside as root first, before it has mounted everything.
    """
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not any(_runs_as(pid, uid) for pid in _contained_descendants(process.pid)):
        if process.poll() is not None:
            raise AssertionError(
                f"buildah run exited ({process.returncode}) before its command started:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"buildah run did not start its command:\n{log_tail(log_path)}")
        time.sleep(_POLL_SECONDS)


def _runs_as(pid: int, uid: int) -> bool:
    try:
        return ContainerProcess(pid).uids()[1] == uid
    except OSError:  # it has just exited
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # buildah passes it on to the container's command
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class FinishedJob:
    """A job's run: its exit status, what it wrote, and what ran it inside."""

    returncode: int
    output: str
    # The real, effective, saved and filesystem uids of each process inside, seen while it ran.
    uids: set[tuple[int, ...]]
    mounts: dict[str, str]


def run_job(
    reference: str,
    environment: Mapping[str, str],
    log_path: Path,
    *,
    command: Sequence[str] = (),
) -> FinishedJob:
    """Run a job's command in image `reference` to completion, as `running_image` runs a server."""
    start = log_path.stat().st_size if log_path.exists() else 0
    with running_image(reference, environment, log_path, command=command) as running:
        inside = running.processes()
        uids = {process.uids() for process in inside}
        mounts = inside[0].mounts()
        returncode = running.process.wait(timeout=_JOB_TIMEOUT_SECONDS)
    with log_path.open("rb") as log:
        log.seek(start)
        output = log.read().decode("utf-8", errors="replace")
    return FinishedJob(returncode, output, uids, mounts)


def container_environment(settings: Mapping[str, str], secrets_dir: Path | None) -> dict[str, str]:
    """The SNAPPY_* settings among `settings` a container gets: not the test session's own.

    A key file's path becomes its path in the container's secrets folder.
    """
    chosen = {
        name: value
        for name, value in settings.items()
        if name.startswith("SNAPPY_") and not name.startswith(("SNAPPY_DEV_", IMAGE_TESTS, "SNAPPY_IMAGE_"))
    }
    if secrets_dir is not None and JWT_PRIVATE_KEY_FILE in chosen:
        chosen[JWT_PRIVATE_KEY_FILE] = f"{SECRETS_PATH}/{Path(chosen[JWT_PRIVATE_KEY_FILE]).name}"
    return chosen


def secrets_folder(key_file: Path, folder: Path) -> Path:
    """A folder holding only a copy of `key_file`, readable by the images' user, to mount as secrets."""
    secrets_dir = folder / f"secrets-{key_file.stem}"
    secrets_dir.mkdir(mode=0o755, exist_ok=True)
    copy = secrets_dir / key_file.name
    shutil.copyfile(key_file, copy)
    copy.chmod(0o644)
    return secrets_dir


def spawn_part_from_image(
    name: PartName,
    settings: Mapping[str, str],
    log_path: Path,
    stack: ExitStack,
    *,
    secrets_dir: Path | None = None,
) -> tuple[RunningContainer, str]:
    """Start part `name` from its image with the topology's `settings`; wait until it is ready.

    It is stopped when `stack` closes.
    """
    port = int(settings["SNAPPY_BIND"].rpartition(":")[2])
    running = stack.enter_context(
        running_image(
            image_reference(image_of(name), IMAGE_TAG),
            container_environment(settings, secrets_dir),
            log_path,
            secrets_dir=secrets_dir,
        )
    )
    base_url = f"http://{LOOPBACK}:{port}"
    wait_until_ready(base_url, running.process, log_path)
    return running, base_url


def migrate_from_image(name: PartName, database_url: str, log_path: Path) -> None:
    """Bring `name`'s database to its newest schema with its image's migration command, as its Job does."""
    described = part(name)
    migration = described.schema_migration
    assert migration is not None, f"{name} has no database"
    finished = run_job(
        image_reference(image_of(name), IMAGE_TAG),
        {"SNAPPY_DATABASE_URL": database_url},
        log_path,
        command=[migration.program, *migration.arguments],
    )
    assert finished.returncode == 0, f"{name}'s migration failed:\n{finished.output}"


@contextmanager
def image_stores(backing: BackingServices, prefix: str, log_path: Path) -> Iterator[MicroservicesStores]:
    """Both services' databases and photo-service's bucket, named after `prefix`; then dropped.

    The schemas come from the services' images (their migration Jobs' command), not the source tree.
    """
    user_database = f"{prefix}_users_{SESSION_TAG}"
    photo_database = f"{prefix}_photos_{SESSION_TAG}"
    with (
        new_database(backing, user_database) as user_database_url,
        new_database(backing, photo_database) as photo_database_url,
        new_bucket(backing, photo_database.replace("_", "-")) as bucket,
    ):
        migrate_from_image(PartName.USER_SERVICE, user_database_url, log_path)
        migrate_from_image(PartName.PHOTO_SERVICE, photo_database_url, log_path)
        yield MicroservicesStores(user_database_url, photo_database_url, bucket)


def spawn_microservices_from_images(
    backing: BackingServices,
    common: Mapping[str, str],
    stores: MicroservicesStores,
    *,
    key_file: Path,
    log_path: Path,
    stack: ExitStack,
    containers: dict[PartName, RunningContainer] | None = None,
) -> MicroservicesUrls:
    """user-service, photo-service, web-ui and the edge (phase 3) from their images, wired by the topology.

    As `tests.support.parts.spawn_microservices` does from the source tree; each stops when `stack`
    closes. `containers`, when given, receives each part's running container.
    """
    started = {} if containers is None else containers
    secrets_dir = secrets_folder(key_file, log_path.parent)
    user_port, photo_port, web_port, edge_port = free_ports(4)
    started[PartName.USER_SERVICE], user_url = spawn_part_from_image(
        PartName.USER_SERVICE,
        part_environment(
            PartName.USER_SERVICE,
            backing,
            port=user_port,
            base=common,
            database_url=stores.user_database_url,
            key_file=key_file,
        ),
        log_path,
        stack,
        secrets_dir=secrets_dir,
    )
    services = {PartName.USER_SERVICE: user_url}
    started[PartName.PHOTO_SERVICE], photo_url = spawn_part_from_image(
        PartName.PHOTO_SERVICE,
        part_environment(
            PartName.PHOTO_SERVICE,
            backing,
            port=photo_port,
            base=common,
            peers=services,
            database_url=stores.photo_database_url,
            bucket=stores.bucket,
        ),
        log_path,
        stack,
    )
    services[PartName.PHOTO_SERVICE] = photo_url
    started[PartName.WEB_UI], web_url = spawn_part_from_image(
        PartName.WEB_UI,
        part_environment(
            PartName.WEB_UI,
            backing,
            port=web_port,
            base=common,
            peers=services,
            session_secret=SESSION_SECRET,
        ),
        log_path,
        stack,
    )
    started[PartName.EDGE], edge_url = spawn_part_from_image(
        PartName.EDGE,
        part_environment(
            PartName.EDGE,
            backing,
            port=edge_port,
            base={**common, EDGE_PHASE: "3"},
            peers={**services, PartName.WEB_UI: web_url},
        ),
        log_path,
        stack,
    )
    return MicroservicesUrls(edge_url, user_url, photo_url, web_url)
