"""Runbook and alert queries against live series: which selectors a running Prometheus cannot answer.

pint's `promql/series` idea, applied to runbooks as well as rules: every series selector in every
`promql` block of every runbook and in every alert expression should match series on a
Prometheus scraping a healthy local Chorus. Some only exist during their incident (a counter
whose label values appear with the first failure); those are listed, each with its reason, in
one allow-list file, and an entry that is no longer needed is reported as stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from handbook import facts as facts_mod
from handbook import promql, sources
from handbook.errors import HandbookError
from handbook.project import Project
from handbook.runbook import runbooks
from handbook.shellcmd import substitute
from handbook.yamlio import load as load_yaml

ALLOWLIST = sources.ALERTS_DIR / "live-series" / "incident-only.yaml"
"""Selectors that match series only during their incident, each with the reason."""


@dataclass(frozen=True)
class Query:
    """A PromQL query from a runbook block or an alert rule.

    Attributes:
        text: The query, live values rendered.
        path: Where it is written (relative to the project root).
        line: The line of the block's first line, or of the `alert:` key.
        origin: `runbook` or `alert <name>`.
    """

    text: str
    path: Path
    line: int
    origin: str

    @property
    def selectors(self) -> list[str]:
        """Every series selector in the query, as text (e.g. `up{job="chorus-gateway"}`), in order."""
        return promql.selector_texts(self.text)


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry.

    Attributes:
        selector: The selector, written as `Query.selectors` renders it.
        reason: Why it only has series during its incident.
        line: Its line in the allow-list file.
    """

    selector: str
    reason: str
    line: int


def queries(project: Project) -> list[Query]:
    """Every runbook `promql` block and every alert expression, live values rendered.

    Args:
        project: The handbook checkout.

    Returns:
        The queries, runbooks first (file order), then the alerts.
    """
    facts = facts_mod.for_project(project)
    found: list[Query] = []
    for rb in runbooks(project):
        for block in rb.page.code_blocks:
            if block.lang == "promql" and block.lines:
                found.append(Query(substitute(block.text, facts), rb.rel, block.lines[0].line, "runbook"))
    for rule in sources.alert_rules(project.root):
        found.append(Query(rule.expr, Path(rule.path), rule.line, f"alert {rule.name}"))
    return found


def load_allowlist(root: Path) -> list[AllowEntry]:
    """The allow-list: a YAML list of `{selector, reason}`.

    Raises:
        HandbookError: It is malformed or an entry lacks a reason.
    """
    path = root / ALLOWLIST
    if not path.is_file():
        return []
    doc = load_yaml(path)
    items = doc.data or []
    if not isinstance(items, list):
        raise HandbookError("expected a list of {selector, reason} entries", path=ALLOWLIST, line=1)
    entries = []
    for index, item in enumerate(items):
        line = doc.line_of(index)
        if not isinstance(item, dict) or not str(item.get("selector", "")).strip() or not str(item.get("reason", "")).strip():
            raise HandbookError("each entry needs a `selector` and a `reason` saying during which incident it has series",
                                path=ALLOWLIST, line=line)
        entries.append(AllowEntry(str(item["selector"]).strip(), str(item["reason"]).strip(), line))
    return entries


def findings(all_queries: Iterable[Query], has_series: Callable[[str], bool], allowlist: list[AllowEntry]) -> list[str]:
    """Problems as `path:line: message` lines: selectors without series, and stale allow-list entries.

    Args:
        all_queries: The queries to check.
        has_series: Whether a selector matches series on the live Prometheus.
        allowlist: The allow-list entries.

    Returns:
        One line per problem (empty when every selector is answered or allowed).
    """
    allowed = {entry.selector: entry for entry in allowlist}
    used: set[str] = set()
    answered: dict[str, bool] = {}
    problems = []
    for query in all_queries:
        for selector in query.selectors:
            used.add(selector)
            if selector not in answered:
                answered[selector] = has_series(selector)
            if not answered[selector] and selector not in allowed:
                problems.append(f"{query.path}:{query.line}: {selector} ({query.origin}) matches no series on a running "
                                f"Chorus: fix the name or labels, or list it in {ALLOWLIST} with the incident it needs")
    for entry in allowlist:
        if entry.selector not in used:
            problems.append(f"{ALLOWLIST}:{entry.line}: stale entry {entry.selector}: no runbook or alert queries it; remove it")
        elif answered.get(entry.selector):
            problems.append(f"{ALLOWLIST}:{entry.line}: stale entry {entry.selector}: it has series on a healthy stack; remove it")
    return problems
