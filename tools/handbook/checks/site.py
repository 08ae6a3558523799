"""Site configuration (MK): `mkdocs.yml` builds the handbook, not just a set of Markdown files."""

from __future__ import annotations

from collections.abc import Iterator

from handbook import sources
from handbook.checks.registry import Rule, check
from handbook.problems import Problem
from handbook.project import Project

PLUGIN = "handbook"
"""The MkDocs plugin name of `handbook.plugin` (live values, generated reference, diagrams)."""


@check(
    "site-config",
    family="MK",
    rules={
        "MK001": Rule(
            "MK001",
            "`mkdocs.yml` does not enable the handbook plugin",
            why="Without it the site publishes `{@...}` literally, has no generated reference, and renders no "
            "diagram, while every page still looks fine in review.",
            example="plugins:\n  - search\n  # - handbook",
        ),
    },
)
def site_config(project: Project) -> Iterator[Problem]:
    """`mkdocs.yml` enables the `handbook` plugin."""
    settings = sources.site_settings(project.root)
    if PLUGIN not in settings.plugins:
        yield Problem(sources.MKDOCS, settings.plugins_line, 1, "MK001",
                      f"the '{PLUGIN}' plugin is not enabled: add `- {PLUGIN}` under plugins:")
