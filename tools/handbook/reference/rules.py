"""The check rules page: every rule code in the check registry, at `anchors.rule(code)`.

Check families register themselves with `@check`; this page lists whatever is
registered at build time, so a new family appears without editing anything here.
"""

from __future__ import annotations

import inspect
import sys
from itertools import groupby

from handbook import anchors
from handbook.checks.registry import RUNNER_RULES, Check, Rule, all_checks, all_rules
from handbook.reference import markdown as md

PAGE = anchors.RULES_PAGE


def _first_line(doc: str | None) -> str:
    return inspect.cleandoc(doc).splitlines()[0] if doc else ""


def _family_summary(checks: list[Check]) -> str:
    """What a family guards: the first line of the docstring of the module that defines its checks."""
    for chk in checks:
        module = sys.modules.get(chk.func.__module__)
        line = _first_line(module.__doc__ if module else None)
        if line:
            return line
    return ""


MERGED_CODES = {
    "AR006": "now only `summary` and `description`; a missing `runbook_url` is AL004",
    "AR007": "merged into AL005: an alert's `runbook_url` must open its runbook's page",
}
"""Codes that were removed or narrowed when each invariant came to be checked once, and where they went."""


def _rule_entry(rule: Rule, reported_by: str) -> str:
    """One rule's section: heading, why, example, who reports it, how to run it alone."""
    entry = [md.heading(3, f"{md.code(rule.code)} {md.text(rule.summary)}", md.fragment(anchors.rule(rule.code)))]
    if rule.why:
        entry.append(f"**Why:** {md.text(rule.why)}")
    if rule.example:
        entry.append("**Example of a problem:**\n\n```yaml\n" + rule.example.replace("```", "` ` `") + "\n```")
    entry.append(reported_by)
    entry.append(f"Run only this rule: {md.code(f'handbook check --select {rule.code}')}")
    return "\n\n".join(entry)


def render() -> str:
    """The rules page: a summary table, then one section per family and one entry per code.

    Returns:
        The page's Markdown.
    """
    checks = all_checks()
    by_code = {rule.code: (chk, rule) for chk in checks for rule in chk.rules}
    by_code.update({rule.code: (None, rule) for rule in RUNNER_RULES})  # type: ignore[misc]
    rows = [
        [f"[{md.code(r.code)}]({md.link(PAGE, anchors.rule(r.code))})", md.text(r.summary),
         md.code(by_code[r.code][0].name) if by_code[r.code][0] is not None else "(the runner)"]
        for r in all_rules()
    ]
    blocks = ["## All rules\n\n" + md.table(["code", "what it catches", "check"], rows)]
    ordered = sorted(checks, key=lambda c: (c.family, c.name))
    for family, group in groupby(ordered, key=lambda c: c.family):
        members = list(group)
        section = [md.heading(2, f"{md.code(family)} family", f"family-{anchors.slug(family)}")]
        summary = _family_summary(members)
        if summary:
            section.append(md.text(summary))
        for chk in members:
            what = _first_line(chk.func.__doc__)
            for rule in sorted(chk.rules, key=lambda r: r.code):
                section.append(_rule_entry(rule, f"Reported by the check {md.code(chk.name)}" + (f": {md.text(what)}" if what else ".")))
        blocks.append("\n\n".join(section))
    runner = [md.heading(2, f"{md.code('HB')} family", "family-hb"),
              md.text("The runner's own codes: a source or a check that could not run. Any of them makes "
                      "`handbook check` exit 2, after printing every other problem.")]
    runner += [_rule_entry(rule, "Reported by the runner.") for rule in RUNNER_RULES]
    blocks.append("\n\n".join(runner))
    merged = [[md.code(code), md.text(where)] for code, where in MERGED_CODES.items()]
    blocks.append("## Removed and merged codes\n\n" + md.table(["code", "what became of it"], merged))
    intro = (
        "Every rule `handbook check` enforces, generated from the check registry at build time. Each "
        "problem is printed as `path:line:col: CODE message`; the code links here. Exit codes: 0 clean, "
        "1 problems found, 2 the tool could not run."
    )
    return md.page("Check rules", intro, *blocks, front_matter={"owner": "handbook"})
