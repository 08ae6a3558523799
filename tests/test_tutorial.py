"""The first-week tutorial works when followed: its commands run as written, and audio arrives."""

from __future__ import annotations

import subprocess
from pathlib import Path

from chorus.audio import load_pcm, similarity
from chorus_support import BIN, real_stack
from conftest import ROOT
from handbook.mdscan import MarkdownPage

TUTORIAL = ROOT / "docs/start/first-space.md"


def terminal_blocks(terminal: str) -> list[str]:
    """The bash blocks of the tutorial that start with `# terminal N`, without that line."""
    blocks = []
    for block in MarkdownPage(TUTORIAL.read_text()).code_blocks:
        lines = [line.text for line in block.lines]
        if block.lang == "bash" and lines and lines[0].strip() == f"# {terminal}":
            blocks.append("\n".join(lines[1:]))
    return blocks


def test_terminal_one_is_chorusctl_up() -> None:
    # The test starts the stack itself (on free ports); it must be the command the page shows.
    assert terminal_blocks("terminal 1") == [".venv/bin/chorusctl up --monitor --time-scale 10"]


def test_following_the_tutorial_carries_audio_and_pages_dead_air(tmp_path: Path) -> None:
    script = "\n".join(["set -euo pipefail", *terminal_blocks("terminal 2")])
    assert "chorusctl speak" in script and "chorusctl listen" in script and "chorusctl alerts --wait" in script
    work = tmp_path / "reader"
    work.mkdir()
    (work / ".venv").symlink_to(BIN.parent)  # the reader's checkout has its own .venv
    with real_stack(packager=True, up_args=("--monitor", "--time-scale", "10")) as stack:
        result = subprocess.run(
            ["bash", "-c", script], cwd=work, env=stack.env, capture_output=True, text=True, timeout=400,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    space = result.stdout.splitlines()[0]
    assert space.startswith("sp-"), result.stdout
    rate = 48000
    heard = load_pcm(work / "heard.wav", rate)
    spoken = load_pcm(work / "hello.wav", rate)
    assert similarity(spoken, heard) > 0.8
    # Step 5: the metrics answered, and the dead-air page arrived with its runbook, then resolved.
    assert '{job="chorus-gateway"} 1' in result.stdout, result.stdout
    assert "firing ChorusDeadAir critical team=media" in result.stdout, result.stdout
    assert "runbook: http://127.0.0.1:8000/runbooks/dead-air/" in result.stdout, result.stdout
    assert "resolved ChorusDeadAir" in result.stdout, result.stdout
