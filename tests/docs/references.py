"""What the repository's Markdown documents point at: relative links, and `snappy` commands.

A link must reach a file or folder of the repository, and a `#anchor` into a Markdown
document must name one of its headings as GitHub slugs them. A `snappy` command written in
a code block or an inline code span must be one the command accepts: its command, its
action and each option, as the argparse parsers of `snappy_devstack.cli` define them (and,
for `snappy migrate` and `snappy-migrate`, the data migration tool's parser); `setup` and
`test` belong to the `./snappy` script, and the test paths given to `test` must exist.

Documents also name commands in synopsis form (`[--port N]`, `plan|backfill`, `...`): a
placeholder (a word whose letters are all capitals, or holding `$`, `<`, `...` or `…`) stands
for any value, a bracketed group of plain words (`[store options]`) for any words, and
`a|b` for each of a and b. Everything else is checked as argparse would read it, except that
an option must be spelled whole (argparse would accept a prefix).
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias
from urllib.parse import unquote

from snappy_devstack import cli as devstack_cli
from snappy_migration import cli as migration_cli

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

# How a document may call the `snappy` command, and the data migration tool on its own.
SNAPPY_PROGRAMS = frozenset({"snappy", "./snappy", ".venv/bin/snappy"})
MIGRATE_PROGRAM = "snappy-migrate"
# Commands of the `./snappy` shell script itself, which never reach the argparse parser.
SCRIPT_SETUP = "setup"
SCRIPT_TEST = "test"
SCRIPT_HELP = "help"
# The pytest options whose next word is their value, not a test path.
_PYTEST_OPTIONS_WITH_VALUE = frozenset(
    {"-k", "-m", "-p", "-o", "-c", "-W", "--durations", "--maxfail", "--tb", "--deselect", "--rootdir"}
)
# Folders never walked for documents when git cannot list them.
_UNWALKED_FOLDERS = frozenset({".git", ".venv", ".snappy", "node_modules", "artifacts", "__pycache__"})

_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_BACKTICKS = re.compile(r"(?<!\\)`+")
# Inside a code span a backslash is literal, so any run may close it.
_RUNS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_INLINE_LINK = re.compile(r"\]\(\s*(?P<target><[^>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(?P<target><[^>\n]*>|\S+)", re.MULTILINE)
_HTML_REFERENCE = re.compile(r"""\b(?:href|src)\s*=\s*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)')""")
_HTML_ANCHOR = re.compile(r"""<[a-z][^>]*\b(?:id|name)\s*=\s*["'](?P<anchor>[^"']+)["']""", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
# A line that cannot be the text of a setext heading: a list item, a quote, a table row, a
# heading or a thematic break (`text` then `---` is a heading; `- item` then `---` is not).
_NOT_SETEXT_TEXT = re.compile(r"^\s*(?:[-*+][ \t]|\d+[.)][ \t]|[>#|]|(?:[-*_][ \t]*){3,}$)")
_MARKDOWN_LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"<[^>]+>")
# Emphasis written with underscores; an underscore inside a word (snake_case) stays.
_UNDERSCORE_EMPHASIS = re.compile(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])")
# GitHub's slugger keeps letters, marks, numbers, connector punctuation, spaces and hyphens.
_NOT_IN_SLUG = re.compile(r"[^\w\- ]")
_COMMENT = re.compile(r"(?:^|\s)#.*$")
_ENVIRONMENT_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "(", ")", "{", "}", "!", "then", "do", "else"})
_REDIRECTION = re.compile(r"^(?:\d|&)?(?:>>?|<)(?:&?\d)?$")
_ATTACHED_REDIRECTION = re.compile(r"^(?:\d|&)?(?:>>?|<)\S+$")

_Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


@dataclass(frozen=True)
class Finding:
    """Something a document says that is not so."""

    document: str
    line: int
    # The link's target, or the command as written (program and words).
    subject: str
    problem: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.problem}"


@dataclass(frozen=True)
class Link:
    """A relative link (inline, reference-style, or an HTML href/src) as written."""

    document: str
    line: int
    target: str


@dataclass(frozen=True)
class CommandMention:
    """A `snappy` (or `snappy-migrate`) command written in a code block or an inline code span."""

    document: str
    line: int
    program: str
    # The words after the program, as the shell would split them; comments and redirections gone.
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join((self.program, *self.words))


@dataclass
class Scan:
    """What the documents reference, and what of it is wrong."""

    documents: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    commands: list[CommandMention] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class CommandLine:
    """The grammar of the `snappy` command: its argparse parser, and the commands that delegate."""

    snappy: argparse.ArgumentParser
    # Commands whose arguments another parser reads (`snappy migrate`: the data migration tool's).
    delegated: Mapping[str, argparse.ArgumentParser]
    # The data migration tool run on its own, as `snappy-migrate` (its image's entrypoint).
    snappy_migrate: argparse.ArgumentParser


def snappy_command_line() -> CommandLine:
    """The real parsers of `snappy` and of the data migration tool."""
    # snappy_devstack.cli hands every word after `migrate` to the tool's parser (its own
    # `migrate` entry takes no arguments and no --help), so the tool's parser is the grammar.
    migrate_parser = migration_cli._parser("snappy migrate", None)
    return CommandLine(
        snappy=devstack_cli._parser(),
        delegated={"migrate": migrate_parser},
        snappy_migrate=migration_cli._parser(MIGRATE_PROGRAM, None),
    )


def markdown_files(root: Path) -> list[str]:
    """Every Markdown file git tracks under `root` (every one found, where git cannot say)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.md"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return _walked_markdown_files(root)
    # A tracked document being deleted in the working tree is not there to read.
    return sorted(path for path in listed.split("\0") if path and (root / path).is_file())


def _walked_markdown_files(root: Path) -> list[str]:
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in _UNWALKED_FOLDERS]
        for name in files:
            if name.endswith(".md"):
                found.append(Path(folder, name).relative_to(root).as_posix())
    return sorted(found)


def scan(root: Path, documents: Iterable[str], command_line: CommandLine) -> Scan:
    """Check every link and `snappy` command of `documents` (paths relative to `root`)."""
    result = Scan()
    anchors = _AnchorIndex()
    for document in documents:
        text = (root / document).read_text(encoding="utf-8")
        markdown = _Markdown(text)
        result.documents.append(document)
        for link in markdown.links(document):
            result.links.append(link)
            problem = _link_problem(root, link, anchors)
            if problem is not None:
                result.findings.append(Finding(document, link.line, link.target, problem))
        for mention in markdown.commands(document):
            result.commands.append(mention)
            result.findings.extend(
                Finding(document, mention.line, mention.text, f"`{mention.text}`: {problem}")
                for problem in command_problems(mention, command_line, root)
            )
    return result


# --- Markdown -------------------------------------------------------------------------------


class _Markdown:
    """One document, split into what is code and what is prose; offsets stay the original's."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [match.end() for match in re.finditer(r"\n", text)]
        self.code_blocks, self.prose = _split_fenced_code(text)
        self.code_spans = _code_spans(self.prose)
        # The prose with its code spans blanked: where links are looked for.
        masked = list(self.prose)
        for start, end, _ in self.code_spans:
            masked[start:end] = [" " if character != "\n" else "\n" for character in self.prose[start:end]]
        self.masked = "".join(masked)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def links(self, document: str) -> Iterator[Link]:
        found: list[tuple[int, str]] = []
        for match in _INLINE_LINK.finditer(self.masked):
            found.append((match.start("target"), match.group("target")))
        for match in _REFERENCE_DEFINITION.finditer(self.masked):
            found.append((match.start("target"), match.group("target")))
        for match in _HTML_REFERENCE.finditer(self.masked):
            target = match.group("double") if match.group("double") is not None else match.group("single")
            found.append((match.start(), target))
        for offset, written in sorted(found):
            target = written.strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            if _SCHEME.match(target) or target.startswith("//"):
                continue  # http(s), mailto and every other absolute URL are not the repository's
            yield Link(document, self.line_of(offset), target)

    def commands(self, document: str) -> list[CommandMention]:
        """The `snappy` commands of the code blocks and inline code spans, in the document's order."""
        found: list[CommandMention] = []
        for first_line, lines in self.code_blocks:
            for line_number, command in _logical_lines(first_line, lines):
                found.extend(
                    CommandMention(document, line_number, program, words)
                    for program, words in command_words(command)
                )
        for start, _, content in self.code_spans:
            found.extend(
                CommandMention(document, self.line_of(start), program, words)
                for program, words in command_words(content)
            )
        return sorted(found, key=lambda mention: mention.line)

    def anchors(self) -> set[str]:
        """The anchors GitHub gives the headings (and the HTML ids and names) of this document."""
        anchors: set[str] = set()
        occurrences: dict[str, int] = {}
        lines = self.prose.split("\n")
        for index, line in enumerate(lines):
            heading = _ATX_HEADING.match(line)
            if heading is not None:
                anchors.add(_unique(github_slug(heading.group("text") or ""), occurrences))
            elif _is_setext_underline(lines, index):
                anchors.add(_unique(github_slug(lines[index - 1]), occurrences))
        anchors.update(match.group("anchor") for match in _HTML_ANCHOR.finditer(self.masked))
        return anchors


def _split_fenced_code(text: str) -> tuple[list[tuple[int, list[str]]], str]:
    """The fenced code blocks (first content line's number, lines) and the text with them blanked."""
    blocks: list[tuple[int, list[str]]] = []
    prose: list[str] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or (opening.group("fence")[0] == "`" and "`" in opening.group("info")):
            prose.append(lines[index])
            index += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        blocks.append((index + 2, lines[index + 1 : end]))
        # An unclosed fence runs to the end of the document, as CommonMark reads it.
        last = min(end, len(lines) - 1)
        prose.extend(" " * len(line) for line in lines[index : last + 1])
        index = last + 1
    return blocks, "\n".join(prose)


def _code_spans(prose: str) -> list[tuple[int, int, str]]:
    """Each inline code span: its start and end offsets, and its content as CommonMark reads it."""
    spans: list[tuple[int, int, str]] = []
    position = 0
    while True:
        opening = _BACKTICKS.search(prose, position)
        if opening is None:
            return spans
        # A span closes with a run of as many backticks, within the same paragraph.
        paragraph_end = _BLANK_LINE.search(prose, opening.end())
        limit = paragraph_end.start() if paragraph_end is not None else len(prose)
        closing = next(
            (run for run in _RUNS.finditer(prose, opening.end(), limit) if run.group() == opening.group()),
            None,
        )
        if closing is None:
            position = opening.end()  # literal backticks
            continue
        content = prose[opening.end() : closing.start()].replace("\n", " ")
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]
        spans.append((opening.start(), closing.end(), content))
        position = closing.end()


def _logical_lines(first_line: int, lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """A code block's commands, a line ending in a backslash joined with the next."""
    pending: list[str] = []
    start = first_line
    for offset, line in enumerate(lines):
        if not pending:
            start = first_line + offset
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        yield start, " ".join(pending)
        pending = []
    if pending:
        yield start, " ".join(pending)


def _is_setext_underline(lines: Sequence[str], index: int) -> bool:
    if index == 0 or not _SETEXT_UNDERLINE.match(lines[index]):
        return False
    above = lines[index - 1]
    return bool(above.strip()) and not _NOT_SETEXT_TEXT.match(above) and not _SETEXT_UNDERLINE.match(above)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lowercased, punctuation gone, spaces hyphens."""
    text = _MARKDOWN_LINK.sub(lambda match: match.group("text"), heading)
    text = _HTML_TAG.sub("", text)
    # Underscores of emphasis go; those inside code spans are text.
    pieces = re.split(r"(`+[^`]*`+)", text)
    text = "".join(
        piece if piece.startswith("`") else _UNDERSCORE_EMPHASIS.sub("", piece) for piece in pieces
    )
    return _NOT_IN_SLUG.sub("", text.strip().lower()).replace(" ", "-")


def _unique(slug: str, occurrences: dict[str, int]) -> str:
    """The slug, suffixed -1, -2, ... after its first use, as GitHub's slugger does."""
    unique = slug
    while unique in occurrences:
        occurrences[slug] += 1
        unique = f"{slug}-{occurrences[slug]}"
    occurrences[unique] = 0
    return unique


class _AnchorIndex:
    """The anchors of each Markdown document a link points into, each read once."""

    def __init__(self) -> None:
        self._anchors: dict[Path, set[str]] = {}

    def of(self, path: Path) -> set[str]:
        if path not in self._anchors:
            self._anchors[path] = _Markdown(path.read_text(encoding="utf-8")).anchors()
        return self._anchors[path]


def _link_problem(root: Path, link: Link, anchors: _AnchorIndex) -> str | None:
    written_path, _, anchor = link.target.partition("#")
    relative = unquote(written_path)
    document = root / link.document
    if relative.startswith("/"):
        target = Path(os.path.normpath(root / relative.lstrip("/")))  # GitHub: the repository's root
    elif relative:
        target = Path(os.path.normpath(document.parent / relative))
    else:
        target = document
    if not target.is_relative_to(root) or not target.exists():
        return (
            f"link to {link.target}: no such file or folder {Path(os.path.relpath(target, root)).as_posix()}"
        )
    if anchor and target.is_file() and target.suffix == ".md" and unquote(anchor) not in anchors.of(target):
        return f"link to {link.target}: no heading of {target.relative_to(root).as_posix()} has that anchor"
    return None


# --- Commands -------------------------------------------------------------------------------


def command_words(command: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each `snappy` or `snappy-migrate` call in a shell command line: its program and words."""
    command = _COMMENT.sub("", command.strip().removeprefix("$ "))
    try:
        lexer = shlex.shlex(command, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: prose, more likely than a command
        tokens = command.split()
    for segment in _segments(tokens):
        # Variables set for the command alone come before it.
        start = 0
        while start < len(segment) and _ENVIRONMENT_ASSIGNMENT.match(segment[start]):
            start += 1
        program, *words = segment[start:] or [""]
        if program in SNAPPY_PROGRAMS or program == MIGRATE_PROGRAM:
            yield program, tuple(words)


def _segments(tokens: Sequence[str]) -> Iterator[list[str]]:
    """The simple commands of a command line: split at pipes, lists and subshells, no redirections."""
    segment: list[str] = []
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
        elif token in _SHELL_SEPARATORS:
            yield segment
            segment = []
        elif _REDIRECTION.match(token):
            skip_next = True  # its file is the next word
        elif _ATTACHED_REDIRECTION.match(token):
            pass
        elif token.endswith(";"):
            segment.append(token[:-1])
            yield segment
            segment = []
        else:
            segment.append(token)
    yield segment


def command_problems(mention: CommandMention, command_line: CommandLine, root: Path) -> list[str]:
    """What of `mention` the command would refuse, or (`./snappy test`) cannot find."""
    if mention.program == MIGRATE_PROGRAM:
        return list(_ArgumentCheck(MIGRATE_PROGRAM, {}).problems(command_line.snappy_migrate, mention.words))
    if not mention.words:
        return []
    command, *rest = mention.words
    if command == SCRIPT_TEST:
        return list(_missing_test_paths(rest, root))
    if command == SCRIPT_SETUP:
        return [
            f"`./snappy setup` takes no argument, not {word!r}"
            for word in _plain_words(rest, keep_options=True)
        ]
    if command == SCRIPT_HELP:
        return []
    check = _ArgumentCheck(
        "snappy", {("snappy", name): parser for name, parser in command_line.delegated.items()}
    )
    return list(check.problems(command_line.snappy, mention.words))


def _missing_test_paths(words: Sequence[str], root: Path) -> Iterator[str]:
    """The test paths given to `./snappy test` (pytest's own options unchecked) that do not exist."""
    value_of_option = False
    for word in _plain_words(words, keep_options=True):
        if value_of_option:
            value_of_option = False
        elif word.startswith("-"):
            value_of_option = word in _PYTEST_OPTIONS_WITH_VALUE
        elif not (root / word.split("::")[0]).exists():
            yield f"no test path {word.split('::')[0]}"


def _plain_words(words: Sequence[str], *, keep_options: bool = False) -> Iterator[str]:
    """`words` less placeholders and bracketed groups of placeholder words (`[store options]`)."""
    in_group = False
    for written in words:
        if in_group:
            in_group = not written.endswith("]")
            continue
        if written.startswith("[") and not written.startswith("[-"):
            in_group = not written.endswith("]")
            continue
        word = written.strip("[]")
        if is_placeholder(word) or (word.startswith("-") and not keep_options):
            continue
        yield word


def is_placeholder(word: str) -> bool:
    """Whether `word` stands for a value (`N`, `URL`, `NAME...`, `$TAG`, `<commit>`, `…`)."""
    if not word or any(mark in word for mark in ("$", "<", "...", "…")):
        return True
    letters = [character for character in word if character.isalpha()]
    return bool(letters) and all(character.isupper() for character in letters)


class _ArgumentCheck:
    """Reads words as argparse would, collecting what it would refuse instead of exiting."""

    def __init__(self, program: str, delegated: Mapping[tuple[str, ...], argparse.ArgumentParser]) -> None:
        self._program = program
        # By the command path that leads to them, e.g. ("snappy", "migrate").
        self._delegated = delegated

    def problems(self, parser: argparse.ArgumentParser, words: Sequence[str]) -> Iterator[str]:
        yield from self._read(parser, (self._program,), list(words))

    def _read(
        self, parser: argparse.ArgumentParser, path: tuple[str, ...], words: list[str]
    ) -> Iterator[str]:
        name = " ".join(path)
        actions = _subcommands(parser)
        positionals = [
            action for action in parser._actions if not action.option_strings and action is not actions
        ]
        while words:
            written = words.pop(0)
            word = written.strip("[]")
            if written.startswith("[") and not written.startswith("[-"):
                _drop_group(written, words)
            elif word.startswith("-") and word != "-":
                yield from self._option(parser, name, word, words)
            elif is_placeholder(word):
                if actions is not None:
                    return  # an action named by a placeholder: what follows is its, unknown
            elif actions is not None:
                yield from self._subcommand(actions, path, word, words)
                return
            elif positionals:
                yield from _value_problems(positionals[0], word, name)
                if positionals[0].nargs not in ("*", "+", argparse.REMAINDER):
                    positionals.pop(0)
            else:
                yield f"`{name}` takes no argument {word!r}"

    def _subcommand(
        self, actions: _Subparsers, path: tuple[str, ...], word: str, words: list[str]
    ) -> Iterator[str]:
        kind = "command" if len(path) == 1 else "action"
        for alternative in word.split("|"):  # a synopsis's `plan|backfill|...`: each must exist
            chosen = actions.choices.get(alternative)
            if chosen is None:
                known = ", ".join(sorted(actions.choices))
                yield f"`{' '.join(path)}` has no {kind} {alternative!r} (it has: {known})"
                continue
            subpath = (*path, alternative)
            yield from self._read(self._delegated.get(subpath, chosen), subpath, list(words))

    def _option(
        self, parser: argparse.ArgumentParser, name: str, word: str, words: list[str]
    ) -> Iterator[str]:
        option, equals, inline_value = word.partition("=")
        action = parser._option_string_actions.get(option)
        if action is None:
            known = ", ".join(sorted(parser._option_string_actions))
            yield f"`{name}` has no option {option} (it has: {known})"
            if words and not words[0].lstrip("[").startswith("-"):
                words.pop(0)  # most likely the unknown option's value
            return
        if equals:
            yield from _value_problems(action, inline_value, name)
            return
        for value in _take_values(action, words):
            yield from _value_problems(action, value, name)


def _subcommands(parser: argparse.ArgumentParser) -> _Subparsers | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _drop_group(opening: str, words: list[str]) -> None:
    """Drop the rest of a bracketed group of placeholder words (`[store options]`)."""
    closed = opening.endswith("]")
    while words and not closed:
        closed = words.pop(0).endswith("]")


def _take_values(action: argparse.Action, words: list[str]) -> list[str]:
    """The words an option consumes, as its nargs says."""
    nargs = action.nargs
    if nargs is None:
        nargs = 1
    if isinstance(nargs, int):
        taken = [words.pop(0) for _ in range(min(nargs, len(words)))]
    elif nargs == "?":
        taken = [words.pop(0)] if words and not words[0].lstrip("[").startswith("-") else []
    else:  # "*", "+", REMAINDER: up to the next option
        taken = []
        while words and not words[0].lstrip("[").startswith("-"):
            taken.append(words.pop(0))
    return [value.strip("[]") for value in taken]


def _value_problems(action: argparse.Action, value: str, name: str) -> Iterator[str]:
    """Whether argparse would take `value` for `action`: its type converts it, its choices hold it."""
    if is_placeholder(value):
        return
    label = "/".join(action.option_strings) or str(action.metavar or action.dest)
    for alternative in value.split("|"):  # a synopsis's `monolith|microservices|both`
        converted: object = alternative
        convert = action.type
        if callable(convert):
            try:
                converted = convert(alternative)
            except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
                yield f"`{name}` {label} refuses {alternative!r}: {error}"
                continue
        if action.choices is not None and converted not in action.choices:
            choices = ", ".join(map(str, action.choices))
            yield f"`{name}` {label} takes one of {choices}, not {alternative!r}"
