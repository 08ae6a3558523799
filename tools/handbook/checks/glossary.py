"""Glossary (GL): every term is well formed, defined once, and links to a page that explains it."""

from __future__ import annotations

from collections.abc import Iterator

from handbook.checks.references import LinkResolver
from handbook.checks.registry import check
from handbook.glossary import GLOSSARY, load
from handbook.problems import Problem
from handbook.project import Project


@check(
    "glossary",
    family="GL",
    rules={
        "GL001": "a glossary term's 'explained' link does not resolve (page or anchor)",
        "GL002": "a glossary entry is malformed, or a word is defined twice",
    },
)
def glossary_terms(project: Project) -> Iterator[Problem]:
    """Validate `includes/glossary.yaml` and resolve each term's `explained` link from the glossary page."""
    terms, errors = load(project.root)
    for error in errors:
        yield Problem(GLOSSARY, error.line, 1, "GL002", error.message)
    resolver = LinkResolver(project)
    for term in terms:
        broken = resolver.broken("index.md", term.explained)
        if broken is not None:
            yield Problem(GLOSSARY, term.line, 1, "GL001", f"{term.term}: {broken[1]}")
