"""OUT: the output a runbook shows for a configuration-only chorusctl command is what it prints today."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import BIN, ROOT
from handbook.checks.outputs import is_pure
from handbook.project import Project
from handbook.runner import run_checks
from test_runbook_checks import FRONT, SECTIONS, make_tree


def capacity_output(config: Path, listeners: int) -> str:
    """What `chorusctl capacity` really prints for `config` (the test takes it from the tool, not by hand)."""
    result = subprocess.run(
        [str(BIN / "chorusctl"), "--config", str(config), "capacity", "--listeners", str(listeners)],
        capture_output=True, text=True, cwd=config.parents[2],
    )
    return result.stdout.rstrip("\n")


def tree_with_transcript(tmp_path: Path, config_text: str, shown: str) -> Path:
    diagnose = f"```console\n$ chorusctl capacity --listeners 50000\n{shown}\n```"
    return make_tree(tmp_path, {"stack/config/chorus.yaml": config_text, "runbooks/task.md": FRONT + SECTIONS.replace("Look.", diagnose)})


def out_problems(root: Path) -> list[tuple[int, str, str]]:
    return [(p.line, p.code, p.message) for p in run_checks(Project(root), ["OUT"]).problems]


def test_todays_output_passes_and_a_config_change_fails_at_the_changed_line(tmp_path: Path) -> None:
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    today = capacity_output(ROOT / "stack/config/chorus.yaml", 50000)
    root = tree_with_transcript(tmp_path / "a", config, today)
    assert out_problems(root) == []

    # Someone lowers the listener cap: the runbook's transcript is now yesterday's.
    assert "listener_cap: 1000" in config
    changed = config.replace("listener_cap: 1000", "listener_cap: 800")
    (root / "stack/config/chorus.yaml").write_text(changed)
    found = out_problems(root)
    assert len(found) == 1
    line, code, message = found[0]
    shown_lines = today.splitlines()
    first_changed = next(i for i, text in enumerate(shown_lines) if "fanout.listener_cap" in text)
    body_start = (FRONT + SECTIONS).splitlines().index("Look.") + 1  # the console fence's line
    assert (line, code) == (body_start + 2 + first_changed, "OUT001")
    assert "800" in message


def test_ellipsis_stands_for_the_rest(tmp_path: Path) -> None:
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    today = capacity_output(ROOT / "stack/config/chorus.yaml", 50000).splitlines()
    assert out_problems(tree_with_transcript(tmp_path / "a", config, "\n".join(today[:3] + ["..."]))) == []
    short = out_problems(tree_with_transcript(tmp_path / "b", config, "\n".join(today[:3])))
    assert [c for _, c, _ in short] == ["OUT001"] and "more line(s)" in short[0][2]


def test_only_configuration_commands_are_run() -> None:
    assert is_pure(["capacity", "--listeners", "5"]) and is_pure(["config", "show"])
    assert not is_pure(["drain", "fanout-1"]) and not is_pure(["up"]) and not is_pure(["spaces", "list"])
