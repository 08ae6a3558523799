"""PromQL (PQ): every `promql` block in a runbook parses and queries only what Chorus exports."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import promql_parser

from handbook import facts as facts_mod
from handbook import sources
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbooks
from handbook.shellcmd import substitute

TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container", "service"})
"""Labels Prometheus attaches to every scraped series (target labels from Kubernetes service discovery)."""

SERIES_LABELS = {"histogram": {"le"}, "summary": {"quantile"}}

PROMETHEUS_SERIES = {
    "up": set(),
    "scrape_duration_seconds": set(),
    "scrape_samples_scraped": set(),
    "scrape_series_added": set(),
    "scrape_samples_post_metric_relabeling": set(),
    "ALERTS": {"alertname", "alertstate", "severity", "service", "team"},
    "ALERTS_FOR_STATE": {"alertname", "severity", "service", "team"},
}
"""Series Prometheus itself writes for every target and alert, with their own labels."""


def exported(project: Project) -> dict[str, set[str]] | str:
    """Every series name Chorus exports to the labels it may carry (cached), or why it is unavailable."""
    cache = project.__dict__
    if "_exported" not in cache:
        try:
            series: dict[str, set[str]] = {name: labels | TARGET_LABELS for name, labels in PROMETHEUS_SERIES.items()}
            for metric in sources.metrics():
                for name in metric.series:
                    labels = set(metric.labels) | TARGET_LABELS
                    if name.endswith("_bucket") or metric.type == "summary" and name == metric.name:
                        labels |= SERIES_LABELS.get(metric.type, set())
                    series[name] = labels
            cache["_exported"] = series
        except HandbookError as exc:
            if not facts_mod.is_missing(exc):
                raise
            cache["_exported"] = str(exc)
    return cache["_exported"]


def query_names(tree: Any) -> tuple[list[tuple[str | None, list[str]]], list[str]]:
    """The selectors and grouping labels of a parsed query.

    Args:
        tree: A `promql_parser` expression.

    Returns:
        `(selectors, grouping)`: each selector as `(metric name or None, label names it matches on)`,
        and every label named in `by`, `without`, `on`, `ignoring` or `group_left/right`.
    """
    selectors: list[tuple[str | None, list[str]]] = []
    grouping: list[str] = []

    def visit(node: Any) -> None:
        """Collect selectors and grouping labels from one node."""
        if isinstance(node, promql_parser.VectorSelector):
            labels = [m.name for m in node.matchers.matchers]
            labels += [m.name for group in node.matchers.or_matchers for m in group]
            selectors.append((node.name or None, [label for label in labels if label != "__name__"]))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouping.extend(node.modifier.labels)
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            modifier = node.modifier
            if modifier.matching is not None:
                grouping.extend(modifier.matching.labels)
            if getattr(modifier, "card", None) is not None:
                grouping.extend(getattr(modifier.card, "labels", []) or [])

    promql_parser.walk(tree, visit)
    return selectors, grouping


def query_problems(query: str, series: dict[str, set[str]]) -> Iterator[tuple[int, str, str]]:
    """`(line offset, code, message)` for a query that does not parse or names unknown series or labels.

    Args:
        query: The PromQL text (live values rendered).
        series: Exported series names to their labels.

    Yields:
        PQ001 parse error, PQ002 unknown metric, PQ003 unknown label.
    """
    try:
        tree = promql_parser.parse(query)
    except (ValueError, TypeError) as exc:
        yield 0, "PQ001", f"PromQL does not parse: {exc}"
        return
    selectors, grouping = query_names(tree)
    used: set[str] = set(TARGET_LABELS)
    lines = query.split("\n")
    for name, labels in selectors:
        if name is None:
            continue
        offset = next((i for i, text in enumerate(lines) if name in text), 0)
        if name not in series:
            close = difflib.get_close_matches(name, list(series), n=1)
            hint = f": did you mean {close[0]}?" if close else ": Chorus exports no such series"
            yield offset, "PQ002", f"unknown metric {name}{hint}"
            continue
        used |= series[name]
        for label in labels:
            if label not in series[name]:
                yield offset, "PQ003", f"{name} has no label '{label}' (labels: {', '.join(sorted(series[name] - TARGET_LABELS)) or 'none'}, plus target labels)"
    known_names = {n for n, _ in selectors if n in series}
    for label in dict.fromkeys(grouping):
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
    series = exported(project)
    for rb, block in blocks:
        if not block.lines:
            continue
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
