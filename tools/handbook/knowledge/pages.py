"""What the site shows about knowledge: a review line on every page, a banner on a due page, and two reports.

- Every hand-written page ends with its owner, last review and next review due.
- A page due for review - its interval passed, or something it describes changed after its
  review - opens with a banner saying why.
- `reference/review.md` lists every page's review state; `reference/knowledge-risk.md` is the
  knowledge-risk report with its chart, `reference/knowledge-risk.svg`.
"""

from __future__ import annotations

import datetime as dt
import html
import posixpath
import re

from handbook import anchors
from handbook.knowledge import risk as risk_mod
from handbook.knowledge.affected import due_by_change
from handbook.knowledge.chart import risk_chart
from handbook.knowledge.review import REVIEW_INTERVALS, PageReview
from handbook.knowledge.stale import Status, statuses
from handbook.project import Project

REVIEW_PAGE = anchors.REVIEW_PAGE
RISK_PAGE = anchors.RISK_PAGE
RISK_CHART = "reference/knowledge-risk.svg"
BANNER_CLASS = "handbook-review-banner"
FOOTER_CLASS = "handbook-review"
H1 = re.compile(r"^# .*$", re.MULTILINE)
DEFAULTS_MARKER = "<!-- handbook:review-defaults -->"


def defaults_table() -> str:
    """The section defaults of `review_interval` as a Markdown table (from `REVIEW_INTERVALS`, so it cannot drift)."""
    rows = ["| section | default review interval |", "|---|---|"]
    rows += [f"| `{section}/` | {interval} |" for section, interval in REVIEW_INTERVALS.items()]
    return "\n".join(rows)


def _statuses(project: Project) -> dict[str, Status]:
    """Every page's status today, computed once per build."""
    cache = project.__dict__
    if "_review_statuses" not in cache:
        cache["_review_statuses"] = {s.page.rel: s for s in statuses(project, dt.date.today(), due_by_change(project))}
    return cache["_review_statuses"]


def source_of(uri: str) -> str:
    """The project-relative file of a docs-relative page (`runbooks/x.md` stays, others gain `docs/`)."""
    return uri if uri.startswith("runbooks/") else f"docs/{uri}"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def footer(page: PageReview) -> str:
    """The review line at the end of a page."""
    due = page.next_due or "now (never reviewed)"
    return (
        f'\n\n<div class="{FOOTER_CLASS}" markdown>\n'
        f"Owner: **{_esc(page.owner or 'nobody')}** · Last reviewed: **{_esc(page.last_reviewed or 'never')}** · "
        f"Next review due: **{_esc(due)}** (every {_esc(page.interval)})\n</div>\n"
    )


def banner(status: Status) -> str:
    """The banner at the top of a page due for review, saying why."""
    items = []
    if status.overdue:
        if status.page.last_reviewed is None:
            items.append("It has never been reviewed.")
        else:
            items.append(f"Its review was due on {status.page.next_due} (reviewed {status.page.last_reviewed}, every {status.page.interval}).")
    if status.changed is not None:
        items.append(f"Something it describes changed after its review on {status.page.last_reviewed}:")
        for reason in status.changed.reasons[:8]:
            items.append(f"    - line {reason.line}, `{reason.how.replace('`', '')}`: {_esc(reason.change.describe())}")
        if len(status.changed.reasons) > 8:
            items.append(f"    - and {len(status.changed.reasons) - 8} more (`handbook stale`)")
    body = "\n".join(items)
    return (
        f'<div class="admonition warning {BANNER_CLASS}" markdown>\n'
        f'<p class="admonition-title">Due for review</p>\n\n'
        f"This page may no longer be true. {body}\n\n"
        f"Owner **{_esc(status.page.owner or 'nobody')}**: check it against the system, fix it, then set `last_reviewed`.\n"
        "</div>\n\n"
    )


GENERATED_FOOTER = (
    f'\n\n<div class="{FOOTER_CLASS}" markdown>\n'
    "Generated from the sources of truth in `stack/` on every build: it is as current as the code, "
    "with nothing to review by hand.\n</div>\n"
)


def with_review(markdown: str, uri: str, project: Project, generated: bool = False) -> str:
    """A page's Markdown with its review line, and a banner when it is due.

    Args:
        markdown: The page body.
        uri: The docs-relative page path.
        project: The checkout.
        generated: Whether the page is generated at build time (it then says so instead).

    Returns:
        The Markdown with its review line (or generated-page line) appended.
    """
    if DEFAULTS_MARKER in markdown:
        markdown = markdown.replace(DEFAULTS_MARKER, defaults_table())
    status = _statuses(project).get(source_of(uri))
    if status is None:
        return markdown.rstrip("\n") + GENERATED_FOOTER if generated else markdown
    text = markdown.rstrip("\n") + footer(status.page)
    if not status.due:
        return text
    heading = H1.search(text)
    if heading is not None and not text[: heading.start()].strip():
        return text[: heading.end()] + "\n\n" + banner(status) + text[heading.end() :].lstrip("\n")
    return banner(status) + text


def review_page(project: Project) -> str:
    """`reference/review.md`: every page's owner, last review, next review due and whether it is due."""
    rows = ["| page | owner | last reviewed | every | next due | status |", "|---|---|---|---|---|---|"]
    items = sorted(_statuses(project).values(), key=lambda s: (not s.due, s.page.next_due or dt.date.min, s.page.rel))
    for status in items:
        page = status.page
        link = f"[{_esc(page.title).replace('|', '-')}]({posixpath.relpath(page.docs_uri, 'reference')})"
        why = []
        if status.overdue:
            why.append("overdue")
        if status.changed is not None:
            why.append(f"changed: {len(status.changed.reasons)} reference(s)")
        rows.append(
            f"| {link} | `{page.owner or '-'}` | {page.last_reviewed or 'never'} | {page.interval} | "
            f"{page.next_due or '-'} | {'**due** (' + ', '.join(why) + ')' if why else 'ok'} |"
        )
    note = due_by_change(project).note
    intro = (
        "Every hand-written page has an owner (a team of the catalog), a last review date and a review "
        "interval (defaults by section). A page is **due** when its interval has passed, or when something "
        "it describes in `stack/` changed after its last review. `handbook stale` lists the due pages by "
        "owner; `handbook affected --since REV` lists the pages a change touches."
    )
    parts = ["---", "title: Page review", "---", "", "# Page review", "", intro, ""]
    if note:
        parts += [f"!!! note \"History\"\n    {_esc(note)}", ""]
    parts += rows
    return "\n".join(parts) + "\n"


def risk_page(project: Project, report: risk_mod.RiskReport) -> str:
    """`reference/knowledge-risk.md`: the knowledge-risk report, worst service first, with its chart."""
    start, end = report.window
    lines = [
        "---", "title: Knowledge risk", "---", "", "# Knowledge risk", "",
        f"Where knowledge of each service sits with few people, from the catalog, the pages and git history "
        f"(authors from {start} to {end}). The **bus factor** is the fewest people who last wrote at least half of "
        "a service's current lines (`git blame`); the **truck factor** follows Avelino et al.: the fewest people "
        "whose leaving orphans more than half of its files. A **knowledge island** is a file at least 95 % one "
        "author's. Each finding adds to the score; worst first. `handbook risk --without \"NAME\"` shows what would "
        "be left if someone left.",
        "",
    ]
    lines += [f"!!! note\n    {_esc(n)}\n" for n in report.notes]
    lines += ["![Knowledge risk per service](knowledge-risk.svg)", ""]
    lines += ["| service | score | team | bus factor | truck factor | authors (code / pages) | islands | alerts with a runbook |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report.services:
        covered = f"{len(r.alerts) - len(r.uncovered)} of {len(r.alerts)}"
        lines.append(
            f"| [{r.service}](../components/{r.service}.md) | {r.score:g} | `{r.team}` | {r.bus_factor} | {r.truck_factor} | "
            f"{len(r.code_authors)} / {len(r.page_authors)} | {len(r.islands)} of {len(r.code_files) + len(r.pages)} | {covered} |"
        )
    for r in report.services:
        lines += ["", f"## {r.service}", ""]
        lines += [f"Team `{r.team}`: {_esc(', '.join(r.people) or 'nobody in the catalog')}. "
                  f"Authors in the window: {_esc(', '.join(sorted(set(r.code_authors) | set(r.page_authors))) or 'none')}.", ""]
        for finding in sorted(r.findings, key=lambda f: -f.points):
            lines.append(f"- **+{finding.points:g}** ({finding.category}) {_esc(finding.reason)}")
        if r.islands:
            shown = ", ".join(f"`{path}` ({_esc(who)})" for path, who in r.islands[:12])
            more = f" and {len(r.islands) - 12} more" if len(r.islands) > 12 else ""
            lines += ["", f"Knowledge islands: {shown}{more}."]
    return "\n".join(lines) + "\n"


def generate(project: Project) -> dict[str, str]:
    """The knowledge pages of the site and the risk chart, by docs-relative path.

    Args:
        project: The checkout.

    Returns:
        Path to content.
    """
    review = list(_statuses(project).values())
    report = risk_mod.build(project, review=review)
    return {REVIEW_PAGE: review_page(project), RISK_PAGE: risk_page(project, report), RISK_CHART: risk_chart(report)}
