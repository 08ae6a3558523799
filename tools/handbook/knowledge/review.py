"""Who owns each page, when it was last reviewed, and when it is due again.

Every hand-written page in `docs/` and `runbooks/` carries three keys in its front matter:

| key | required | what it holds |
|---|---|---|
| `owner` | yes | a team of `stack/catalog.yaml` that keeps the page true |
| `last_reviewed` | yes | the date someone last checked the page end to end (`YYYY-MM-DD`) |
| `review_interval` | no | how often to review it (`90d`, `12w`); defaults by section, see `REVIEW_INTERVALS` |

A page is *due* when its interval has passed since `last_reviewed`, or when something it
describes in `stack/` changed after `last_reviewed` (see `handbook.knowledge.affected`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handbook.mdscan import MarkdownPage
from handbook.runbook import INTERVAL

REVIEW_INTERVALS: dict[str, str] = {
    "runbooks": "90d",
    "docs/start": "90d",
    "docs/architecture": "180d",
    "docs/components": "180d",
    "docs/reference": "180d",
    "docs/decisions": "365d",
    "docs/incidents": "365d",
    "docs": "180d",
}
"""The review interval of a page that does not set `review_interval`, by folder (the longest match wins).

Runbooks and the tutorial are followed step by step at the worst moment, so they are reviewed
quarterly; architecture and component narratives twice a year; decision records and incident
analyses are records of their time and are re-read yearly (to mark them superseded, or to check
their action items).
"""

NOT_PAGES = ("SUMMARY.md",)
"""Markdown files that are not pages (literate-nav's folder navigation)."""

FIELDS = ("owner", "last_reviewed", "review_interval")


def interval_days(text: str) -> int | None:
    """Days in an interval such as `90d` or `12w`; `None` when it is not one."""
    match = INTERVAL.match(str(text).strip())
    if match is None:
        return None
    return int(match["count"]) * (7 if match["unit"] == "w" else 1)


def default_interval(rel: str) -> tuple[str, str]:
    """The section default interval of a project-relative page path, and the section it comes from.

    Args:
        rel: e.g. `docs/start/first-space.md`.

    Returns:
        `(interval, section)`, e.g. `("90d", "docs/start")`.
    """
    best = max((s for s in REVIEW_INTERVALS if rel == s or rel.startswith(s + "/")), key=len, default="docs")
    return REVIEW_INTERVALS[best], best


def parse_date(value: Any) -> dt.date | None:
    """A front matter date (YAML gives a `date` for `2026-11-30`, a string when quoted); `None` if not one."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class PageReview:
    """The ownership and review state of one page.

    Attributes:
        rel: The project-relative path, e.g. `runbooks/dead-air.md`.
        title: The page's title (front matter `title`, else its first heading, else its path).
        owner: The `owner` key, or `None`.
        last_reviewed: The `last_reviewed` date, or `None` when missing or not a date.
        interval: The review interval, e.g. `90d`.
        interval_from: `front matter`, or the section whose default applies (e.g. `docs/start`).
        front_matter: The raw front matter, with key positions.
    """

    rel: str
    title: str
    owner: str | None
    last_reviewed: dt.date | None
    interval: str
    interval_from: str
    front_matter: Any

    @property
    def interval_days(self) -> int:
        """The interval in days (the section default when the page's own is malformed)."""
        return interval_days(self.interval) or interval_days(default_interval(self.rel)[0]) or 180

    @property
    def next_due(self) -> dt.date | None:
        """The date the calendar makes the page due, or `None` without a `last_reviewed`."""
        if self.last_reviewed is None:
            return None
        return self.last_reviewed + dt.timedelta(days=self.interval_days)

    def overdue(self, as_of: dt.date) -> bool:
        """Whether the calendar says the page is past due on `as_of` (a page never reviewed is)."""
        return self.next_due is None or self.next_due < as_of

    @property
    def docs_uri(self) -> str:
        """Where the page sits on the site, docs-relative (`runbooks/x.md`, `start/index.md`)."""
        return self.rel.removeprefix("docs/")


def scanned(project: Any, rel: str) -> MarkdownPage:
    """A page of a `Project` scanned once per run (review, references and risk share it)."""
    return project.page(project.root / rel)


def read_page(rel: str, text: str | MarkdownPage) -> PageReview:
    """The review state of one page from its text.

    Args:
        rel: The project-relative path.
        text: The file's text, or the page already scanned.

    Returns:
        The review state; missing or malformed keys are `None` (the RV checks report them).
    """
    page = text if isinstance(text, MarkdownPage) else MarkdownPage(text)
    block = page.front_matter
    data = block.data if isinstance(block.data, dict) else {}
    own = data.get("review_interval")
    if own is not None and str(own).strip():
        interval, source = str(own).strip(), "front matter"
    else:
        interval, section = default_interval(rel)
        source = f"section default ({section})"
    title = str(data.get("title") or next((h.text for h in page.headings if h.level == 1), rel))
    owner = str(data["owner"]).strip() if data.get("owner") not in (None, "") else None
    return PageReview(rel, title, owner, parse_date(data.get("last_reviewed")), interval, source, block)


def is_page(rel: Path) -> bool:
    """Whether a project-relative Markdown path is a page (not a nav file) under `docs/` or `runbooks/`."""
    return rel.suffix == ".md" and rel.name not in NOT_PAGES and rel.parts[0] in ("docs", "runbooks")


def page_reviews(project: Any) -> list[PageReview]:
    """The review state of every page of a `Project`, read once per run and cached on it.

    Args:
        project: The project.

    Returns:
        One `PageReview` per page, in path order.
    """
    cache = project.__dict__
    if "_page_reviews" not in cache:
        found = []
        for path in project.markdown_files:
            rel = path.relative_to(project.root)
            if is_page(rel):
                found.append(read_page(rel.as_posix(), scanned(project, rel.as_posix())))
        cache["_page_reviews"] = found
    return cache["_page_reviews"]
