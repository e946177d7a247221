"""README.md and docs/*.md: every `vsr` command shown parses with the real CLI, and every relative link resolves.

How commands are checked. Each fenced ```bash block is split into shell commands (line continuations joined,
``#`` comments dropped, ``&&``/``||``/``;``/``|`` separating commands, ``VAR=value`` prefixes skipped). A command
is a vsr command when it starts with ``vsr`` or runs ``-m vsr`` (``python -m vsr``, ``torchrun ... -m vsr``); its
argv goes through the real click group with :class:`click.testing.CliRunner`, so the group's options, the
subcommand lookup, every option name, type, choice, range and parse-time callback (``--degradation`` specs,
``KEY=VALUE`` options) are the CLI's own. Only two things are replaced, for the length of one test:

- every command's callback (and the group's) is a stub that records the parsed parameters, so nothing heavy
  runs: no model, no video, no network;
- ``click.Path(exists=True)`` is switched to ``exists=False``, because docs name placeholder files
  (``clip.mp4``, ``MODEL.pt``, ``../shared/data/Set5``). In exchange, a path a command reads (an ``exists=True``
  option or a positional path argument) that points into one of the repository's own folders
  (``pipelines/...``, ``examples/...``) must exist, so a renamed recipe or sample fails here too.

So a renamed or removed subcommand or option, a changed choice, or a placeholder such as ``[--half]`` or ``...``
left in a command fails CI. What the command bodies check at run time (e.g. ``--html`` without ``-o``) is not
covered. ```python blocks must compile and use only names that ``vsr.__all__`` exports.
"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from vsr.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
#: Repository folders: a path into one of these that a documented command reads must exist.
REPO_DIRS = ("benchmarks", "datasets", "docs", "examples", "pipelines", "tests", "vsr")
SHELL_LANGS = ("bash", "sh", "shell", "console")
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
REDIRECTS = {">", ">>", "<", ">&", "<&"}
ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """A fenced code block: the file, the line of its opening fence, its language tag and its text."""

    path: Path
    line: int
    lang: str
    text: str


@dataclass(frozen=True)
class Command:
    """One documented vsr command: where it is, the line as written, its argv after ``vsr`` and its environment."""

    where: str
    source: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]


def _rel(path: Path) -> str:
    """A path as written in the repository, e.g. ``docs/speed.md``."""
    return path.relative_to(ROOT).as_posix()


def code_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [Block(path, text.count("\n", 0, m.start()) + 1, m.group(1).lower(), m.group(2)) for m in FENCE.finditer(text)]


def _shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """(line number in the file, logical line) of a shell block, with backslash continuations joined."""
    pending, start = "", 0
    for i, raw in enumerate(block.text.splitlines(), start=block.line + 1):
        if not pending:
            start = i
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""
    if pending:
        yield start, pending


def _split_commands(line: str) -> list[list[str]]:
    """A shell line as simple commands (lists of words): comments, operators and redirections removed."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in OPERATORS:
            commands.append([])
        elif token in REDIRECTS:
            skip_next = True
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def vsr_argv(words: list[str]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    """(argv after ``vsr``, environment prefix) when the simple command runs vsr, else None."""
    env: list[tuple[str, str]] = []
    while words and ENV_ASSIGNMENT.match(words[0]):
        key, _, value = words[0].partition("=")
        env.append((key, value))
        words = words[1:]
    if words and words[0] == "vsr":
        return tuple(words[1:]), tuple(env)
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "vsr":
            return tuple(words[i + 2:]), tuple(env)
    return None


def documented_commands() -> list[Command]:
    """Every vsr command in the shell blocks of README.md and docs/*.md."""
    out: list[Command] = []
    for path in DOC_FILES:
        for block in code_blocks(path):
            if block.lang not in SHELL_LANGS:
                continue
            for line_no, line in _shell_lines(block):
                for words in _split_commands(line):
                    found = vsr_argv(words)
                    if found is not None:
                        out.append(Command(f"{_rel(path)}:{line_no}", line.strip(), *found))
    return out


COMMANDS = documented_commands()


@pytest.fixture
def parse_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[Command], tuple[click.testing.Result, list[tuple[str, dict[str, Any]]]]]:
    """Run argv through the real `vsr` group with stub callbacks and no file-existence checks (see the module doc).

    Returns the runner's result and the (command name, parsed parameters) each stub received.
    """
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(cli, "callback", lambda **params: None)
    for name, command in cli.commands.items():
        monkeypatch.setattr(command, "callback", lambda _name=name, **params: calls.append((_name, params)))
        for param in command.params:
            if isinstance(param.type, click.Path) and param.type.exists:
                monkeypatch.setattr(param.type, "exists", False)

    def run(command: Command) -> tuple[click.testing.Result, list[tuple[str, dict[str, Any]]]]:
        calls.clear()
        result = CliRunner().invoke(cli, list(command.argv), prog_name="vsr", env=dict(command.env))
        return result, list(calls)

    return run


def _read_paths() -> dict[str, set[str]]:
    """Per command, the parameters that name a path the command reads: exists=True paths and positional paths."""
    out: dict[str, set[str]] = {}
    for name, command in cli.commands.items():
        for p in command.params:
            if isinstance(p.type, click.Path) and (p.type.exists or isinstance(p, click.Argument)) and p.name:
                out.setdefault(name, set()).add(p.name)
    return out


READ_PATHS = _read_paths()  # collected before any test switches exists off


def test_docs_show_vsr_commands() -> None:
    assert len(COMMANDS) >= 20, [c.where for c in COMMANDS]


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_documented_command_parses(command: Command, parse_only: Callable[..., Any]) -> None:
    result, calls = parse_only(command)
    assert result.exit_code == 0, f"{command.where}: `{command.source}` does not parse:\n{result.output}"
    if command.argv and command.argv[0] in ("--help", "-h", "--version"):
        return
    assert calls, f"{command.where}: `{command.source}` reached no subcommand"
    for name, params in calls:
        for key in READ_PATHS.get(name, ()):
            values = params.get(key)
            for value in values if isinstance(values, tuple) else (values,):
                if value is None:
                    continue
                parts = Path(value).parts
                if parts and parts[0] in REPO_DIRS:
                    assert (ROOT / value).exists(), f"{command.where}: `{command.source}` reads {value}, which is not in the repository"


def test_every_cli_command_is_documented() -> None:
    shown = {c.argv[0] for c in COMMANDS if c.argv}
    assert set(cli.commands) <= shown, f"commands with no example in README.md or docs/: {sorted(set(cli.commands) - shown)}"


def test_every_code_block_names_its_language() -> None:
    """An untagged block would hide its commands from this test."""
    untagged = [f"{_rel(b.path)}:{b.line}" for p in DOC_FILES for b in code_blocks(p) if not b.lang]
    assert not untagged, f"fenced blocks without a language (```bash, ```python, ```text): {untagged}"


def test_python_examples_compile_and_use_public_names() -> None:
    import vsr

    for path in DOC_FILES:
        for block in code_blocks(path):
            if block.lang != "python":
                continue
            tree = ast.parse(block.text, filename=f"{_rel(path)}:{block.line}")
            used = {n.attr for n in ast.walk(tree)
                    if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "vsr"}
            missing = sorted(used - set(vsr.__all__))
            assert not missing, f"{_rel(path)}:{block.line} uses vsr.{', vsr.'.join(missing)}, not in vsr.__all__"


# --------------------------------------------------------------------------- links
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)


def _prose(text: str) -> str:
    """Markdown text without fenced blocks and inline code, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (``#`` lines inside code blocks are not headings)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


@pytest.mark.parametrize("path", DOC_FILES, ids=[_rel(p) for p in DOC_FILES])
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{_rel(path)}: broken relative links: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in LINK.findall(_prose((ROOT / "README.md").read_text("utf-8")))}
    orphans = [_rel(p) for p in DOC_FILES[1:] if p.resolve() not in linked]
    assert not orphans, f"docs pages the README does not link to: {orphans}"


@pytest.mark.parametrize("path", DOC_FILES[1:], ids=[_rel(p) for p in DOC_FILES[1:]])
def test_docs_page_opens_with_a_title_and_one_sentence(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# "), f"{_rel(path)}: the first line should be the page title"
    assert lines[1] == "" and lines[2].endswith(".") and lines[3] == "", (
        f"{_rel(path)}: the title should be followed by one sentence saying what the page covers")


# --------------------------------------------------------------------------- README as entry point and long description
def test_readme_starts_with_the_ci_test_command_and_the_sample_upscale() -> None:
    """CI (.ci/run) runs the README's test command verbatim; both first commands stay first."""
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text("utf-8").splitlines() if ln.startswith("python3 -m venv")]
    first = code_blocks(ROOT / "README.md")[0]
    commands = [ln for ln in first.text.splitlines() if ln and not ln.startswith("#")]
    assert len(ci) == 1 and commands[1] == ci[0], "the README's test command and .ci/run differ"
    assert commands[0].startswith("python3 -m venv .venv && ") and commands[0].endswith(
        " && vsr upscale examples/sample.mp4 --scale 2 --overwrite")


def test_setup_cfg_long_description_is_the_readme() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    assert cfg["metadata"]["long_description"].strip() == "file: README.md"
    assert cfg["metadata"]["long_description_content_type"].strip() == "text/markdown"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# vsr")


def test_setuptools_reads_the_readme_as_long_description() -> None:
    setupcfg = pytest.importorskip("setuptools.config.setupcfg")
    meta = setupcfg.read_configuration(ROOT / "setup.cfg")["metadata"]
    assert meta["long_description"] == (ROOT / "README.md").read_text(encoding="utf-8")
    assert meta["long_description_content_type"] == "text/markdown"
