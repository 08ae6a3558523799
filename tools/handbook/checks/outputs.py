"""Expected output (OUT): what a runbook shows a command printing is what it prints today.

A `console` block pairs a command (`$ chorusctl capacity --listeners 700000`)
with the output the reader should expect. For `chorusctl` commands that need no
running service and change nothing — planning and configuration commands — the
check runs the real command in-process against today's configuration and
compares, line by line, so a changed cap or rate cannot leave a runbook showing
yesterday's numbers. Live values in the expected output are rendered first; a
last expected line of `...` means "more output follows" and ends the comparison.
Commands run as on a production host, where the token signing key is set (to a
throw-away value here), and never see the checker's own `CHORUS_*` overrides.

`chorusctl status` needs a running stack, so its samples (on every page) cannot be
run here; the fields where it prints a setting are checked instead (`STATUS_FIELDS`):
a number typed there that equals today's setting must be the live value, and a
setting that is only ever the configuration's (the session and node caps) must be
today's value or the runbook drill's own (`drill: config:`), which its sample shows.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import Rule, check
from handbook.errors import HandbookError
from handbook.mdscan import CodeBlock
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import is_runbook, runbooks
from handbook.shellcmd import CONSOLE_LANGS, substitute

MORE = {"...", "…"}
"""A last expected-output line that stands for output the runbook leaves out."""

PURE_COMMANDS = {("capacity",), ("config", "check"), ("config", "show")}
"""`chorusctl` subcommands that read only the configuration: safe and fast to run in a check."""


STATUS = ("status",)
"""The `chorusctl` command whose sample output `STATUS_FIELDS` reads (its table form, not `--json`)."""


@dataclass(frozen=True)
class StatusField:
    """Where `chorusctl status` prints a setting (`chorus.cli.operations`).

    Attributes:
        key: The fact it prints (`config.gateway.port`).
        pattern: Finds the value in a line (group `value`); `None` for a node-table column.
        column: The node table's column header, when it is one.
        only_setting: Whether the field never shows anything but the setting (the caps); the others
            also show measurements (tokens left now) or other nodes' ports, so only a copy of
            today's value is flagged there.
    """

    key: str
    pattern: re.Pattern[str] | None = None
    column: str = ""
    only_setting: bool = False


STATUS_FIELDS = (
    StatusField("config.gateway.port", re.compile(r"^gateway\s+\w+://[^\s/]*:(?P<value>\d+)")),
    StatusField("config.gateway.max_sessions", re.compile(r"\(cap (?P<value>\d+)\)"), only_setting=True),
    StatusField("config.gateway.join_burst", re.compile(r"admission bucket (?P<value>\d+) tokens")),
    StatusField("config.fanout.listener_cap", column="CAP", only_setting=True),
    StatusField("config.fanout.port", re.compile(r"://[^\s/]*:(?P<value>\d+)"), column="URL"),
)


def transcript(block: CodeBlock) -> Iterator[tuple[int, str, list[tuple[int, str]]]]:
    """Each `$ command` of a console block with the expected output lines after it.

    Args:
        block: A fenced `console` block.

    Yields:
        `(line, command, [(line, expected_text), ...])` in block order.
    """
    current: tuple[int, str, list[tuple[int, str]]] | None = None
    for code_line in block.lines:
        if code_line.text.startswith("$ "):
            if current is not None:
                yield current
            current = (code_line.line, code_line.text[2:].strip(), [])
        elif current is not None:
            current[2].append((code_line.line, code_line.text))
    if current is not None:
        yield current


def subcommand(argv: list[str]) -> tuple[str, ...]:
    """The words of `chorusctl argv` that are not options (`config show`, `status`)."""
    return tuple(a for a in argv if not a.startswith("-"))


def is_pure(argv: list[str]) -> bool:
    """Whether `chorusctl argv` is a command this check may run."""
    words = subcommand(argv)
    return any(words[: len(p)] == p for p in PURE_COMMANDS)


def run_chorusctl(argv: list[str], root: Path) -> tuple[int, str]:
    """Run `chorusctl` in-process, from the tree's root as a reader would, and capture what it prints.

    Args:
        argv: The arguments after `chorusctl`.
        root: The root of the tree being checked; its `stack/config/chorus.yaml` is used.

    Returns:
        The exit code and standard output.
    """
    cli = sources.chorus_module("chorus.cli")
    config = sources.chorus_module("chorus.config").load_config(root / sources.CONFIG, env={})
    out = io.StringIO()
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("CHORUS")]:
            del os.environ[name]
        # a placeholder as random as a real key (the services refuse guessable ones), never printed
        os.environ[config.gateway.token.key_env] = secrets.token_hex(max(32, config.gateway.token.min_key_bytes))
        with contextlib.chdir(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            try:
                code = cli.main(["--config", str(sources.CONFIG), *argv])
            except SystemExit as exc:  # argparse errors; reported by CMD001
                code = int(exc.code or 0) if isinstance(exc.code, int) else 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return int(code or 0), out.getvalue()


@check(
    "expected-output",
    family="OUT",
    rules={
        "OUT001": "a runbook shows output for a configuration-only chorusctl command that it no longer prints",
        "OUT002": Rule(
            "OUT002",
            "a `chorusctl status` sample types a setting by hand (a port, the session or node cap, the admission bucket)",
            why="The status command needs a running stack, so its sample cannot be re-run by the check: the settings it "
            "prints are written as live values, and then a changed cap or port changes the sample with it. A cap that "
            "is not today's value is stale, unless it is the runbook drill's own `drill: config:` value.",
            example="$ chorusctl status\nsessions 0 host, 0 speaker, 0 listener (cap 10000); admission bucket 400 tokens\n"
            "# write (cap {@config.gateway.max_sessions}); admission bucket {@config.gateway.join_burst} tokens",
        ),
    },
)
def expected_output_matches(project: Project) -> Iterator[Problem]:
    """Run each configuration-only `chorusctl` command shown with its output, and compare."""
    try:
        facts = facts_mod.for_project(project)
    except (HandbookError, sources.SourceUnavailable):
        return
    runs = sources.StackKeyedCache(project.root, "chorusctl-output")
    yield from _compare(project, facts, runs)
    runs.save()
    yield from _status_samples(project, facts)


def _compare(project: Project, facts: facts_mod.Facts, runs: sources.StackKeyedCache) -> Iterator[Problem]:
    """The OUT001 problems, each command run at most once per stack version."""
    for book in runbooks(project):
        for block in book.page.code_blocks:
            if block.lang not in CONSOLE_LANGS:
                continue
            for line, command, expected in transcript(block):
                try:
                    words = shlex.split(substitute(command, facts))
                except ValueError:
                    continue
                if len(words) < 2 or words[0] != "chorusctl" or not is_pure(words[1:]) or not expected:
                    continue
                _, printed = runs.get(json.dumps(words[1:]), lambda: list(run_chorusctl(words[1:], project.root)))
                actual = printed.rstrip("\n").splitlines()
                truncated = expected[-1][1].strip() in MORE
                if truncated:
                    expected = expected[:-1]
                shown = [substitute(text, facts) for _, text in expected]
                for index, (want_line, want) in enumerate(zip([l for l, _ in expected], shown)):
                    got = actual[index] if index < len(actual) else "<no more output>"
                    if got.rstrip() != want.rstrip():
                        yield Problem(
                            book.path, want_line, 1, "OUT001",
                            f"`{command}` prints {got.strip()!r} here today, the runbook shows {want.strip()!r}: "
                            "paste today's output (or use live values in it)",
                        )
                        break
                else:
                    if len(actual) > len(shown) and not truncated:
                        yield Problem(
                            book.path, expected[-1][0], 1, "OUT001",
                            f"`{command}` prints {len(actual) - len(shown)} more line(s) today than the runbook shows: "
                            "paste today's output, or end it with a `...` line",
                        )


def _status_samples(project: Project, facts: facts_mod.Facts) -> Iterator[Problem]:
    """OUT002 over every page's `chorusctl status` samples."""
    for path in project.markdown_files:
        page = project.page(path)
        if "chorusctl status" not in page.text or page.front_matter.error is not None:
            continue  # unreadable front matter: its FM problem first (the drill's settings are unknown)
        rel = path.relative_to(project.root)
        drill = page.front_matter.data.get("drill") if is_runbook(rel) else None
        overrides = drill.get("config") if isinstance(drill, dict) else None
        for block in page.code_blocks:
            if block.lang not in CONSOLE_LANGS:
                continue
            for _, command, expected in transcript(block):
                words = command.split()
                if words[:1] == ["chorusctl"] and subcommand(words[1:]) == STATUS and "--json" not in words:
                    yield from status_sample_problems(rel, expected, facts, overrides if isinstance(overrides, dict) else {})


def status_sample_problems(rel: Path, lines: list[tuple[int, str]], facts: facts_mod.Facts, drill: dict) -> Iterator[Problem]:
    """OUT002 for the output lines of one `chorusctl status` sample.

    Args:
        rel: The page.
        lines: `(line, text)` of the sample's output.
        facts: Today's facts.
        drill: The runbook drill's configuration overrides (`fanout.listener_cap: 10`), whose values the
            sample may show.

    Yields:
        A problem for each setting typed by hand.
    """
    header: list[str] = []
    for line, text in lines:
        cells = list(re.finditer(r"\S+", text))
        if cells and cells[0][0] == "NODE":
            header = [cell[0] for cell in cells]
            continue
        for field in STATUS_FIELDS:
            if field.column:
                if field.column not in header or len(cells) != len(header):
                    continue
                cell = cells[header.index(field.column)]
                found = field.pattern.search(cell[0]) if field.pattern else re.fullmatch(r"(?P<value>\d+)", cell[0])
                at = cell.start() + (found.start("value") if found else 0)
            elif header:
                continue
            else:
                found = field.pattern.search(text) if field.pattern else None
                at = found.start("value") if found else 0
            if found is None or field.key not in facts.by_name:
                continue
            typed, today = found["value"], facts.by_name[field.key].value
            own = drill.get(field.key.removeprefix("config."))
            if str(typed) == str(today):
                yield Problem(rel, line, at + 1, "OUT002",
                              f"`chorusctl status` sample types {field.key} ({typed}) by hand: write {{@{field.key}}} so it follows the configuration")
            elif field.only_setting and str(typed) != str(own):
                drilled = f" or the drill's {own}" if own is not None else ""
                yield Problem(rel, line, at + 1, "OUT002",
                              f"`chorusctl status` sample shows {field.key} {typed}, the configuration says {today}{drilled}: write {{@{field.key}}}")
