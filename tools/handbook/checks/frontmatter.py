"""Front matter family (FM): every page's YAML header must parse."""

from __future__ import annotations

from collections.abc import Iterator

from handbook import frontmatter
from handbook.checks.registry import check
from handbook.problems import Problem
from handbook.project import Project


@check(
    "front-matter",
    family="FM",
    rules={
        "FM001": "front matter is not valid YAML",
        "FM002": "front matter opened with '---' but never closed",
        "FM003": "front matter is not a mapping",
    },
)
def front_matter_parses(project: Project) -> Iterator[Problem]:
    """Report every Markdown file under `docs/` and `runbooks/` whose front matter cannot be read."""
    for path in project.markdown_files:
        parsed = frontmatter.parse(project.read_text(path))
        if parsed.error is not None:
            line, col, code, message = parsed.error
            yield Problem(path, line, col, code, message)
