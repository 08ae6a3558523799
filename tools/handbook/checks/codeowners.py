"""CODEOWNERS (CO): the committed `.github/CODEOWNERS` is the one the catalog and the pages' owners make."""

from __future__ import annotations

from collections.abc import Iterator

from handbook import sources
from handbook.checks.registry import check
from handbook.knowledge.codeowners import CODEOWNERS, first_difference, generate
from handbook.knowledge.history import Repo
from handbook.knowledge.review import page_reviews
from handbook.problems import Problem
from handbook.project import Project


@check(
    "codeowners",
    family="CO",
    rules={
        "CO001": "`.github/CODEOWNERS` is missing or differs from what the catalog and the pages' owners make",
        "CO002": "an owner has no GitHub handle in the catalog, so its files get no review request",
    },
)
def codeowners_in_sync(project: Project) -> Iterator[Problem]:
    """Regenerate `CODEOWNERS` in memory and compare it with the committed file.

    While a page or its front matter cannot be read, its owner is unknown: the file is not compared (the
    HB001 or FM problem at the page's line says what to fix; a diff would tell the author to regenerate wrongly).
    """
    try:
        expected, missing = generate(project, Repo(project.root).prefix)
    except sources.SourceMissing:
        return
    for item in missing:
        yield Problem(CODEOWNERS, 1, 1, "CO002", f"{item.why}: its pages and code are left out of CODEOWNERS")
    path = project.root / CODEOWNERS
    if not path.is_file():
        yield Problem(CODEOWNERS, 1, 1, "CO001", "missing: run `handbook codeowners --write`")
        return
    if (any(bad.path.suffix == ".md" for bad in project.unreadable)
            or any(page.front_matter.error is not None for page in page_reviews(project))):
        return  # a page's owner cannot be read: its HB001 or FM problem comes first, not a diff that fixing it undoes
    actual = path.read_text(encoding="utf-8")
    if actual != expected:
        line = first_difference(expected, actual)
        yield Problem(CODEOWNERS, line, 1, "CO001", f"out of date from line {line}: run `handbook codeowners --write` and commit it")
