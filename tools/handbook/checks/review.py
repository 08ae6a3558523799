"""Page review (RV): every page names its owner, when it was last reviewed, and how often.

Runbooks validate the same keys through their schema (`RB001`, `OW002`); this family covers
the other pages in `docs/`. Which keys a page needs, and the section defaults of
`review_interval`, are in `handbook.knowledge.review`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from handbook import sources
from handbook.checks.registry import check
from handbook.knowledge.review import default_interval, interval_days, page_reviews, parse_date
from handbook.problems import Problem
from handbook.project import Project
from handbook.runbook import is_runbook


def catalog_teams(project: Project) -> list[str] | None:
    """The team names of `stack/catalog.yaml`, or `None` when this tree has no catalog."""
    try:
        return [team.name for team in sources.catalog_model(project.root).teams]
    except sources.SourceMissing:
        return None


@check(
    "page-review",
    family="RV",
    rules={
        "RV001": "a page has no `owner` in its front matter",
        "RV002": "a page's owner is not a team of the catalog",
        "RV003": "a page has no `last_reviewed`, or it is not a YYYY-MM-DD date",
        "RV004": "a page's `last_reviewed` is in the future",
        "RV005": "a page's `review_interval` is not a number of days or weeks (`90d`, `12w`)",
    },
)
def page_review(project: Project) -> Iterator[Problem]:
    """Check the owner and review keys of every page in `docs/` (runbooks: see RB001/OW002)."""
    teams = catalog_teams(project)
    today = dt.date.today()
    for page in page_reviews(project):
        rel = Path(page.rel)
        fm = page.front_matter
        if is_runbook(rel) or fm.error is not None:
            continue  # runbooks: their schema; unreadable front matter: the FM family
        data = fm.data if isinstance(fm.data, dict) else {}
        end = fm.end_line or 1
        if page.owner is None:
            yield Problem(rel, end, 1, "RV001", f"no owner: add `owner: TEAM` to the front matter (teams: {', '.join(teams or [])})")
        elif teams is not None and page.owner not in teams:
            line, col = fm.position("owner")
            yield Problem(rel, line, col, "RV002", f"owner '{page.owner}' is not a team in {sources.CATALOG} (teams: {', '.join(teams)})")
        if "last_reviewed" not in data or parse_date(data["last_reviewed"]) is None:
            line, col = fm.position("last_reviewed") if "last_reviewed" in data else (end, 1)
            yield Problem(rel, line, col, "RV003", "no valid last_reviewed: add `last_reviewed: YYYY-MM-DD`, the day you last checked the page end to end")
        elif page.last_reviewed is not None and page.last_reviewed > today:
            line, col = fm.position("last_reviewed")
            yield Problem(rel, line, col, "RV004", f"last_reviewed {page.last_reviewed} is in the future")
        if "review_interval" in data and interval_days(str(data["review_interval"])) is None:
            line, col = fm.position("review_interval")
            default, section = default_interval(page.rel)
            yield Problem(rel, line, col, "RV005", f"review_interval {data['review_interval']!r} is not like 90d or 12w: fix it, or leave it out for the {section} default ({default})")
