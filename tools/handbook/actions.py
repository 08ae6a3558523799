"""Postmortem action items that prove themselves done.

An incident analysis (`docs/incidents/*.md`) lists its action items in front matter:

```yaml
actions:
  - id: A1
    action: Test ChorusJoinShedding with promtool
    owner: control-plane          # a catalog team
    type: detect                  # prevent | mitigate | detect | process
    due: 2026-12-15
    proof: {alert_tested: ChorusJoinShedding}
```

`proof` names the one thing that shows the item is done, and `status` checks it
against the tree: an alert exists (`alert_exists`) and has a promtool test
(`alert_tested`), a configuration key has an upper bound (`config_bound`), a
runbook exists (`runbook_exists`) or declares a drill (`runbook_drilled`), a file
exists (`file_exists`). Nobody ticks a box by hand: the page shows each item
open or done from the same evaluation, and `handbook check` (IN) reports open
items with `path:line` - as a note until their due date, as a problem after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook import facts as facts_mod
from handbook import sources
from handbook.mdscan import MarkdownPage

INCIDENTS_DIR = Path("docs/incidents")
TYPES = ("prevent", "mitigate", "detect", "process")
PROOFS = ("alert_exists", "alert_tested", "config_bound", "runbook_exists", "runbook_drilled", "file_exists")
ACTIONS_MARKER = "<!-- handbook:action-items -->"


@dataclass(frozen=True)
class Action:
    """One action item, as written, with its position in the file.

    Attributes:
        id: Its short id, e.g. `A3`.
        action: What is to be done.
        owner: The catalog team that owns it.
        type: `prevent`, `mitigate`, `detect` or `process`.
        due: When it is due, or `None`.
        proof: The proof kind and its argument, e.g. `("alert_tested", "ChorusJoinShedding")`.
        line: The line of the item in the file.
        col: Its column.
    """

    id: str
    action: str
    owner: str
    type: str
    due: dt.date | None
    proof: tuple[str, str]
    line: int
    col: int


@dataclass(frozen=True)
class Status:
    """Whether an action item is done, and what shows it.

    Attributes:
        done: The proof holds.
        evidence: What was found, or what is missing.
        unknown: The proof names something that does not exist at all (not just "not yet").
    """

    done: bool
    evidence: str
    unknown: bool = False


def parse(page: MarkdownPage) -> tuple[list[Action], list[tuple[int, int, str]]]:
    """The action items of an incident page, and what is malformed.

    Args:
        page: The scanned page.

    Returns:
        The well-formed items, and `(line, col, message)` for each malformed one.
    """
    fm = page.front_matter
    raw = fm.data.get("actions") or []
    found: list[Action] = []
    errors: list[tuple[int, int, str]] = []
    if not isinstance(raw, list):
        line, col = fm.position("actions")
        return [], [(line, col, "actions: a list of items (id, action, owner, type, due, proof)")]
    for index, item in enumerate(raw):
        line, col = fm.position("actions", index)
        if not isinstance(item, dict):
            errors.append((line, col, "an action item is a mapping: id, action, owner, type, due, proof"))
            continue
        missing = [k for k in ("id", "action", "owner", "type", "proof") if not item.get(k)]
        proof = item.get("proof")
        if missing:
            errors.append((line, col, f"action item lacks {', '.join(missing)}"))
            continue
        if item["type"] not in TYPES:
            errors.append((*fm.position("actions", index, "type"), f"type '{item['type']}' is not one of {', '.join(TYPES)}"))
            continue
        if not isinstance(proof, dict) or len(proof) != 1 or next(iter(proof)) not in PROOFS:
            errors.append((*fm.position("actions", index, "proof"), f"proof: one of {', '.join(PROOFS)} with its argument, e.g. {{alert_tested: ChorusJoinShedding}}"))
            continue
        due = item.get("due")
        if due is not None and not isinstance(due, dt.date):
            errors.append((*fm.position("actions", index, "due"), f"due '{due}' is not a date (YYYY-MM-DD)"))
            continue
        kind, argument = next(iter(proof.items()))
        found.append(Action(str(item["id"]), str(item["action"]), str(item["owner"]), str(item["type"]), due,
                            (str(kind), str(argument)), line, col))
    return found, errors


def promtool_tested(root: Path) -> dict[str, str]:
    """Every alert a promtool test file exercises, to the file.

    A promtool test file is a YAML file under `stack/deploy/prometheus/` with `rule_files:` and
    `tests:`; each test's `alert_rule_test` entries name an `alertname`.

    Args:
        root: The project root.

    Returns:
        Alert name to the test file (relative to the root); cached under the stack's fingerprint,
        since only `stack/` decides it.
    """
    return sources.cached_from_stack(root, "promtool-tested", lambda: _promtool_tested(root))


def _promtool_tested(root: Path) -> dict[str, str]:
    """`promtool_tested`, read from the test files (no cache)."""
    import yaml

    tested: dict[str, str] = {}
    folder = root / "stack/deploy/prometheus"
    for path in sorted(folder.rglob("*.y*ml")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8", errors="replace")
        if "rule_files" not in text or "alert_rule_test" not in text:
            continue
        try:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 20x faster
        except yaml.YAMLError:
            continue
        for test in (data or {}).get("tests") or [] if isinstance(data, dict) else []:
            for case in (test or {}).get("alert_rule_test") or [] if isinstance(test, dict) else []:
                if isinstance(case, dict) and case.get("alertname"):
                    tested.setdefault(str(case["alertname"]), str(path.relative_to(root)))
    return tested


class Evaluator:
    """Evaluates proofs against one tree, reading each source once.

    Args:
        root: The project root.
        facts: The tree's facts.
        books: Runbook file stem to its front matter (as written).
    """

    def __init__(self, root: Path, facts: facts_mod.Facts, books: dict[str, dict[str, Any]]) -> None:
        self.root = root
        self.facts = facts
        self.books = books
        self._tested: dict[str, str] | None = None
        self._bounds: dict[str, dict[str, Any]] | None = None

    def status(self, action: Action) -> Status:
        """Whether `action`'s proof holds today."""
        kind, arg = action.proof
        if kind in ("alert_exists", "alert_tested"):
            if self.facts.get(f"alert.{arg}") is None:
                return Status(False, f"alert {arg} does not exist", unknown=kind == "alert_tested")
            if kind == "alert_exists":
                return Status(True, f"alert {arg} is in the rules")
            if self._tested is None:
                self._tested = promtool_tested(self.root)
            where = self._tested.get(arg)
            return Status(True, f"promtool test in {where}") if where else Status(False, f"alert {arg} has no promtool test")
        if kind == "config_bound":
            if self._bounds is None:
                self._bounds = {k.key: k.bounds for k in sources.config_keys(self.root)}
            if arg not in self._bounds:
                return Status(False, f"configuration key {arg} does not exist", unknown=True)
            upper = {k: v for k, v in self._bounds[arg].items() if k in ("le", "lt")}
            return Status(True, f"{arg} is bounded ({', '.join(f'{k} {v}' for k, v in upper.items())})") if upper else Status(False, f"{arg} has no upper bound")
        if kind in ("runbook_exists", "runbook_drilled"):
            if arg not in self.books:
                return Status(False, f"runbook {arg} does not exist", unknown=kind == "runbook_drilled")
            if kind == "runbook_exists":
                return Status(True, f"runbook {arg} exists")
            drill = self.books[arg].get("drill")
            return Status(True, f"runbook {arg} declares a drill") if drill else Status(False, f"runbook {arg} declares no drill")
        if kind == "file_exists":
            return Status(True, f"{arg} exists") if (self.root / arg).exists() else Status(False, f"{arg} does not exist")
        return Status(False, f"unknown proof {kind}", unknown=True)


def table_markdown(actions: list[Action], evaluator: Evaluator) -> str:
    """The action items as a Markdown table with their evaluated status (the page's marker).

    Args:
        actions: The items.
        evaluator: Evaluates each proof.

    Returns:
        The table.
    """
    rows = ["| | action | owner | type | due | done when | status |", "|---|---|---|---|---|---|---|"]
    for action in actions:
        status = evaluator.status(action)
        shown = f"**done** - {status.evidence}" if status.done else f"**open** - {status.evidence}"
        kind, arg = action.proof
        rows.append(f"| {action.id} | {action.action} | `{action.owner}` | {action.type} | {action.due or '-'} | "
                     f"{kind.replace('_', ' ')}: `{arg}` | {shown} |")
    return "\n".join(rows) if actions else "*No action items.*"
