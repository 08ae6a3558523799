"""Component family (CMP): every service in the catalog has its hand-written narrative, and only those.

A component page is a header generated from `stack/catalog.yaml` above a
narrative in `docs/components/<service>.md` that says what the service does, how
it fails and what to look at first. The page builds without it, but the check fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from handbook import sources
from handbook.checks.registry import check
from handbook.problems import Problem
from handbook.project import Project
from handbook.reference.components import INDEX, NARRATIVE_DIR, narrative_path, read_narrative

REQUIRED_SECTIONS = ("What it does", "How it fails", "What to look at first")


@check(
    "component-narratives",
    family="CMP",
    rules={
        "CMP001": "a service in the catalog has no hand-written narrative in docs/components/",
        "CMP002": "a narrative in docs/components/ names no service in the catalog",
        "CMP003": "a narrative lacks one of its sections: What it does, How it fails, What to look at first",
    },
)
def narratives_match_catalog(project: Project) -> Iterator[Problem]:
    """Report services without a narrative, narratives without a service, and narratives missing a section."""
    if not (project.root / sources.CATALOG).is_file():
        return  # no catalog, no services: whether the catalog must exist is not this family's rule
    doc = sources.catalog(project.root)
    names = set()
    for index, service in enumerate(sources.catalog_model(project.root).services):
        name = service.name
        names.add(narrative_path(name).name)
        path = project.root / narrative_path(name)
        if not project.is_page(path):
            if os.path.lexists(path):
                continue  # there, but unreadable: the runner reports it once
            yield Problem(
                project.root / doc.path,
                doc.line_of("services", index, "name"),
                1,
                "CMP001",
                f"service {name!r} has no narrative: write {narrative_path(name).as_posix()} "
                f"({', '.join(REQUIRED_SECTIONS)})",
            )
            continue
        text = project.read_text(path)
        headings = {line[3:].strip().lower() for line in read_narrative(text).body.splitlines() if line.startswith("## ")}
        for section in REQUIRED_SECTIONS:
            if section.lower() not in headings:
                yield Problem(path, 1, 1, "CMP003", f"narrative has no '## {section}' section")
    for path in project.pages_in(NARRATIVE_DIR):
        if path.name != INDEX.rsplit("/", 1)[-1] and path.name not in names:
            yield Problem(
                path,
                1,
                1,
                "CMP002",
                f"{path.stem!r} is not a service in {sources.CATALOG.as_posix()}: rename the file or add the service",
            )
