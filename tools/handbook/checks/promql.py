"""PromQL (PQ): every `promql` block in a runbook parses and queries only what Chorus exports."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbooks
from handbook.shellcmd import substitute


ALERT_EXPRESSION = re.compile(r"\{@alert\.[A-Za-z0-9_]+\.expr\}")
"""A block that only quotes an alert's expression as a live value."""


def _promql() -> Any:
    """`handbook.promql`: the one PromQL analyser (imported on first use)."""
    from handbook import promql

    return promql


def query_problems(query: str, series: Mapping[str, Iterable[str]]) -> Iterator[tuple[int, str, str]]:
    """`(line offset, code, message)` for a query that does not parse or names unknown series or labels.

    The query is walked by the stack's own analyser (`chorus.deploy.promql.analyse`), the one
    the alert rules (AR) use, against the same series table.

    Args:
        query: The PromQL text (live values rendered).
        series: Exported series names to their labels (`Stack.series`).

    Yields:
        PQ001 parse error, PQ002 unknown metric, PQ003 unknown label.
    """
    promql = _promql()
    try:
        analysis = promql.analyse(query)
    except promql.PromQLError as exc:
        yield 0, "PQ001", f"PromQL does not parse: {exc}"
        return
    used: set[str] = set(promql.TARGET_LABELS)
    lines = query.split("\n")
    for selector in analysis.selectors:
        name = selector.name
        if name is None:
            continue
        offset = next((i for i, text in enumerate(lines) if name in text), 0)
        if name not in series:
            close = difflib.get_close_matches(name, list(series), n=1)
            hint = f": did you mean {close[0]}?" if close else ": Chorus exports no such series"
            yield offset, "PQ002", f"unknown metric {name}{hint}"
            continue
        labels = frozenset(series[name]) | promql.TARGET_LABELS  # only the queried series: a table has hundreds
        used |= labels
        for label in dict.fromkeys(label for label, _, _ in selector.matchers):
            if label not in labels:
                yield offset, "PQ003", f"{name} has no label '{label}' (labels: {', '.join(sorted(labels - promql.TARGET_LABELS)) or 'none'}, plus target labels)"
    known_names = {s.name for s in analysis.selectors if s.name in series}
    for label in dict.fromkeys(analysis.grouping):
        if known_names and label not in used:
            offset = next((i for i, text in enumerate(lines) if label in text), 0)
            yield offset, "PQ003", f"grouping label '{label}' is on none of the queried metrics ({', '.join(sorted(known_names))})"


@check(
    "runbook-promql",
    family="PQ",
    rules={
        "PQ001": "a promql block does not parse",
        "PQ002": "a query names a metric Chorus does not export",
        "PQ003": "a query uses a label the metric does not have",
    },
)
def runbook_promql(project: Project) -> Iterator[Problem]:
    """Parse every `promql` code block in every runbook and check its metric and label names."""
    blocks = [(rb, block) for rb in runbooks(project) for block in rb.page.code_blocks if block.lang == "promql"]
    if not blocks:
        return
    facts = facts_mod.for_project(project)
    series: dict[str, frozenset[str]] | str
    try:
        series = sources.stack(project).series
    except HandbookError as exc:
        if not facts_mod.is_missing(exc):
            raise
        series = str(exc)
    for rb, block in blocks:
        if not block.lines:
            continue
        if ALERT_EXPRESSION.fullmatch(block.text.strip()):
            continue  # the alert's own expression: checked once, at its rules file line, by AR001-AR003
        query = substitute(block.text, facts)
        if "{@" in query:
            continue  # an unknown live value: reported once, by RF001
        first = block.lines[0]
        for offset, code, message in query_problems(query, series if isinstance(series, dict) else {}):
            if code != "PQ001" and isinstance(series, str):
                yield Problem(rb.rel, first.line, first.col, code, f"metrics cannot be checked: {series}")
                break
            line = block.lines[min(offset, len(block.lines) - 1)]
            yield Problem(rb.rel, line.line, line.col, code, message)
