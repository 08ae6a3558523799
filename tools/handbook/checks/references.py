"""References (RF): live values name real facts; runbook links and anchors resolve."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path

from handbook import anchors, facts as facts_mod
from handbook.checks.registry import Rule, check
from handbook.livevalues import REFERENCE, check_reference, references
from handbook.mdscan import MarkdownPage
from handbook.reference.api import API_DIR
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import RUNBOOKS_DIR

UNCLOSED = re.compile(r"(?<![$\\])\{@")
"""Where a live value opens (the same escapes as `livevalues.REFERENCE`)."""

GENERATED_PAGES = {
    anchors.CONFIG_PAGE,
    anchors.METRICS_PAGE,
    anchors.ALERTS_PAGE,
    anchors.CLI_PAGE,
    anchors.HTTP_PAGE,
    anchors.DEPLOYMENT_PAGE,
    anchors.RULES_PAGE,
    anchors.REVIEW_PAGE,
    anchors.RISK_PAGE,
    f"{API_DIR}/index.md",
}
"""Reference pages generated at build time: they exist on the site but not in the tree."""

SOURCE_KIND = {
    anchors.CONFIG_PAGE: "config",
    anchors.METRICS_PAGE: "metric",
    anchors.ALERTS_PAGE: "alert",
    anchors.CLI_PAGE: "cli",
    anchors.HTTP_PAGE: "http",
    anchors.DEPLOYMENT_PAGE: "k8s",
}
"""The kind of facts (`facts.LOADERS`) each generated reference page's anchors come from."""


@check(
    "live-values",
    family="RF",
    rules={
        "RF001": "a live value {@NAME} names no fact (the closest name is suggested)",
        "RF002": "a live value is malformed (not {@kind.name})",
        "RF005": Rule("RF005", "a live value is opened with {@ but never closed on its line",
                      why="An unclosed reference is published as literal text, and the value it meant is never checked.",
                      example="The cap is {@config.fanout.listener_cap per node."),
        "RF006": Rule("RF006", "a live value in front matter (a title, a description) is never rendered",
                      why="MkDocs reads front matter before any live value is rendered: the title shows {@...} "
                      "literally, and the build blames another page.",
                      example='title: "Fan-out node at {@config.fanout.listener_cap} listeners"'),
    },
)
def live_values(project: Project) -> Iterator[Problem]:
    """Check every `{@...}` in every page and runbook against the facts of the tree.

    A live value whose source of truth is missing from the tree is not called unknown one by one:
    each missing source is one problem, at its first live value, counting the others.
    """
    facts = None
    unchecked = Unchecked()
    for path in project.markdown_files:
        text = project.read_text(path)
        if "{@" not in text:
            continue
        rel = path.relative_to(project.root)
        facts = facts or facts_mod.for_project(project)
        page = project.page(path)
        for ref in references(page):
            kind = ref.name.split(".", 1)[0]
            if ref.well_formed and kind in facts.unavailable and facts.get(ref.name) is None:
                unchecked.add(kind, facts.unavailable[kind], rel, ref.line, ref.col)
                continue
            error = check_reference(ref, facts)
            if error is not None:
                yield Problem(rel, error.line, error.col, error.code, error.message)
        yield from _unrendered(rel, page)
    for kind, first in unchecked.items():
        yield Problem(first.rel, first.line, first.col, "RF001",
                      f"{{@{kind}...}}: {kind} facts are unavailable ({first.why}), so {first.count} live value(s) "
                      "naming them are not checked: restore the source")


@dataclass
class FirstUse:
    """The first place something could not be checked, why, and how many places share the reason."""

    why: str
    rel: Path
    line: int
    col: int
    count: int = 1


class Unchecked(dict[str, FirstUse]):
    """References that cannot be checked because their source is missing, by source: reported once each."""

    def add(self, key: str, why: str, rel: Path, line: int, col: int) -> None:
        """Count one more reference to an unavailable source (the first one is where it is reported)."""
        if key in self:
            self[key].count += 1
        else:
            self[key] = FirstUse(why, rel, line, col)


def _unrendered(rel: Path, page: MarkdownPage) -> Iterator[Problem]:
    """`{@` that no reference covers: in front matter (RF006) or never closed (RF005)."""
    if "{@" not in page.text:
        return
    lines = page.text.split("\n")
    end = page.front_matter.end_line
    for number, line in enumerate(lines, start=1):
        if "{@" not in line:
            continue
        for opened in UNCLOSED.finditer(line):
            if 1 < number < end:
                yield Problem(rel, number, opened.start() + 1, "RF006",
                              "live values are not rendered in front matter: write the text out (the body may use {@...})")
            elif not REFERENCE.match(line, opened.start()):
                yield Problem(rel, number, opened.start() + 1, "RF005",
                              "live value opened with {@ but not closed on this line: add the closing }")


def published_diagrams(project: Project) -> set[str]:
    """The docs-relative paths the build publishes rendered diagrams at, e.g. `diagrams/media-path.png`."""
    from handbook.diagrams.render import diagram_sources

    return {f"{anchors.DIAGRAMS_URI}/{source.stem}.png" for source in diagram_sources(project.root)}


def docs_path(project: Project, rel: Path) -> str:
    """Where a project file is on the site, docs-relative (`runbooks/x.md` stays `runbooks/x.md`)."""
    parts = rel.parts
    return "/".join(parts[1:]) if parts[0] == "docs" else "/".join(parts)


def source_of(project: Project, page: str) -> Path | None:
    """The tree file of a docs-relative page, or `None` when the tree does not hold it."""
    if page.startswith(f"{RUNBOOKS_DIR}/") and "/" not in page[len(RUNBOOKS_DIR) + 1 :]:
        candidate = project.root / page
        if candidate.is_file():
            return candidate
    candidate = project.root / "docs" / page
    return candidate if candidate.is_file() else None


@check(
    "runbook-links",
    family="RF",
    rules={
        "RF003": "a page or runbook links to a page that does not exist",
        "RF004": "a page or runbook links to an anchor that does not exist on its page",
    },
)
def runbook_links(project: Project) -> Iterator[Problem]:
    """Resolve every internal link in every page and runbook, anchors included (generated pages by their anchors)."""
    books = [_Page(path.relative_to(project.root), project.page(path)) for path in project.markdown_files]
    if not any(rb.page.links for rb in books):
        return
    resolver = LinkResolver(project)
    unchecked = Unchecked()
    for rb in books:
        here = docs_path(project, rb.rel)
        for link in rb.page.links:
            broken = resolver.broken(here, link.target, image=link.image)
            if broken is not None:
                yield Problem(rb.rel, link.line, link.col, broken[0], broken[1])
            elif resolver.skipped is not None:
                unchecked.add(resolver.skipped[0], resolver.skipped[1], rb.rel, link.line, link.col)
    for page, first in unchecked.items():
        yield Problem(first.rel, first.line, first.col, "RF004",
                      f"anchors on {page} cannot be checked: {first.why}; {first.count} link(s) to them are not "
                      "checked: restore the source")


class LinkResolver:
    """Resolves site-internal links the way the built site will: pages, generated pages, anchors, diagrams.

    Args:
        project: The project whose pages, runbooks and facts define what exists.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self._scanned: dict[Path, MarkdownPage] = {}
        self._generated: dict[str, set[str]] | None = None
        self.skipped: tuple[str, str] | None = None
        """After `broken`: the generated page and why its anchors could not be checked, or `None`."""

    def generated_anchors(self) -> dict[str, set[str]]:
        """Every generated page (docs-relative) to the anchors it defines."""
        if self._generated is None:
            facts = facts_mod.for_project(self.project)
            generated: dict[str, set[str]] = {}
            for target in facts.targets:
                page, _, anchor = target.partition("#")
                generated.setdefault(page, set()).add(anchor)
            from handbook.checks.registry import all_rules

            for rule in all_rules():
                page, _, anchor = anchors.rule(rule.code).partition("#")
                generated.setdefault(page, set()).add(anchor)
            self._generated = generated
        return self._generated

    def broken(self, here: str, target: str, image: bool = False) -> tuple[str, str] | None:
        """Why a link from page `here` (docs-relative) does not resolve, or `None` when it does.

        Args:
            here: The docs-relative path of the page holding the link, e.g. `runbooks/x.md`.
            target: The link target as written, e.g. `../reference/config.md#gateway.port`.
            image: Whether it is an image (a file, not a page).

        Returns:
            `("RF003", message)` for a missing page, `("RF004", message)` for a missing anchor, or `None`.
        """
        self.skipped = None
        if not target or "://" in target or target.startswith(("mailto:", "tel:", "/")):
            return None
        page_part, _, anchor = target.partition("#")
        page = here if not page_part else posixpath.normpath(posixpath.join(posixpath.dirname(here), page_part))
        if page_part.endswith("/") or (page_part and not posixpath.splitext(page_part)[1]):
            page = posixpath.join(page, "index.md")
        if image or not page.endswith(".md"):
            if source_of(self.project, page) is None and page not in published_diagrams(self.project):
                return "RF003", f"link target {target} does not exist"
            return None
        source = source_of(self.project, page)
        generated = self.generated_anchors()
        if source is None and page not in GENERATED_PAGES and page not in generated:
            return "RF003", f"link target {page_part} ({page}) is not a page of the site"
        if not anchor:
            return None
        if source is not None:
            if not self.project.is_page(source):
                return None  # the page cannot be read: the runner reports it once, its anchors are unknown
            if source not in self._scanned:
                self._scanned[source] = self.project.page(source)
            known = self._scanned[source].anchors
        else:
            known = generated.get(page, set())
            unavailable = facts_mod.for_project(self.project).unavailable
            kind = SOURCE_KIND.get(page)
            if anchor not in known and kind in unavailable:
                self.skipped = (page, f"{kind} facts are unavailable ({unavailable[kind]})")
                return None
        if anchor not in known:
            return "RF004", f"anchor #{anchor} does not exist on {page}" + _nearest(anchor, known)
        return None


@dataclass(frozen=True)
class _Page:
    """A page to resolve links from: where it is, and its scan."""

    rel: Path
    page: MarkdownPage


def _nearest(anchor: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(anchor, sorted(known), n=1)
    return f": did you mean #{close[0]}?" if close else ""
