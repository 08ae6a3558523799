"""The generated reference section: every page built from a source of truth, at build time.

`generate` returns each page's Markdown by its docs-relative path; the
`handbook` MkDocs plugin adds them to the site. Nothing here is committed:
the pages exist in the built site and during `mkdocs serve`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from handbook import anchors
from handbook.reference import alerts, api, cli, components, config, deployment, http, metrics, rules
from handbook.reference import markdown as md
from handbook.reference.snapshot import Snapshot
from handbook.sources import SourceMissing

PAGES: dict[str, Callable[[Snapshot], str]] = {
    anchors.CONFIG_PAGE: config.render,
    anchors.METRICS_PAGE: metrics.render,
    anchors.ALERTS_PAGE: alerts.render,
    anchors.CLI_PAGE: cli.render,
    anchors.HTTP_PAGE: http.render,
    anchors.DEPLOYMENT_PAGE: deployment.render,
    anchors.RULES_PAGE: lambda snap: rules.render(),
}
"""Each single reference page and the function that renders it from the build's sources."""

NAV_FILE = "reference/SUMMARY.md"
NAV_TITLES = {
    anchors.CONFIG_PAGE: "Configuration",
    anchors.METRICS_PAGE: "Metrics",
    anchors.ALERTS_PAGE: "Alerts",
    anchors.CLI_PAGE: "Command line",
    anchors.HTTP_PAGE: "HTTP API",
    anchors.DEPLOYMENT_PAGE: "Deployment",
    f"{api.API_DIR}/": "Python API",
    anchors.RULES_PAGE: "Check rules",
    "reference/review.md": "Page review",
    "reference/knowledge-risk.md": "Knowledge risk",
}


def reference_nav() -> str:
    """The literate-nav file of `reference/`: the generated pages in reading order, then any other page.

    Returns:
        The nav file's Markdown; its last item (`*`) lists hand-written pages added to the folder later.
    """
    lines = ["* [Reference](index.md)"]
    lines += [f"* [{title}]({uri.removeprefix('reference/')})" for uri, title in NAV_TITLES.items()]
    return "\n".join([*lines, "* *"]) + "\n"


INDEX_FIRST_NAVS = {"components/SUMMARY.md": "Components", "runbooks/SUMMARY.md": "Runbooks"}
"""Folders whose tab must open their index page, then list their pages (generated ones included)."""


def index_first_nav(title: str) -> str:
    """A literate-nav file that puts the folder's index first, so its tab opens the index.

    Args:
        title: The section's title, shown for the index page.

    Returns:
        The nav file's Markdown: the index, then every other page of the folder (`*`).
    """
    return f"* [{title}](index.md)\n* *\n"


def _render(uri: str, render: Callable[[Snapshot], str], snap: Snapshot) -> str:
    """One reference page; a tree without its source file gets a page saying so (a broken file raises)."""
    try:
        return render(snap)
    except SourceMissing as exc:
        title = Path(uri).stem.capitalize()
        return md.page(title, md.note("warning", "No source in this tree", f"{md.code(str(exc.path))} does not exist in this tree."),
                       front_matter={"owner": "handbook"})


def generate(root: Path, docs_dir: Path | None = None, snap: Snapshot | None = None) -> dict[str, str]:
    """Every generated page of the site, by docs-relative path.

    Args:
        root: The project root.
        docs_dir: The docs folder (narratives are read from it); defaults to `root / "docs"`.
        snap: The sources to read; defaults to the real ones under `root`.

    Returns:
        Page path to Markdown: the reference pages, the API pages and the component pages.

    Raises:
        HandbookError: A source of truth exists but cannot be read (names file and line).
    """
    snap = snap or Snapshot(root)
    result = {uri: _render(uri, render, snap) for uri, render in PAGES.items()}
    result[NAV_FILE] = reference_nav()
    result.update({uri: index_first_nav(title) for uri, title in INDEX_FIRST_NAVS.items()})
    result.update(api.pages(root))
    result.update(components.pages(snap, docs_dir or root / "docs"))
    return result
