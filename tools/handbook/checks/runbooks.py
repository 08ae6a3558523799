"""Runbook format (RB) and ownership (OW): the schema, the six sections, and catalog names."""

from __future__ import annotations

from collections.abc import Iterator

from handbook import sources
from handbook.checks.registry import check
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import SECTIONS, Runbook, runbooks

ORDER = " · ".join(SECTIONS)


@check(
    "runbook-format",
    family="RB",
    rules={
        "RB001": "runbook front matter does not match the schema (unknown key, missing key, wrong type or value)",
        "RB002": "a required section is missing",
        "RB003": "sections are out of order",
        "RB004": "a level-2 section that is not one of the six, or a section given twice",
        "RB005": "a section has no content",
        "RB006": "a TODO from the template is still in the runbook",
    },
)
def runbook_format(project: Project) -> Iterator[Problem]:
    """Validate every runbook's front matter and its six sections, in order, each with content."""
    for rb in runbooks(project):
        if rb.page.front_matter.error is not None:
            continue  # unreadable front matter is reported once, by the FM family
        for error in rb.validated[1]:
            yield Problem(rb.rel, error.line, error.col, "RB001", error.message)
        yield from _sections(rb)
        yield from _todos(rb)


def _todos(rb: Runbook) -> Iterator[Problem]:
    fm = rb.page.front_matter

    def walk(value: object, path: tuple[str | int, ...]) -> Iterator[Problem]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from walk(item, (*path, index))
        elif isinstance(value, str) and value.strip().startswith("TODO"):
            line, col = fm.position(*path)
            name = ".".join(str(p) for p in path if isinstance(p, str))
            yield Problem(rb.rel, line, col, "RB006", f"{name}: replace the template's TODO")

    yield from walk(fm.data, ())
    for pl in rb.page.prose:
        at = pl.text.find("TODO")
        if at >= 0 and not pl.in_code_span(at):
            yield Problem(rb.rel, pl.line, at + 1, "RB006", f"replace the template's TODO: {pl.text.strip()[:70]}")


def _sections(rb: Runbook) -> Iterator[Problem]:
    page = rb.page
    h2 = [h for h in page.headings if h.level == 2]
    seen: dict[str, int] = {}
    last_index = -1
    for heading in h2:
        if heading.text not in SECTIONS:
            yield Problem(rb.rel, heading.line, heading.col, "RB004", f"unexpected section '{heading.text}': level-2 sections are exactly: {ORDER} (use ### for sub-steps)")
            continue
        if heading.text in seen:
            yield Problem(rb.rel, heading.line, heading.col, "RB004", f"section '{heading.text}' appears twice (first on line {seen[heading.text]})")
            continue
        seen[heading.text] = heading.line
        index = SECTIONS.index(heading.text)
        if index < last_index:
            yield Problem(rb.rel, heading.line, heading.col, "RB003", f"section '{heading.text}' is out of order: the order is {ORDER}")
        last_index = max(last_index, index)
    end_of_file = len(page.text.splitlines()) + 1
    for heading in h2:
        if heading.text in SECTIONS and seen.get(heading.text) == heading.line:
            following = [h.line for h in page.headings if h.line > heading.line and h.level <= 2]
            stop = min(following, default=end_of_file)
            has_prose = any(heading.line < pl.line < stop and pl.text.strip() and not pl.text.lstrip().startswith("#") for pl in page.prose)
            has_code = any(heading.line < block.line < stop for block in page.code_blocks)
            if not (has_prose or has_code):
                yield Problem(rb.rel, heading.line, heading.col, "RB005", f"section '{heading.text}' is empty: say what to do, or why nothing is needed")
    missing = [name for name in SECTIONS if name not in seen]
    line = page.front_matter.end_line + 1 if page.front_matter.end_line else 1
    if len(missing) == len(SECTIONS):  # one cause, one line: the body was never written
        yield Problem(rb.rel, line, 1, "RB002", f"no section at all: a runbook has {ORDER} "
                      "(`handbook new runbook` writes them)")
        return
    for name in missing:
        yield Problem(rb.rel, line, 1, "RB002", f"missing section '## {name}': a runbook has {ORDER}")


@check(
    "runbook-ownership",
    family="OW",
    rules={
        "OW001": "a runbook names a service that is not in the catalog",
        "OW002": "a runbook's owner is not a team in the catalog",
        "OW003": "a runbook's owner owns none of the services it is about",
    },
)
def runbook_ownership(project: Project) -> Iterator[Problem]:
    """Check that every runbook's services and owner exist in `stack/catalog.yaml`."""
    books = [rb for rb in runbooks(project) if rb.meta is not None]
    if not books:
        return
    try:
        catalog = sources.catalog_model(project.root)
    except sources.SourceMissing:
        return
    teams = [team.name for team in catalog.teams]
    owners = {service.name: service.team for service in catalog.services}
    for rb in books:
        meta = rb.meta
        assert meta is not None
        fm = rb.page.front_matter
        for index, service in enumerate(meta.services):
            if service not in owners:
                line, col = fm.position("services", index)
                yield Problem(rb.rel, line, col, "OW001", f"service '{service}' is not in {sources.CATALOG} (services: {', '.join(owners)})")
        line, col = fm.position("owner")
        if meta.owner not in teams:
            yield Problem(rb.rel, line, col, "OW002", f"owner '{meta.owner}' is not a team in {sources.CATALOG} (teams: {', '.join(teams)})")
        elif all(owners.get(s) not in (None, meta.owner) for s in meta.services) and any(s in owners for s in meta.services):
            their = sorted({owners[s] for s in meta.services if s in owners})
            yield Problem(rb.rel, line, col, "OW003", f"owner '{meta.owner}' owns none of {', '.join(meta.services)} (owned by {', '.join(their)}): hand it to the owning team")
