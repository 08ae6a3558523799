"""The on-call rehearsal works when followed: its commands run as written against a real local stack."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from chorus_support import BIN, real_stack
from conftest import ROOT
from handbook.mdscan import MarkdownPage

PAGE = ROOT / "docs/start/on-call.md"


def blocks(terminal: str) -> list[str]:
    """The bash blocks of the page that start with `# rehearsal TERMINAL`, without that line."""
    found = []
    for block in MarkdownPage(PAGE.read_text()).code_blocks:
        lines = [line.text for line in block.lines]
        if block.lang == "bash" and lines and lines[0].strip() == f"# rehearsal {terminal}":
            found.append("\n".join(lines[1:]))
    return found


def stack_overrides() -> dict[str, str]:
    """The `CHORUS__...=VALUE` assignments of the terminal-1 command, as `real_stack` overrides."""
    (command,) = blocks("terminal 1")
    words = shlex.split(command)
    assignments = [w for w in words if "=" in w and w.startswith("CHORUS__")]
    assert words[len(assignments):] == [".venv/bin/chorusctl", "up"], command
    return {key.removeprefix("CHORUS__").lower(): value for key, value in (a.split("=", 1) for a in assignments)}


def test_terminal_one_is_chorusctl_up_with_overrides() -> None:
    assert stack_overrides() == {"gateway__join_rate_per_s": "5", "gateway__join_burst": "10"}


def test_following_the_rehearsal_sheds_a_join_storm(tmp_path: Path) -> None:
    script = "\n".join(["set -euo pipefail", *blocks("terminal 2")])
    work = tmp_path / "reader"
    work.mkdir()
    (work / ".venv").symlink_to(BIN.parent)
    with real_stack(packager=False, **stack_overrides()) as stack:
        result = subprocess.run(["bash", "-c", script], cwd=work, env=stack.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    rows = dict(m.groups() for m in re.finditer(r"^\s*(\S.*?)\s{2,}(\S.*)$", result.stdout, re.MULTILINE))
    assert int(rows["shed (503)"]) > 0 and int(rows["admitted"]) > 0, result.stdout
    assert rows["run"].startswith("complete"), result.stdout
    assert "admission bucket" in result.stdout
