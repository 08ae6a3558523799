"""Tool probes are asked once per installed binary: a changed binary is asked again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handbook.toolprobe import probe


@pytest.fixture()
def tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `fake-tool` on PATH that answers its version and counts how often it was started."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "fake-tool"
    script.write_text(f"#!/bin/sh\necho started >> {tmp_path / 'starts'}\necho 'fake-tool 1.0'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return script


def starts(tool: Path) -> int:
    counter = tool.parent.parent / "starts"
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_the_answer_is_read_back_until_the_binary_changes(tool: Path) -> None:
    assert probe(["fake-tool", "--version"]).stdout == "fake-tool 1.0\n"
    assert probe(["fake-tool", "--version"]).stdout == "fake-tool 1.0\n"
    assert starts(tool) == 1
    assert probe(["fake-tool", "-V"]).returncode == 0 and starts(tool) == 2, "another question is asked"

    tool.write_text(tool.read_text().replace("1.0", "2.0"))  # an upgrade: new size and mtime
    assert probe(["fake-tool", "--version"]).stdout == "fake-tool 2.0\n"
    assert starts(tool) == 3


def test_an_unreadable_cache_costs_only_a_start(tool: Path) -> None:
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "chorus-handbook" / "probes.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert probe(["fake-tool"]).stdout == "fake-tool 1.0\n"
    assert probe(["fake-tool"]).stdout == "fake-tool 1.0\n"
    assert starts(tool) == 1


def test_a_missing_binary_raises_as_subprocess_does(tool: Path) -> None:
    with pytest.raises(OSError):
        probe(["no-such-tool-anywhere"])
