"""The check rules page: every rule code in the check registry, at `anchors.rule(code)`.

Check families register themselves with `@check`; this page lists whatever is
registered at build time, so a new family appears without editing anything here.
"""

from __future__ import annotations

import inspect
import sys
from itertools import groupby

from handbook import anchors
from handbook.checks.registry import Check, all_checks, all_rules
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


def render() -> str:
    """The rules page: a summary table, then one section per family and one entry per code.

    Returns:
        The page's Markdown.
    """
    checks = all_checks()
    by_code = {rule.code: (chk, rule) for chk in checks for rule in chk.rules}
    rows = [
        [f"[{md.code(r.code)}]({md.link(PAGE, anchors.rule(r.code))})", md.text(r.summary), md.code(by_code[r.code][0].name)]
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
                entry = [
                    md.heading(3, f"{md.code(rule.code)} {md.text(rule.summary)}", md.fragment(anchors.rule(rule.code))),
                    f"Reported by the check {md.code(chk.name)}" + (f": {md.text(what)}" if what else "."),
                    f"Run only this rule: {md.code(f'handbook check --select {rule.code}')}",
                ]
                section.append("\n\n".join(entry))
        blocks.append("\n\n".join(section))
    intro = (
        "Every rule `handbook check` enforces, generated from the check registry at build time. Each "
        "problem is printed as `path:line:col: CODE message`; the code links here. Exit codes: 0 clean, "
        "1 problems found, 2 the tool could not run."
    )
    return md.page("Check rules", intro, *blocks, front_matter={"owner": "handbook"})
