"""Where drill results are kept between a drill run and the site build, and how they read on a page.

`handbook drill` writes `.cache/drills/results.json` (one entry per runbook: the
latest run and the last run that passed, with its date, commit and duration);
the MkDocs plugin reads it to show each runbook's drill status. The file is a
build artefact, never committed: a checkout that has not drilled shows "not
drilled on this build" with the command that would.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from handbook.drill.runner import DrillResult

RESULTS = Path(".cache/drills/results.json")


def commit_of(root: Path) -> str:
    """The short commit of `root`'s HEAD, with `+dirty` when the tree has changes ("unknown" outside git)."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def load(root: Path) -> dict[str, Any]:
    """Every runbook's stored drill results (empty when none were recorded or the file is unreadable)."""
    path = root / RESULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(root: Path, results: list[DrillResult]) -> Path:
    """Store the results of a run, keeping each runbook's last pass.

    Args:
        root: The handbook checkout.
        results: The drills just run.

    Returns:
        The results file.
    """
    data = load(root)
    commit = commit_of(root)
    for result in results:
        entry = data.get(result.runbook, {})
        latest = {**result.to_json(), "commit": commit}
        entry["latest"] = latest
        if result.status == "pass":
            entry["last_passed"] = {"when": result.when, "commit": commit, "seconds": result.seconds}
        data[result.runbook] = entry
    path = root / RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path


def status_line(entry: dict[str, Any] | None, not_drillable: str | None, declared: bool) -> tuple[str, str]:
    """What a runbook page says about its drill, as `(admonition kind, markdown text)`.

    Args:
        entry: The runbook's stored results, if any.
        not_drillable: The runbook's declared reason it cannot be drilled locally.
        declared: Whether the runbook declares a drill at all.
    """
    if not_drillable:
        return "info", f"**Not drilled locally:** {not_drillable}"
    if not declared:
        return "warning", "**Never drilled:** this runbook declares no drill (`drill:` in its front matter)."
    entry = entry or {}
    passed = entry.get("last_passed")
    latest = entry.get("latest") or {}
    if passed:
        text = (f"**Drill passed** {passed['when'][:16].replace('T', ' ')} UTC at commit `{passed['commit']}` "
                f"in {passed['seconds']:.0f} s: its alert fired, every step printed what this page says, "
                "and the alert cleared with audio still flowing.")
        if latest.get("status") not in (None, "pass"):
            return "warning", text + f" The latest run failed: {latest.get('reason', '')}"
        return "success", text
    if latest:
        return "failure", f"**Drill failing** ({latest.get('when', '')[:16]} UTC): {latest.get('reason', '')}"
    return "note", "**Not drilled on this build:** run `make drill` (or `handbook drill RUNBOOK`) to rehearse it."
