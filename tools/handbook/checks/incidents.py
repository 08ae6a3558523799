"""Incident analyses (IN): action items are well formed, owned, proven - and open ones are reported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from handbook import facts as facts_mod
from handbook import sources
from handbook.actions import INCIDENTS_DIR, Evaluator, parse
from handbook.checks.references import LinkResolver, docs_path
from handbook.checks.registry import check
from handbook.errors import HandbookError
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbooks, unreadable_runbooks


@check(
    "incident-actions",
    family="IN",
    rules={
        "IN001": "an action item is still open (a note until its due date, a problem after it)",
        "IN002": "an action item is malformed: id, action, owner, type, proof (and due) are required",
        "IN003": "an action item's owner is not a catalog team, or its proof names something that does not exist",
        "IN004": "a link in an incident analysis does not resolve (page or anchor)",
    },
)
def incident_actions(project: Project, today: dt.date | None = None) -> Iterator[Problem]:
    """Evaluate every action item of every page in `docs/incidents/`, and resolve the pages' links."""
    pages = project.pages_in(INCIDENTS_DIR)
    if not pages:
        return
    today = today or dt.date.today()
    facts = facts_mod.for_project(project)
    books = {rb.name: rb.raw_meta for rb in runbooks(project)}
    books.update({rel.stem: {} for rel in unreadable_runbooks(project)})  # they exist; HB001 says why unread
    evaluator = Evaluator(project.root, facts, books)
    teams = _teams(project)
    resolver = LinkResolver(project)
    for path in pages:
        rel = path.relative_to(project.root)
        page = project.page(path)
        if page.front_matter.error is not None:
            continue
        actions, errors = parse(page)
        for line, col, message in errors:
            yield Problem(rel, line, col, "IN002", message)
        for action in actions:
            if teams and action.owner not in teams:
                yield Problem(rel, action.line, action.col, "IN003", f"{action.id}: owner '{action.owner}' is not a team in {sources.CATALOG} ({', '.join(sorted(teams))})")
            status = evaluator.status(action)
            if status.unknown:
                yield Problem(rel, action.line, action.col, "IN003", f"{action.id}: {status.evidence}: fix the proof")
            elif not status.done:
                message = f"{action.id} is open ({action.owner}, {action.type}): {status.evidence}"
                overdue = action.due is not None and action.due < today
                yield Problem(rel, action.line, action.col, "IN001", message + (f"; it was due {action.due}" if overdue else ""),
                              silenced=None if overdue else f"due {action.due or 'undated'}")
        here = docs_path(project, rel)
        for link in page.links:
            broken = resolver.broken(here, link.target, image=link.image)
            if broken is not None:
                yield Problem(rel, link.line, link.col, "IN004", broken[1])


def _teams(project: Project) -> set[str]:
    """The catalog's team names (empty when the tree has no catalog)."""
    try:
        return {team.name for team in sources.catalog_model(project.root).teams}
    except HandbookError:
        return set()
