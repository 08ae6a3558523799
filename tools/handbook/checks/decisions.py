"""Decision records (AD): every record has a status, and what it governs and links to still exists."""

from __future__ import annotations

from collections.abc import Iterator

from handbook import facts as facts_mod
from handbook.checks.references import LinkResolver, Unchecked, docs_path
from handbook.checks.registry import check
from handbook.decisions import GOVERNS_KINDS, STATUSES, Record, code_object, records
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import runbook_names

REQUIRED = ("title", "status", "date")


@check(
    "decision-records",
    family="AD",
    rules={
        "AD001": "a decision record's front matter lacks title, status or date, or its status is not a MADR status",
        "AD002": "a record governs code (a module, class or function) that no longer exists",
        "AD003": "a record governs a configuration key, runbook or alert that no longer exists",
        "AD004": "a link in a decision record does not resolve (page or anchor)",
        "AD005": "a superseded record does not name an existing record that supersedes it",
    },
)
def decision_records(project: Project) -> Iterator[Problem]:
    """Check every record in `docs/decisions/`: front matter, what it governs, its links."""
    found = records(project)
    if not found:
        return
    numbers = {r.number for r in found}
    facts = facts_mod.for_project(project)
    books = runbook_names(project)  # an unreadable runbook still exists
    resolver = LinkResolver(project)
    unchecked = Unchecked()
    for record in found:
        yield from _front_matter(record, numbers)
        yield from _governed(project, record, facts, books, unchecked)
        here = docs_path(project, record.rel)
        for link in record.page.links:
            broken = resolver.broken(here, link.target, image=link.image)
            if broken is not None:
                yield Problem(record.rel, link.line, link.col, "AD004", broken[1])
    for kind, first in unchecked.items():  # a missing source is one problem, not one per name it would hold
        yield Problem(first.rel, first.line, first.col, "AD003",
                      f"governs {kind}: {first.why}, so {first.count} name(s) are not checked: restore the source")


def _front_matter(record: Record, numbers: set[str]) -> Iterator[Problem]:
    fm = record.page.front_matter
    if fm.error is not None:
        return  # reported by the FM family
    for key in REQUIRED:
        if not str(fm.data.get(key) or "").strip():
            yield Problem(record.rel, 1, 1, "AD001", f"front matter has no '{key}': a record has {', '.join(REQUIRED)}")
    if record.status and record.status not in STATUSES:
        line, col = fm.position("status")
        yield Problem(record.rel, line, col, "AD001", f"status '{record.status}' is not one of {', '.join(STATUSES)}")
    governs = fm.data.get("governs")
    if governs is not None and (not isinstance(governs, dict) or set(governs) - set(GOVERNS_KINDS)):
        line, col = fm.position("governs")
        yield Problem(record.rel, line, col, "AD001", f"governs: a mapping of {', '.join(GOVERNS_KINDS)} to lists of names")
    if record.status == "superseded":
        later = str(fm.data.get("superseded_by") or "").zfill(4)
        if later not in numbers or later == record.number:
            line, col = fm.position("superseded_by") if "superseded_by" in fm.data else fm.position("status")
            yield Problem(record.rel, line, col, "AD005", "a superseded record names the record that supersedes it: superseded_by: NNNN")


def _governed(project: Project, record: Record, facts: facts_mod.Facts, books: set[str], unchecked: Unchecked) -> Iterator[Problem]:
    fm = record.page.front_matter
    governs = record.governs()
    for index, dotted in enumerate(governs["code"]):
        if code_object(project.root, dotted) is None:
            line, col = fm.position("governs", "code", index)
            yield Problem(record.rel, line, col, "AD002", f"code {dotted} does not exist (stack/chorus or tools/handbook): update the record")
    checks = (("config", lambda n: facts.get(f"config.{n}") is not None, "configuration key"),
              ("runbooks", lambda n: n in books, "runbook"),
              ("alerts", lambda n: facts.get(f"alert.{n}") is not None, "alert"))
    for kind, exists, what in checks:
        source = {"config": "config", "alerts": "alert"}.get(kind, "")
        for index, name in enumerate(governs[kind]):
            if not exists(name):
                line, col = fm.position("governs", kind, index)
                if source in facts.unavailable:
                    unchecked.add(kind, f"{source} facts are unavailable ({facts.unavailable[source]})", record.rel, line, col)
                    continue
                hint = facts.why_missing(f"{'config' if kind == 'config' else 'alert'}.{name}") if kind != "runbooks" else f"runbooks: {', '.join(sorted(books))}"
                yield Problem(record.rel, line, col, "AD003", f"{what} {name} does not exist ({hint})")
