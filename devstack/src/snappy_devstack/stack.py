"""Running a Snappy stack locally: its secrets, its migrations and its server processes."""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from snappy_devstack.backing import BackingServices
from snappy_devstack.errors import DevstackError, one_line
from snappy_devstack.processes import LOOPBACK, log_tail, stop_process, wait_until

__all__ = [
    "MONOLITH_BUCKET",
    "MONOLITH_DATABASE",
    "STACKS",
    "StackError",
    "StackSecrets",
    "check_monolith_installed",
    "default_state_dir",
    "ensure_secrets",
    "monolith_environment",
    "run_monolith_migrations",
    "running_monolith",
    "wait_until_ready",
]

# The stacks `snappy up` can start; the microservices stacks join this list as they are built.
STACKS = ("monolith",)
MONOLITH_DATABASE = "snappy_monolith"
MONOLITH_BUCKET = "snappy-monolith"
JWT_KEY_FILE = "jwt-signing-key.pem"
SESSION_SECRET_FILE = "session-secret"  # noqa: S105 - a file name
_MIGRATION_TIMEOUT_SECONDS = 300
_GUNICORN_STOP_GRACE_SECONDS = 35.0


class StackError(DevstackError):
    """A stack could not be prepared, started or kept running."""


@dataclass(frozen=True)
class StackSecrets:
    """Secrets generated once per state folder and reused by every later run."""

    jwt_private_key_path: Path
    session_secret: str


def default_state_dir(cwd: Path) -> Path:
    """`.snappy` in the repository root above `cwd` (the folder holding `.git`), else in `cwd`."""
    for folder in [cwd, *cwd.parents]:
        if (folder / ".git").exists():
            return folder / ".snappy"
    return cwd / ".snappy"


def check_monolith_installed() -> None:
    """Fail early, with a hint, when the monolith or gunicorn is not installed here."""
    if importlib.util.find_spec("snappy_monolith") is None:
        raise StackError("the monolith is not installed in this environment (run: pip install -e monolith)")
    if not _gunicorn_executable().is_file():
        raise StackError(f"gunicorn is not installed in {_scripts_dir()}")


def ensure_secrets(state_dir: Path) -> StackSecrets:
    """Create the JWT signing key and the session secret under `state_dir` unless they exist."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key_path = state_dir / JWT_KEY_FILE
    if not key_path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        _create_private_file(key_path, pem)
    _check_signing_key(key_path)

    secret_path = state_dir / SESSION_SECRET_FILE
    if not secret_path.exists():
        _create_private_file(secret_path, (secrets.token_urlsafe(48) + "\n").encode())
    session_secret = secret_path.read_text(encoding="ascii").strip()
    if not session_secret:
        raise StackError(f"{secret_path} is empty; delete it to generate a new secret")
    return StackSecrets(jwt_private_key_path=key_path, session_secret=session_secret)


def monolith_environment(
    base: Mapping[str, str],
    *,
    services: BackingServices,
    database_url: str,
    stack_secrets: StackSecrets,
    port: int,
) -> dict[str, str]:
    """The environment the monolith's processes run with: `base` plus its SNAPPY_* settings."""
    environment = dict(base)
    # An inline key would win over the key file this stack generated.
    environment.pop("SNAPPY_JWT_PRIVATE_KEY", None)
    environment.update(
        {
            "SNAPPY_DATABASE_URL": database_url,
            "SNAPPY_S3_BUCKET": MONOLITH_BUCKET,
            "SNAPPY_S3_ENDPOINT_URL": services.s3.endpoint_url,
            "SNAPPY_S3_REGION": services.s3.region,
            "SNAPPY_S3_ACCESS_KEY_ID": services.s3.access_key_id,
            "SNAPPY_S3_SECRET_ACCESS_KEY": services.s3.secret_access_key,
            "SNAPPY_SECRET_KEY": stack_secrets.session_secret,
            "SNAPPY_JWT_PRIVATE_KEY_FILE": str(stack_secrets.jwt_private_key_path),
            "SNAPPY_BIND": f"{LOOPBACK}:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return environment


def run_monolith_migrations(environment: Mapping[str, str], log_path: Path) -> None:
    """Run `python -m snappy_monolith migrate`; its output goes to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "snappy_monolith", "migrate"],
                env=dict(environment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=_MIGRATION_TIMEOUT_SECONDS,
                start_new_session=True,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise StackError(f"database migration failed: {one_line(error)}") from error
    if completed.returncode != 0:
        last = log_tail(log_path, 1) or "no output"
        raise StackError(
            f"database migration failed with status {completed.returncode}: {last.strip()} (log: {log_path})"
        )


@contextmanager
def running_monolith(environment: Mapping[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run the monolith under gunicorn while the context lasts; stop it gracefully after."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    arguments = [
        str(_gunicorn_executable()),
        "-c",
        "python:snappy_monolith.gunicorn_conf",
        "snappy_monolith.wsgi:app",
    ]
    with log_path.open("ab") as log:
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed argv built here
                arguments,
                env=dict(environment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C reaches only `snappy`, which then stops it in order.
                start_new_session=True,
            )
        except OSError as error:
            raise StackError(f"cannot start gunicorn: {one_line(error)}") from error
    try:
        yield process
    finally:
        stop_process(process, grace_seconds=_GUNICORN_STOP_GRACE_SECONDS, whole_group=True)


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], *, timeout_seconds: float) -> bool:
    """Poll GET /readyz until it answers 200 (True), the process exits or time runs out."""

    def ready() -> bool:
        try:
            return httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return wait_until(ready, timeout=timeout_seconds, interval=0.25, abort=lambda: process.poll() is not None)


def _scripts_dir() -> Path:
    # The interpreter running `snappy` is the project's virtualenv; its tools sit beside it.
    return Path(sys.executable).parent


def _gunicorn_executable() -> Path:
    return _scripts_dir() / "gunicorn"


def _create_private_file(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _check_signing_key(path: Path) -> None:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise StackError(
            f"cannot read the JWT signing key {path}: {one_line(error)}; delete it to generate one"
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise StackError(f"{path} is not an Ed25519 private key; delete it to generate one")
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
