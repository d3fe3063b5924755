"""The migration guide runs as written: its marked blocks, in a fresh copy of the repository.

`docs/migration-guide.md` is the runbook teams follow; `tests.guide.runbook` says how its
blocks are marked. The local walk starts the stacks the guide starts (the monolith, then
the strangler at each phase) on embedded PostgreSQL and S3 in the copy's own `.snappy`, on
port 8000 as the guide says, and runs every step forward and every step's way back. The
DOKS step runs up to where a DigitalOcean account is needed; its image build runs where
CI builds the images (`SNAPPY_IMAGE_TESTS=1`, after `./snappy images build`).

A transcript of each walk (every block, its output and its duration) is written to
`artifacts/migration-guide/`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devstack.conftest import PROVIDER_VARIABLES
from tests.guide.runbook import (
    GO_BACK,
    Block,
    RunbookError,
    Step,
    Transcript,
    Walker,
    matches,
    read_steps,
    walk,
    walking,
)

REPOSITORY = Path(__file__).resolve().parents[2]
GUIDE = REPOSITORY / "docs" / "migration-guide.md"
ARTIFACTS = REPOSITORY / "artifacts" / "migration-guide"
PARTS = ("Why", "Do", "See", "Prove", GO_BACK)
GUIDE_PORT = 8000
# What a fresh clone holds besides tracked files is not copied: a reader's clone has none of it.
_NOT_COPIED = {".venv", ".snappy", ".git", "artifacts", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def guide_steps() -> list[Step]:
    return read_steps(GUIDE.read_text())


def local_steps() -> list[Step]:
    return [step for step in guide_steps() if "DOKS" not in step.title]


def doks_steps() -> list[Step]:
    return [step for step in guide_steps() if "DOKS" in step.title]


# --- the guide's shape --------------------------------------------------------------------


def test_every_step_has_its_five_parts_in_order() -> None:
    steps = guide_steps()
    assert [step.number for step in steps] == list(range(1, len(steps) + 1))
    for step in steps:
        assert step.parts == PARTS, f"{step.title}: parts {step.parts}, expected {PARTS}"


def test_the_local_steps_go_from_the_monolith_to_phase_4_and_every_step_can_be_undone() -> None:
    steps = local_steps()
    commands = " ".join(block.text for step in steps for block in step.blocks)
    for phase in range(1, 5):
        assert f"./snappy cutover --to {phase}" in commands
        assert f"./snappy cutover --to {phase - 1}" in commands
    assert "./snappy shadow start" in commands
    # Every step that changes what runs has a way back that runs; the others say why not.
    for step in steps:
        if any(block.kind in ("start", "stop") or "cutover" in block.text for block in step.blocks):
            assert any(block.goes_back for block in step.blocks), f"{step.title}: no runnable way back"
    assert doks_steps(), "the guide has no DOKS step"


def test_every_see_block_follows_something_that_prints() -> None:
    previous: Block | None = None
    for block in walk(guide_steps()):
        if block.kind == "see":
            assert previous is not None, f"{block.where()}: see after nothing"
            assert previous.kind in ("run", "start"), f"{block.where()}: see after {previous.kind}"
        previous = block


# --- the runbook's reader and matcher -----------------------------------------------------


_SAMPLE = """# Title

## Step 1: First

### Do

<!-- guide: run -->
```sh
echo one
```

<!-- guide: see -->
```text
one
```

### Go back

<!-- guide: run, exit 3 -->
```sh
exit 3
```

## Step 2: Second

### Do

<!-- guide: start -->
```sh
sleep 30
```

<!-- guide: stop -->

### Go back

<!-- guide: run -->
```sh
echo back from two
```

## Afterwards

<!-- not a marker -->
"""


def test_the_reader_finds_steps_parts_and_blocks() -> None:
    steps = read_steps(_SAMPLE)
    assert [(step.number, step.parts) for step in steps] == [(1, ("Do", GO_BACK)), (2, ("Do", GO_BACK))]
    first = steps[0].blocks
    assert [(block.kind, block.text, block.goes_back) for block in first] == [
        ("run", "echo one\n", False),
        ("see", "one\n", False),
        ("run", "exit 3\n", True),
    ]
    assert first[2].options == {"exit": "3"}
    assert first[0].line == 7


def test_a_walk_goes_forward_then_back_from_the_last_step() -> None:
    order = [block.text.strip() or block.kind for block in walk(read_steps(_SAMPLE))]
    assert order == ["echo one", "one", "sleep 30", "stop", "echo back from two", "exit 3"]


@pytest.mark.parametrize(
    ("markup", "complaint"),
    [
        ("## Step 1: x\n<!-- guide: jump -->\n```sh\necho\n```\n", "unknown guide marker"),
        ("## Step 1: x\n<!-- guide: run, retries 3 -->\n```sh\necho\n```\n", "unknown guide option"),
        ("## Step 1: x\n<!-- guide: run -->\nprose\n", "must be followed by a fenced block"),
        ("## Step 1: x\n<!-- guide: run -->\n```sh\necho\n", "is not closed"),
        ("<!-- guide: run -->\n```sh\necho\n```\n", "outside any"),
    ],
)
def test_bad_markup_is_refused_with_its_line(markup: str, complaint: str) -> None:
    with pytest.raises(RunbookError, match=complaint):
        read_steps(markup)


def test_a_see_block_matches_lines_in_order_with_ellipses_for_what_varies() -> None:
    output = "Starting...\nSnappy is up at http://127.0.0.1:8000\n  routing: users   -> monolith at http://x:41\ndone\n"
    assert (
        matches("Snappy is up at http://127.0.0.1:8000\n  routing: users -> monolith at ...\n", output)
        is None
    )
    assert matches("... -> monolith ...\ndone", output) is None
    # Out of order, a changed word, or a partial line without `...` is a failure, named.
    assert (
        matches("done\nSnappy is up at http://127.0.0.1:8000", output)
        == "Snappy is up at http://127.0.0.1:8000"
    )
    assert matches("routing: users -> user-service at ...", output) == "routing: users -> user-service at ..."
    assert matches("Snappy is up", output) == "Snappy is up"


# --- the walks ----------------------------------------------------------------------------


@pytest.fixture
def fresh_clone() -> Iterator[Path]:
    """The repository's files as a fresh clone has them, beside the installed `.venv`.

    Outside pytest's own temporary folder: as root, the embedded PostgreSQL runs as a user of
    its own, which must traverse the path to its data, and every pytest session makes
    `/tmp/pytest-of-root` private again when it starts.
    """
    parent = Path(tempfile.mkdtemp(prefix="snappy-guide-"))
    parent.chmod(0o755)
    try:
        yield _copy_repository(parent / "snappy")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _copy_repository(root: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPOSITORY,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if name.split("/", 1)[0] in _NOT_COPIED or not (REPOSITORY / name).is_file():
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / name, target)
    # `./snappy` finds its environment installed (the same requirements), as after a first run.
    (root / ".venv").symlink_to(REPOSITORY / ".venv")
    return root


@pytest.fixture
def guide_environment() -> dict[str, str]:
    """A reader's terminal: no settings of the test session's own servers; embedded servers."""
    environment = {name: value for name, value in os.environ.items() if name not in PROVIDER_VARIABLES}
    # No Docker engine here (CI's machine); a reader with one would get containers instead.
    environment["SNAPPY_DEV_PROVIDER"] = "embedded"
    return environment


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.live
def test_the_local_steps_run_as_written_forward_and_back(
    fresh_clone: Path, guide_environment: dict[str, str]
) -> None:
    assert _port_is_free(GUIDE_PORT), (
        f"the guide runs Snappy at port {GUIDE_PORT}, which something else holds"
    )
    blocks = walk(local_steps())
    assert sum(block.kind == "start" for block in blocks) >= 3
    transcript = Transcript(ARTIFACTS / "local.md")
    with walking(fresh_clone, guide_environment, transcript) as walker:
        _walk_or_fail(walker, blocks)
    assert not walker.skipped


@pytest.mark.live
def test_the_doks_step_runs_up_to_the_account(fresh_clone: Path, guide_environment: dict[str, str]) -> None:
    with_images = os.environ.get("SNAPPY_IMAGE_TESTS") == "1"
    blocks = walk(doks_steps())
    transcript = Transcript(ARTIFACTS / ("doks-with-images.md" if with_images else "doks.md"))
    with walking(fresh_clone, guide_environment, transcript, with_images=with_images) as walker:
        _walk_or_fail(walker, blocks)
    ran = [block for block in blocks if block not in walker.skipped]
    assert any("deploy render" in block.text for block in ran)
    # Without the image stage, the one block left out is the image build, and it is named.
    assert [block.text.strip() for block in walker.skipped] == (
        [] if with_images else ["./snappy images build"]
    )
    for rendered in ("side-by-side.yaml", "phase-1.yaml"):
        assert "kind: Deployment" in (fresh_clone / ".snappy" / "rendered" / rendered).read_text()


def _walk_or_fail(walker: Walker, blocks: list[Block]) -> None:
    failure: str | None = None
    try:
        walker.run(blocks)
    except RunbookError as error:
        failure = f"{error}\n(transcript: {walker.transcript.path})"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
