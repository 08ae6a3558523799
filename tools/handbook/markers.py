"""Generated blocks inside hand-written pages: `<!-- handbook:NAME [ARG] -->` markers.

A hand-written page keeps its prose and leaves a marker where a source of truth
must speak: the glossary, a decision record's "governs" list and the decisions
index, a scenario's timeline, an incident's action items, the on-call page's
teams, access and escalation. The plugin expands every marker at build time, so
the block is today's and never committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from handbook import actions, decisions, glossary, oncall, scenario
from handbook.facts import Facts
from handbook.mdscan import MarkdownPage
from handbook.project import Project
from handbook.runbook import runbooks

MARKER = re.compile(r"<!-- handbook:(?P<name>[a-z-]+)(?:\s+(?P<arg>[A-Za-z0-9_.-]+))?\s*-->")


@dataclass
class PageContext:
    """What an expander may read about the page and the tree.

    Attributes:
        root: The project root.
        uri: The page's docs-relative path.
        source: The page's whole source text (front matter included).
        facts: The tree's facts.
        module_pages: The docs-relative API reference pages of this build.
    """

    root: Path
    uri: str
    source: str
    facts: Facts
    module_pages: set[str]


def _glossary(ctx: PageContext, _arg: str | None) -> str:
    terms, _ = glossary.load(ctx.root)
    return glossary.page(terms, ctx.uri)


def _governs(ctx: PageContext, _arg: str | None) -> str:
    record = next((r for r in decisions.records(Project(ctx.root)) if r.docs_uri == ctx.uri), None)
    if record is None:
        return "*Not a decision record: `<!-- handbook:governs -->` belongs in docs/decisions/NNNN-slug.md.*"
    return decisions.governs_markdown(record, ctx.uri, ctx.module_pages)


def _decision_index(ctx: PageContext, _arg: str | None) -> str:
    return decisions.index_markdown(decisions.records(Project(ctx.root)), ctx.uri)


def _timeline(ctx: PageContext, arg: str | None) -> str:
    return scenario.timeline_markdown(ctx.root, arg or "", ctx.facts, ctx.uri)


def _action_items(ctx: PageContext, _arg: str | None) -> str:
    items, _ = actions.parse(MarkdownPage(ctx.source))
    books = {rb.name: rb.raw_meta for rb in runbooks(Project(ctx.root))}
    return actions.table_markdown(items, actions.Evaluator(ctx.root, ctx.facts, books))


EXPANDERS: dict[str, Callable[[PageContext, str | None], str]] = {
    "glossary": _glossary,
    "governs": _governs,
    "decision-index": _decision_index,
    "scenario-timeline": _timeline,
    "action-items": _action_items,
    "oncall-teams": lambda ctx, _arg: oncall.teams_markdown(ctx.root, ctx.uri),
    "oncall-access": lambda ctx, _arg: oncall.access_markdown(ctx.root, ctx.uri),
    "oncall-escalation": lambda ctx, _arg: oncall.escalation_markdown(ctx.root, ctx.uri),
}
"""Marker name to the function that writes its block."""


def expand(markdown: str, ctx: PageContext) -> str:
    """Replace every known marker in a page with its generated block (unknown markers stay as written).

    Args:
        markdown: The page's Markdown.
        ctx: The page and the tree.

    Returns:
        The Markdown with the blocks in place.
    """
    if "<!-- handbook:" not in markdown:
        return markdown

    def replace(match: re.Match[str]) -> str:
        expander = EXPANDERS.get(match["name"])
        return expander(ctx, match["arg"]) if expander else match.group(0)

    return MARKER.sub(replace, markdown)
