"""The documents tell the truth about links and commands: every relative link and `#anchor`
reaches something, and every `snappy` command they show is one the command accepts.

The scanner (`tests.docs.references`) is tested first on small documents, each holding one
mistake it must catch, so that the check of the repository cannot pass by finding nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.references import (
    REPOSITORY_ROOT,
    CommandLine,
    Finding,
    Scan,
    command_words,
    github_slug,
    markdown_files,
    scan,
    snappy_command_line,
)


@pytest.fixture(scope="module")
def command_line() -> CommandLine:
    return snappy_command_line()


@pytest.fixture(scope="module")
def repository_scan(command_line: CommandLine) -> Scan:
    return scan(REPOSITORY_ROOT, markdown_files(REPOSITORY_ROOT), command_line)


def scan_text(root: Path, command_line: CommandLine, text: str, name: str = "doc.md") -> Scan:
    """Scan one document written into `root`."""
    document = root / name
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_text(text, encoding="utf-8")
    return scan(root, [name], command_line)


def problems(result: Scan) -> list[str]:
    return [finding.problem for finding in result.findings]


# --- links ----------------------------------------------------------------------------------


def test_a_link_to_a_missing_file_is_named_with_its_line(tmp_path: Path, command_line: CommandLine) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("# Here\n", encoding="utf-8")
    result = scan_text(
        tmp_path,
        command_line,
        "# Title\n\nSee [here](docs/here.md) and\n[gone](docs/gone.md).\n",
    )
    assert result.findings == [
        Finding("doc.md", 4, "docs/gone.md", "link to docs/gone.md: no such file or folder docs/gone.md")
    ]
    assert [link.target for link in result.links] == ["docs/here.md", "docs/gone.md"]


def test_reference_style_and_html_links_are_checked(tmp_path: Path, command_line: CommandLine) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"png")
    result = scan_text(
        tmp_path,
        command_line,
        "Text [a][ref] and [b][gone].\n\n"
        '<img src="figures/a.png"> <a href="figures/b.png">b</a>\n\n'
        "[ref]: figures/a.png\n"
        "[gone]: figures/missing.png\n",
    )
    assert sorted((finding.line, finding.subject) for finding in result.findings) == [
        (3, "figures/b.png"),
        (6, "figures/missing.png"),
    ]


def test_links_to_folders_to_parents_and_out_of_the_repository(
    tmp_path: Path, command_line: CommandLine
) -> None:
    (tmp_path / "deploy" / "k8s").mkdir(parents=True)
    result = scan_text(
        tmp_path,
        command_line,
        "[k8s](../deploy/k8s/) [root](../) [up](../../outside.md)\n",
        name="docs/doc.md",
    )
    assert [finding.subject for finding in result.findings] == ["../../outside.md"]


def test_an_anchor_must_name_a_heading_as_github_slugs_it(tmp_path: Path, command_line: CommandLine) -> None:
    (tmp_path / "other.md").write_text(
        "# Other\n\n## `snappy bench`: the same load\n\n## Notes\n\n## Notes\n\n"
        "```sh\n# not a heading\n```\n",
        encoding="utf-8",
    )
    result = scan_text(
        tmp_path,
        command_line,
        "# Top\n\n## Backing services\n\n"
        "[ok](#backing-services) [ok](other.md#snappy-bench-the-same-load)"
        " [ok](other.md#notes-1) [ok](other.md#other)\n"
        "[bad](#backing-service) [bad](other.md#notes-2) [bad](other.md#not-a-heading)\n",
    )
    assert [(finding.line, finding.subject) for finding in result.findings] == [
        (6, "#backing-service"),
        (6, "other.md#notes-2"),
        (6, "other.md#not-a-heading"),
    ]
    assert "no heading of other.md has that anchor" in result.findings[1].problem


def test_absolute_urls_and_links_inside_code_are_not_checked(
    tmp_path: Path, command_line: CommandLine
) -> None:
    result = scan_text(
        tmp_path,
        command_line,
        "[web](https://example.com/x.md) [mail](mailto:a@example.com) [plain](http://example.com)\n\n"
        "`[not](a-link.md)`\n\n```md\n[not](a-link-either.md)\n```\n",
    )
    assert result.links == []
    assert result.findings == []


def test_github_slugs() -> None:
    assert github_slug("`snappy bench`: the monolith and the microservices") == (
        "snappy-bench-the-monolith-and-the-microservices"
    )
    assert (
        github_slug("edge.py: what the edge costs (against direct)")
        == "edgepy-what-the-edge-costs-against-direct"
    )
    assert github_slug("Runbook: from nothing to DOKS, _fast_") == "runbook-from-nothing-to-doks-fast"
    assert github_slug("`snake_case` and [a link](x.md)") == "snake_case-and-a-link"


# --- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("snappy phase stat", "`snappy phase` has no action 'stat'"),
        ("./snappy cutover --too 2", "`snappy cutover` has no option --too"),
        ("snappy frobnicate --now", "`snappy` has no command 'frobnicate'"),
        ("./snappy cutover --to 7", "`snappy cutover` --to takes one of 0, 1, 2, 3, 4, not '7'"),
        ("./snappy up --port http", "`snappy up` --port refuses 'http'"),
        ("./snappy up --stack monolith|everything", "not 'everything'"),
        ("./snappy migrate verify --folow", "`snappy migrate verify` has no option --folow"),
        # The tool's store options come before its command, as argparse reads them.
        ("./snappy migrate verify --report r.json", "`snappy migrate verify` has no option --report"),
        ("snappy migrate plan|backfil", "`snappy migrate` has no action 'backfil'"),
        ("snappy-migrate run --chunk-row 5", "`snappy-migrate run` has no option --chunk-row"),
        ("./snappy deploy render --phase 2 extra", "`snappy deploy render` takes no argument 'extra'"),
        ("./snappy setup --fast", "`./snappy setup` takes no argument, not '--fast'"),
        ("./snappy test tests/nowhere -k upload", "no test path tests/nowhere"),
    ],
)
def test_a_wrong_command_is_caught(
    tmp_path: Path, command_line: CommandLine, command: str, expected: str
) -> None:
    result = scan_text(tmp_path, command_line, f"```sh\n{command}   # a comment\n```\n")
    assert len(result.commands) == 1
    assert len(result.findings) == 1, result.findings
    assert expected in result.findings[0].problem
    assert result.findings[0].line == 2


def test_right_commands_placeholders_and_synopses_pass(tmp_path: Path, command_line: CommandLine) -> None:
    (tmp_path / "tests" / "api").mkdir(parents=True)
    (tmp_path / "tests" / "api" / "test_x.py").write_text("", encoding="utf-8")
    result = scan_text(
        tmp_path,
        command_line,
        "Run `snappy phase set N`, `snappy cutover --to N-1`, `snappy up --stack strangler\n"
        "--phase N` or `snappy migrate plan|backfill|run [store options]`; `snappy phase` alone;\n"
        "`./snappy rehearse --port P ...`;\n"
        "`./snappy up [--stack monolith|microservices|both] [--port 8000] [--seed] [--state-dir DIR]`.\n\n"
        "```sh\n"
        "$ ./snappy shadow start --group photos --candidate monolith\n"
        'SNAPPY_IMAGE_TESTS=1 ./snappy test tests/api/test_x.py::test_one -k "a or b" --maxfail 1\n'
        './snappy deploy render --phase "$N" --registry … --tag <commit> > "phase-$N.yaml"\n'
        "./snappy images build --tag latest edge web-ui && .venv/bin/snappy migrate --report r.json verify\n"
        "./snappy up --stack both \\\n"
        "    --workers 2 --seed\n"
        "./snappy migrate sync --follow; ./snappy bench --concurrency 1,4,16 --duration 30\n"
        "snappy-migrate --source-bucket a run --skip-objects\n"
        "./snappy --help && ./snappy migrate --help && ./snappy setup\n"
        "kubectl -n snappy get pods   # snappy here is a namespace, no command\n"
        "```\n",
    )
    assert result.findings == []
    assert len(result.commands) == 19
    assert result.commands[0].words == ("phase", "set", "N")
    # A command continued over two lines is found at its first.
    assert [mention.line for mention in result.commands if "--workers" in mention.words] == [11]


def test_command_words_split_a_shell_line() -> None:
    assert list(command_words('A=1 ./snappy up --seed | tee log && echo "snappy x" # snappy y')) == [
        ("./snappy", ("up", "--seed"))
    ]
    assert list(command_words("echo snappy up")) == []


def test_without_git_the_documents_are_found_by_walking_the_tree(tmp_path: Path) -> None:
    for name in ("a.md", "sub/b.md", ".venv/lib/c.md", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# x\n", encoding="utf-8")
    assert markdown_files(tmp_path) == ["a.md", "sub/b.md"]


# --- the repository ---------------------------------------------------------------------------


def test_the_scan_reads_the_repository_s_documents(repository_scan: Scan) -> None:
    for document in ("README.md", "docs/decisions.md", "deploy/README.md", "benchmarks/README.md"):
        assert document in repository_scan.documents
    assert len(repository_scan.documents) > 10
    assert len(repository_scan.links) > 20
    assert len([mention for mention in repository_scan.commands if mention.words]) > 20


def test_every_link_and_command_of_the_documents_holds(repository_scan: Scan) -> None:
    assert not repository_scan.findings, "\n".join(map(str, repository_scan.findings))
