"""The runbooks index: alert -> runbook -> severity -> owner, generated at build time.

`runbooks/index.md` holds the marker `<!-- handbook:runbook-index -->`; the
plugin replaces it with a table of every runbook, one row per alert it answers
(task runbooks get one row without an alert). An alert row's owner is the alert's own
`team` label - the team Alertmanager pages - not typed by hand, so a runbook that answers
alerts of two teams shows each alert with its team; a task row shows the runbook's owner. The table sits in a
`<div class="sortable">`, which `docs/javascripts/sortable-tables.js` makes
sortable by clicking a column header - a small local script, no CDN.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence

from handbook import anchors
from handbook.runbook import Runbook

MARKER = "<!-- handbook:runbook-index -->"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(books: Sequence[Runbook], alert_teams: Mapping[str, str], page_uri: str, linkable: Callable[[str], bool]) -> str:
    """The index table as Markdown.

    Args:
        books: Every runbook (those whose front matter does not validate are left out).
        alert_teams: Each alert in the rules to its `team` label; only these alerts are linked to the
            alert reference, and an alert row's owner is its team (the runbook's owner when unlabelled).
        page_uri: The docs-relative path of the page the table goes on.
        linkable: Whether a docs-relative page is part of the site.

    Returns:
        The Markdown: a sortable table (and a sentence when it has no rows).
    """
    rows: list[tuple[int, str, str, str]] = []
    here = posixpath.dirname(page_uri) or "."
    for rb in books:
        meta = rb.meta
        if meta is None:
            continue
        link = f"[{_cell(meta.title)}]({posixpath.relpath(anchors.runbook(rb.name), here)})"
        services = ", ".join(f"`{s}`" for s in meta.services)
        rank = SEVERITY_ORDER.get(meta.severity, 9)
        for alert in meta.alerts or [""]:
            if not alert:
                shown = "*(task)*"
            elif alert in alert_teams and linkable(anchors.ALERTS_PAGE):
                target = anchors.alert(alert)
                page, _, fragment = target.partition("#")
                shown = f"[`{alert}`]({posixpath.relpath(page, here)}#{fragment})"
            else:
                shown = f"`{alert}`"
            owner = alert_teams.get(alert) or meta.owner
            row = f"| {shown} | {link} | {meta.severity} | `{owner}` | {services} |"
            rows.append((rank if alert else 9, alert or "~", meta.title, row))
    rows.sort()
    head = "| Alert | Runbook | Severity | Owner | Services |\n|---|---|---|---|---|"
    body = "\n".join(r[3] for r in rows)
    empty = "" if rows else "\n\n*No runbook is written yet.*"
    return f'<div class="sortable" markdown>\n\n{head}\n{body}\n\n</div>{empty}'


def expand(markdown: str, books: Sequence[Runbook], alert_teams: Mapping[str, str], page_uri: str, linkable: Callable[[str], bool]) -> str:
    """Replace the index marker in a page with the table (a page without the marker is unchanged)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, table(books, alert_teams, page_uri, linkable))
