"""Runbook transcripts of live `chorusctl` commands have today's shape.

`handbook check` (OUT001) compares whole outputs of configuration-only commands.
Commands that need a running Chorus (`chorusctl status`, `spaces list`) print
uptimes and counts that differ on every run, but the tables' columns must be
today's: this test starts a real stack once, runs each such command a runbook
shows, and compares the column names of every table header in the transcript with
those printed now (widths follow the data, names must not drift).
"""

from __future__ import annotations

import re
import shlex

from chorus_support import real_stack
from conftest import ROOT
from handbook.checks.outputs import transcript
from handbook.mdscan import MarkdownPage
from handbook.shellcmd import CONSOLE_LANGS

LIVE_COMMANDS = {("status",), ("spaces", "list")}
HEADER = re.compile(r"^[A-Z][A-Z_]+(\s{2,}[A-Z][A-Z_]+)+\s*$")


def live_transcripts() -> list[tuple[str, int, list[str], list[str]]]:
    """(runbook, line, argv, expected header lines) for every live chorusctl transcript in the runbooks."""
    found = []
    for path in sorted((ROOT / "runbooks").glob("*.md")):
        for block in MarkdownPage(path.read_text()).code_blocks:
            if block.lang not in CONSOLE_LANGS:
                continue
            for line, command, expected in transcript(block):
                if "|" in command or "{@" in command:
                    continue
                words = shlex.split(command)
                if words[:1] != ["chorusctl"] or tuple(w for w in words[1:] if not w.startswith("-")) not in LIVE_COMMANDS:
                    continue
                headers = [" ".join(text.split()) for _, text in expected if HEADER.match(text.strip())]
                if headers and "--json" not in words:
                    found.append((path.name, line, words[1:], headers))
    return found


def test_runbooks_show_live_transcripts() -> None:
    assert live_transcripts(), "no runbook shows `chorusctl status` output: this test checks nothing"


def test_live_transcripts_have_todays_columns() -> None:
    cases = live_transcripts()
    wrong = []
    with real_stack(nodes=2) as stack:
        stack.chorusctl("spaces", "create", "--title", "transcript check")
        printed_by: dict[tuple[str, ...], list[str]] = {}  # most runbooks show the same command: run each once
        for name, line, argv, headers in cases:
            if tuple(argv) not in printed_by:
                result = stack.chorusctl(*argv)
                printed_by[tuple(argv)] = [" ".join(text.split()) for text in result.stdout.splitlines()
                                           if HEADER.match(text.strip())]
            printed = printed_by[tuple(argv)]
            for header in headers:
                if header not in printed:
                    wrong.append(f"runbooks/{name}:{line}: `chorusctl {' '.join(argv)}` prints {printed}, the runbook shows {header!r}")
    assert wrong == []
