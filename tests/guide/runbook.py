"""The migration guide as a runbook: its marked blocks read from the Markdown, run as written.

`docs/migration-guide.md` marks the blocks a machine may run with an HTML comment on the
line before the fence, which GitHub does not show:

- `<!-- guide: run -->`: a shell block, run with `bash -e` from the repository root; it must
  exit 0 (`<!-- guide: run, exit N -->` expects status N).
- `<!-- guide: start -->`: one command that runs until Ctrl-C (`./snappy up ...`), started in
  the background; it counts as started once the `see` block after it matches its output.
- `<!-- guide: see -->`: what the last `run` or `start` block prints (see `matches`).
- `<!-- guide: stop -->` (no block): Ctrl-C in the terminal of the last `start`.
- `<!-- guide: run, images -->`: a block that builds the container images; run only by a
  walk that is asked to (CI's image stage).
- `<!-- guide: tests -->`: `./snappy test PATH...` commands. CI's test stage runs the whole
  suite, so a walk checks that each path still holds test files instead of running them twice.

Steps are the `## Step N: ...` sections; the blocks under a step's `### Go back` heading
undo it. A walk runs every step's other blocks in order, then the go-back blocks of the
steps in reverse order (last step first; within a step, in order): the way back from the
end of the guide to where it started.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

KINDS: Final = ("run", "start", "see", "stop", "tests")
_MARKER = re.compile(r"^<!-- guide: (?P<kind>[a-z]+)(?:, (?P<options>[^>]*?))? -->\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_STEP = re.compile(r"^## (?P<title>Step (?P<number>\d+)\b.*)$")
_PART = re.compile(r"^### (?P<title>.+?)\s*$")
GO_BACK: Final = "Go back"
# `images`: the block builds container images, which takes minutes and buildah or Docker;
# a walk runs it only when asked to (CI's image stage), and reports it skipped otherwise.
_FLAGS: Final = ("images",)
# A line of a `see` block: `...` stands for any text; whitespace runs compare as one space.
_ANY_TEXT: Final = "..."


class RunbookError(Exception):
    """The guide's markup is wrong, or a step did not do what the guide says."""


@dataclass(frozen=True)
class Block:
    """One marked block: its kind, its text, where it is and which part of which step holds it."""

    kind: str
    text: str
    line: int
    step: str
    part: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def goes_back(self) -> bool:
        return self.part == GO_BACK

    def where(self) -> str:
        return f"line {self.line} ({self.step}, {self.part})"


@dataclass(frozen=True)
class Step:
    """A `## Step N` section: its title, the `###` parts it has, and its marked blocks."""

    number: int
    title: str
    parts: tuple[str, ...]
    blocks: tuple[Block, ...]


def read_steps(text: str) -> list[Step]:
    """Every `## Step N` section of a guide, with its parts and marked blocks, in order."""
    steps: list[Step] = []
    lines = text.splitlines()
    number, title, part = -1, "", ""
    parts: list[str] = []
    blocks: list[Block] = []

    def close() -> None:
        if number >= 0:
            steps.append(Step(number, title, tuple(parts), tuple(blocks)))

    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _STEP.match(line)
        if heading or (line.startswith("## ") and number >= 0):
            close()
            number, title, part, parts, blocks = -1, "", "", [], []
            if heading:
                number, title = int(heading["number"]), heading["title"]
            index += 1
            continue
        sub = _PART.match(line)
        if sub and number >= 0:
            part = sub["title"]
            parts.append(part)
        marker = _MARKER.match(line)
        if marker:
            if number < 0:
                raise RunbookError(f"line {index + 1}: a guide marker outside any `## Step N` section")
            kind = marker["kind"]
            if kind not in KINDS:
                raise RunbookError(
                    f"line {index + 1}: unknown guide marker {kind!r}; known: {', '.join(KINDS)}"
                )
            marker_line = index + 1
            options = _options(marker["options"] or "", marker_line)
            body, index = ("", index + 1) if kind == "stop" else _fenced_block(lines, index + 1)
            blocks.append(Block(kind, body, marker_line, title, part, options))
            continue
        index += 1
    close()
    return steps


def _options(text: str, line: int) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition(" ")
        if name in _FLAGS and not value:
            options[name] = "yes"
            continue
        if name not in ("exit", "timeout"):
            raise RunbookError(
                f"line {line}: unknown guide option {item!r};"
                f" known: exit N, timeout SECONDS, {', '.join(_FLAGS)}"
            )
        if not value.strip().isdigit():
            raise RunbookError(f"line {line}: guide option {name!r} needs a number, got {value!r}")
        options[name] = value.strip()
    return options


def _fenced_block(lines: list[str], start: int) -> tuple[str, int]:
    """The fenced block opening at `start` (blank lines before it allowed): its body, the index after it."""
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    opening = _FENCE.match(lines[index]) if index < len(lines) else None
    if opening is None:
        raise RunbookError(f"line {start}: a guide marker must be followed by a fenced block")
    fence = opening["fence"]
    body: list[str] = []
    index += 1
    while index < len(lines) and not lines[index].startswith(fence):
        body.append(lines[index])
        index += 1
    if index == len(lines):
        raise RunbookError(f"line {start}: the fenced block after this marker is not closed")
    return "\n".join(body) + "\n", index + 1


def walk(steps: list[Step]) -> list[Block]:
    """The order a walk runs the blocks in: forward through every step, then back (see the module)."""
    forward = [block for step in steps for block in step.blocks if not block.goes_back]
    backward = [block for step in reversed(steps) for block in step.blocks if block.goes_back]
    return forward + backward


def matches(expected: str, output: str) -> str | None:
    """None when `output` shows every line of `expected`, in order; else the first line it lacks.

    Each expected line must equal a later output line, whitespace runs compared as one
    space, where `...` stands for any text (a port, a duration, a count). Output lines
    between them are allowed: a `see` block shows what matters, not every line.
    """
    remaining = [_squeezed(line) for line in output.splitlines()]
    for wanted in filter(None, (_squeezed(line) for line in expected.splitlines())):
        pattern = re.compile(".*?".join(re.escape(piece) for piece in wanted.split(_ANY_TEXT)))
        for position, line in enumerate(remaining):
            if pattern.fullmatch(line):
                remaining = remaining[position + 1 :]
                break
        else:
            return wanted
    return None


def _squeezed(line: str) -> str:
    return " ".join(line.split())


@dataclass
class Transcript:
    """What a walk ran and what each block printed, kept for the reader of a failure."""

    path: Path
    entries: list[str] = field(default_factory=list)

    def add(self, block: Block, output: str, seconds: float) -> None:
        self.entries.append(
            f"## {block.where()}: {block.kind} ({seconds:.1f} s)\n{block.text.rstrip()}\n"
            f"--- output\n{output.rstrip()}\n"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(self.entries))


@dataclass
class _Background:
    block: Block
    process: subprocess.Popen[bytes]
    output_path: Path

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")


class Walker:
    """Runs a guide's blocks in a repository root, as a reader would type them in a terminal."""

    def __init__(
        self,
        root: Path,
        environment: Mapping[str, str],
        transcript: Transcript,
        *,
        default_timeout: float = 600.0,
        with_images: bool = False,
    ) -> None:
        self.with_images = with_images
        self.skipped: list[Block] = []
        self.root = root
        self.environment = dict(environment)
        self.transcript = transcript
        self.default_timeout = default_timeout
        self.background: list[_Background] = []
        self.last_output = ""
        self.started: _Background | None = None

    def run(self, blocks: list[Block]) -> None:
        for block in blocks:
            began = time.monotonic()
            if block.options.get("images") and not self.with_images:
                self.skipped.append(block)
                self.transcript.add(block, "(not run: this walk builds no images)", 0.0)
                continue
            if block.kind == "run":
                self.last_output = self._run(block)
                self.started = None
            elif block.kind == "tests":
                self.last_output = self._collect_tests(block)
                self.started = None
            elif block.kind == "start":
                self.started = self._start(block)
                self.last_output = ""
            elif block.kind == "see":
                self._see(block)
            elif block.kind == "stop":
                self._stop(block)
            shown = (
                self.started.output() if block.kind in ("start", "see") and self.started else self.last_output
            )
            self.transcript.add(block, shown, time.monotonic() - began)

    def _timeout(self, block: Block) -> float:
        return float(block.options.get("timeout", self.default_timeout))

    def _run(self, block: Block) -> str:
        try:
            finished = subprocess.run(
                ["bash", "-e", "-c", block.text],
                cwd=self.root,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=self._timeout(block),
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            output = (expired.output or b"").decode(errors="replace")
            raise RunbookError(
                f"{block.where()}: did not finish in {self._timeout(block):.0f} s:\n{_tail(output)}"
            ) from None
        output = finished.stdout.decode(errors="replace")
        wanted = int(block.options.get("exit", "0"))
        if finished.returncode != wanted:
            raise RunbookError(
                f"{block.where()}: exited with {finished.returncode}, the guide says {wanted}:\n"
                f"{block.text}\n--- output\n{_tail(output)}"
            )
        return output

    def _collect_tests(self, block: Block) -> str:
        """Each `./snappy test PATH...` names test files that exist; CI's test stage runs them."""
        outputs: list[str] = []
        for command in filter(None, (line.strip() for line in block.text.splitlines())):
            program, _, arguments = command.partition("./snappy test")
            if program or (arguments and not arguments.startswith(" ")):
                raise RunbookError(
                    f"{block.where()}: a `tests` block holds only `./snappy test ...` lines: {command}"
                )
            paths = [argument for argument in shlex.split(arguments) if not argument.startswith("-")]
            if not paths:
                raise RunbookError(f"{block.where()}: `{command}` names no test path")
            files = 0
            for path in paths:
                found = _test_files(self.root / path.split("::", 1)[0])
                if not found:
                    raise RunbookError(f"{block.where()}: `{command}`: {path} holds no test file")
                files += len(found)
            outputs.append(f"$ {command}  ({files} test files)")
        return "\n".join(outputs) + "\n"

    def _start(self, block: Block) -> _Background:
        log_dir = self.transcript.path.parent
        log_dir.mkdir(parents=True, exist_ok=True)
        output_path = log_dir / f"background-line-{block.line}-{len(self.background)}.log"
        with output_path.open("wb") as output:
            process = subprocess.Popen(
                ["bash", "-e", "-c", f"exec {block.text.strip()}"],
                cwd=self.root,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own process group, as a terminal's job: Ctrl-C reaches every process of it.
                start_new_session=True,
            )
        started = _Background(block, process, output_path)
        self.background.append(started)
        return started

    def _see(self, block: Block) -> None:
        if self.started is not None:
            self._wait_until_seen(self.started, block)
            return
        missing = matches(block.text, self.last_output)
        if missing is not None:
            raise RunbookError(
                f"{block.where()}: the output lacks the line\n  {missing}\n"
                f"--- output\n{_tail(self.last_output)}"
            )

    def _wait_until_seen(self, started: _Background, block: Block) -> None:
        deadline = time.monotonic() + self._timeout(started.block)
        while (missing := matches(block.text, started.output())) is not None:
            if started.process.poll() is not None:
                raise RunbookError(
                    f"{started.block.where()}: exited with {started.process.returncode} before printing\n"
                    f"  {missing}\n--- output\n{_tail(started.output())}"
                )
            if time.monotonic() > deadline:
                raise RunbookError(
                    f"{started.block.where()}: did not print\n  {missing}\nwithin"
                    f" {self._timeout(started.block):.0f} s\n--- output\n{_tail(started.output())}"
                )
            time.sleep(0.25)

    def _stop(self, block: Block) -> None:
        running = [started for started in self.background if started.process.poll() is None]
        if not running:
            raise RunbookError(f"{block.where()}: Ctrl-C, but nothing the guide started is running")
        latest = running[-1]
        status = _interrupt(latest.process, timeout=120)
        self.last_output = latest.output()
        self.started = None
        if status != 0:
            raise RunbookError(
                f"{block.where()}: after Ctrl-C, {latest.block.text.strip()} exited with {status}:\n"
                f"{_tail(self.last_output)}"
            )

    def close(self) -> None:
        """Ctrl-C whatever still runs (then SIGKILL what ignores it), as a reader closing terminals."""
        for started in reversed(self.background):
            if started.process.poll() is None:
                _interrupt(started.process, timeout=60)


def _test_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.name.startswith("test_") and path.suffix == ".py" else []
    return sorted(path.rglob("test_*.py")) if path.is_dir() else []


def _interrupt(process: subprocess.Popen[bytes], *, timeout: float) -> int:
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return process.wait()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return -signal.SIGKILL


@contextmanager
def walking(
    root: Path, environment: Mapping[str, str], transcript: Transcript, *, with_images: bool = False
) -> Iterator[Walker]:
    walker = Walker(root, environment, transcript, with_images=with_images)
    try:
        yield walker
    finally:
        walker.close()


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
