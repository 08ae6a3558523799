"""Drills (DR): every alert runbook says how it is rehearsed, and its steps are marked honestly.

A drill proves a runbook in operation (`handbook drill`); these rules keep the
declarations it relies on well-formed and keep readers safe: a command that
restarts, drains, kills or rotates is marked `destructive` (the page shows a
warning), and a production-only command (`kubectl`) says why a drill skips it.
"""

from __future__ import annotations

from collections.abc import Iterator

from handbook import sources
from handbook.checks.registry import check
from handbook.drill.spec import SECTIONS_RUN, looks_destructive, read_plan
from handbook.mdscan import CodeBlock
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbooks
from handbook.shellcmd import CONSOLE_LANGS, SHELL_LANGS, command_lines



def _programs(block: CodeBlock) -> set[str]:
    return {text.split()[0] for _, _, text in command_lines(block) if text.split()}


@check(
    "drills",
    family="DR",
    rules={
        "DR001": "an alert runbook declares no drill (drill: in its front matter, or drill.not_drillable with a reason)",
        "DR002": "a runbook's drill: declaration does not validate",
        "DR003": "a drill marker cannot be read, or stands above no code block",
        "DR004": "a command that restarts, drains, kills, scales or rotates is not marked destructive",
        "DR005": "a kubectl block in a drilled section is neither a drill step nor marked production with a reason",
        "DR006": "a drill waits for an alert that is not in the rules, or cannot tell which alert to wait for",
        "DR007": "a drill kills or pauses a service its stack does not run",
    },
)
def drill_declarations(project: Project) -> Iterator[Problem]:
    """Check each runbook's drill declaration and step markers."""
    try:
        alert_names = {rule.name for rule in sources.alert_rules(project.root)}
    except Exception:  # the alert checks report an unreadable rules file
        alert_names = set()
    for book in runbooks(project):
        page = book.page
        plan = read_plan(page)
        alerts = book.alerts
        for line, col, message in plan.spec_errors:
            yield Problem(book.rel, line, col, "DR002", message)
        for err in plan.marker_errors:
            yield Problem(book.rel, err.line, err.col, "DR003", str(err))
        spec = plan.spec
        if spec is None and alerts and not plan.spec_errors:
            yield Problem(book.rel, 1, 1, "DR001",
                          f"alert runbook for {', '.join(alerts)} declares no drill: add `drill:` (how to induce it locally) "
                          "or `drill: {not_drillable: \"why\"}`")
        marked = {s.block.line: s for s in plan.steps}
        headings = page.headings
        for block in page.code_blocks:
            if block.lang not in SHELL_LANGS | CONSOLE_LANGS:
                continue
            step = marked.get(block.line)
            word = looks_destructive(block)
            if word and (step is None or not step.destructive):
                yield Problem(book.rel, block.line, 1, "DR004",
                              f"this block runs `{word}`, which changes the running system: mark it "
                              "`<!-- drill: step destructive -->` (or `production destructive reason=\"...\"`) "
                              "so readers see a warning")
            above = [h for h in headings if h.line < block.line and h.level == 2]
            section = above[-1].text if above else ""
            if spec is not None and not spec.not_drillable and section in SECTIONS_RUN and step is None and "kubectl" in _programs(block):
                yield Problem(book.rel, block.line, 1, "DR005",
                              "kubectl only runs in production: mark the block "
                              "`<!-- drill: production reason=\"...\" -->` and give its local equivalent as a drill step")
        if spec is None or spec.not_drillable:
            continue
        wanted = spec.alert or (alerts[0] if len(alerts) == 1 else None)
        line, col = page.front_matter.position("drill", "alert") if spec.alert else (plan.spec_line, 1)
        if spec.alert and alert_names and spec.alert not in alert_names:
            yield Problem(book.rel, line, col, "DR006", f"drill.alert {spec.alert} is not an alert in the rules")
        elif wanted is None and len(alerts) > 1:
            yield Problem(book.rel, line, col, "DR006",
                          f"this runbook answers {len(alerts)} alerts: say which one the drill waits for (drill.alert)")
        names = {"gateway", "speaker", "induced"} | ({"packager"} if spec.stack.packager else set()) | {f"fanout-{i}" for i in range(1, spec.stack.nodes + 1)} | {
            f"edge-{i}" for i in range(1, spec.stack.edges + 1)}
        for key, index, action in [("induce", i, a) for i, a in enumerate(spec.induce)] + [
                ("recover", i, a) for i, a in enumerate(spec.recover)]:
            if action.kind in ("kill", "pause", "resume") and str(action.argument) not in names:
                line, col = page.front_matter.position("drill", key, index)
                yield Problem(book.rel, line, col, "DR007",
                              f"{action.kind}: {action.argument} - the drill's stack runs {', '.join(sorted(names))}")
