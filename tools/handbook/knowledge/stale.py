"""Which pages are due for review, and why: the calendar, or a change to what they describe."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from handbook.knowledge.affected import ChangeDue, DueByChange, due_by_change
from handbook.knowledge.review import PageReview, page_reviews
from handbook.project import Project


@dataclass(frozen=True)
class Status:
    """The review status of one page on a date.

    Attributes:
        page: The page's review state.
        as_of: The date the status is for.
        overdue: Whether its interval has passed (or it was never reviewed).
        changed: Why something it describes changed after its review, or `None`.
    """

    page: PageReview
    as_of: dt.date
    overdue: bool
    changed: ChangeDue | None

    @property
    def due(self) -> bool:
        """Whether the page is due for review, by calendar or by change."""
        return self.overdue or self.changed is not None

    @property
    def due_since(self) -> dt.date | None:
        """The earliest date it became due (`None` when it is not due; never-reviewed pages: `date.min`)."""
        dates = []
        if self.overdue:
            dates.append(self.page.next_due or dt.date.min)
        if self.changed is not None:
            dates.append(self.changed.since)
        return min(dates) if dates else None

    def why(self) -> list[str]:
        """Each reason it is due, one line each."""
        lines = []
        if self.overdue:
            if self.page.last_reviewed is None:
                lines.append("never reviewed (no valid last_reviewed)")
            else:
                late = (self.as_of - self.page.next_due).days if self.page.next_due else 0
                lines.append(f"review was due {self.page.next_due} ({late} day(s) ago; every {self.page.interval})")
        if self.changed is not None:
            lines.append(f"something it describes changed after its review on {self.page.last_reviewed}:")
            lines += [f"  {reason.describe()}" for reason in self.changed.reasons]
        return lines


def statuses(project: Project, as_of: dt.date | None = None, by_change: DueByChange | None = None) -> list[Status]:
    """The review status of every page.

    Args:
        project: The checkout.
        as_of: The date to judge by (default: today).
        by_change: Pages due by change (default: computed from history).

    Returns:
        One status per page, in path order.
    """
    day = as_of or dt.date.today()
    changed = (by_change or due_by_change(project)).pages
    return [Status(page, day, page.overdue(day), changed.get(page.rel)) for page in page_reviews(project)]


def stale_by_owner(items: list[Status]) -> dict[str, list[Status]]:
    """The due pages grouped by owner, soonest-due first within a group; groups by their soonest page.

    Args:
        items: Page statuses.

    Returns:
        Owner (`(no owner)` when missing) to its due pages.
    """
    groups: dict[str, list[Status]] = {}
    for item in items:
        if item.due:
            groups.setdefault(item.page.owner or "(no owner)", []).append(item)
    for group in groups.values():
        group.sort(key=lambda s: (s.due_since or dt.date.min, s.page.rel))
    return dict(sorted(groups.items(), key=lambda kv: (kv[1][0].due_since or dt.date.min, kv[0])))


def render_text(groups: dict[str, list[Status]], as_of: dt.date, note: str | None) -> str:
    """The `handbook stale` report as text.

    Args:
        groups: From `stale_by_owner`.
        as_of: The date judged by.
        note: A note on history (shallow clone...), or `None`.

    Returns:
        The report.
    """
    lines = []
    if note:
        lines.append(f"note: {note}")
    if not groups:
        lines.append(f"No page is due for review as of {as_of}.")
        return "\n".join(lines)
    total = sum(len(g) for g in groups.values())
    lines.append(f"{total} page(s) due for review as of {as_of}, by owner (soonest first):")
    for owner, items in groups.items():
        lines.append("")
        lines.append(f"{owner} ({len(items)})")
        for item in items:
            reviewed = item.page.last_reviewed or "never"
            lines.append(f"  {item.page.rel}  (last reviewed {reviewed}, every {item.page.interval})")
            lines += [f"    {why}" for why in item.why()]
    return "\n".join(lines)
