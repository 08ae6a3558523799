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
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.mdscan import CodeBlock
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbooks
from handbook.shellcmd import CONSOLE_LANGS, substitute

MORE = {"...", "…"}
"""A last expected-output line that stands for output the runbook leaves out."""

PURE_COMMANDS = {("capacity",), ("config", "check"), ("config", "show")}
"""`chorusctl` subcommands that read only the configuration: safe and fast to run in a check."""


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


def is_pure(argv: list[str]) -> bool:
    """Whether `chorusctl argv` is a command this check may run."""
    words = tuple(a for a in argv if not a.startswith("-"))
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
    },
)
def expected_output_matches(project: Project) -> Iterator[Problem]:
    """Run each configuration-only `chorusctl` command shown with its output, and compare."""
    try:
        facts = facts_mod.for_project(project)
        sources.chorus_module("chorus.cli")
    except (HandbookError, sources.SourceUnavailable):
        return
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
                _, printed = run_chorusctl(words[1:], project.root)
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
