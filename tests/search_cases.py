"""What a reader types into the site's search and where it must lead: the search guarantees, listed once.

The browser tests check them against Material's search; `bench/search.py --quality` counts how
many of them any engine it measures keeps, so a switch of engine is judged on the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handbook import anchors
from handbook.project import Project
from handbook.reference.snapshot import Snapshot
from handbook.runbook import runbooks


@dataclass(frozen=True)
class SearchCase:
    """One query and the page (or entry) it must find.

    Attributes:
        query: What the reader types.
        target: The docs-relative page, and anchor, it must find (`reference/config.md#fanout.nodes`).
        within: The worst rank allowed (1 = first result).
    """

    query: str
    target: str
    within: int


def url_suffix(docs_path: str) -> str:
    """How a result link to a docs-relative page (and anchor) ends: `reference/config/#fanout.listener_cap`."""
    page, _, fragment = docs_path.partition("#")
    page = page.removesuffix(".md")
    page = page.removesuffix("index") if page.endswith("index") else page + "/"
    return page + (f"#{fragment}" if fragment else "")


def alert_runbooks(root: Path) -> dict[str, str]:
    """Every alert a runbook answers, and that runbook's docs-relative path."""
    found = {}
    for book in runbooks(Project(root)):
        for alert in (book.meta.alerts if book.meta else None) or []:
            found[alert] = anchors.runbook(book.name)
    return found


def alert_cases(root: Path) -> list[SearchCase]:
    """Every alert rule's name finds its runbook first."""
    expected = alert_runbooks(root)
    return [SearchCase(rule.name, expected[rule.name], 1) for rule in Snapshot(root).get("alerts") if rule.name in expected]


def service_cases(root: Path) -> list[SearchCase]:
    """Every service's name finds its component page first."""
    return [SearchCase(s.name, f"components/{s.name}.md", 1) for s in Snapshot(root).services]


def config_key_cases(root: Path) -> list[SearchCase]:
    """Every config key, typed as its last segment (`listener_cap`), finds its entry in the top 3."""
    return [SearchCase(k.key.rsplit(".", 1)[-1], anchors.config_key(k.key), 3) for k in Snapshot(root).get("config")]
