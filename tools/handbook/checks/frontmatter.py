"""Front matter family (FM): every page's YAML header must parse, and the keys the theme reads must fit."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from handbook.checks.registry import Rule, check
from handbook.pagemeta import PageSettings, schema_errors
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import is_runbook


@check(
    "front-matter",
    family="FM",
    rules={
        "FM001": "front matter is not valid YAML",
        "FM002": "front matter opened with '---' but never closed",
        "FM003": "front matter is not a mapping",
        "FM004": Rule(
            "FM004", "a key the theme reads (title, hide, search, tags, ...) has the wrong shape",
            why="Material acts on these keys on every page; a wrong shape does not fail at the page but "
                "crashes the build elsewhere (`search: fast` breaks the search plugin) or is ignored.",
            example="---\ntitle: Reviewing a change\nsearch: fast   # a mapping was expected: {boost: 2}\n---",
        ),
    },
)
def front_matter_parses(project: Project) -> Iterator[Problem]:
    """Report every Markdown file under `docs/` and `runbooks/` whose front matter cannot be read or misleads the theme.

    Runbooks are validated whole by their own schema (RB001); other pages only for the keys
    Material acts on, so `search: fast` is reported at its line instead of crashing the build.
    """
    for path in project.markdown_files:
        block = project.page(path).front_matter
        if block.error is not None:
            line, col, message = block.error
            yield Problem(path, line, col, block.error_code, message)
        elif block.data and not is_runbook(path.relative_to(project.root)):
            try:
                PageSettings.model_validate(block.data)
            except ValidationError as exc:
                for line, col, message in schema_errors(exc, block, PageSettings):
                    yield Problem(path, line, col, "FM004", f"{message} (Material reads this key)")
