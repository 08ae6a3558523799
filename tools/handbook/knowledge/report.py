"""The `handbook affected` report, as text for a terminal and as Markdown for a pull-request comment."""

from __future__ import annotations

from handbook.knowledge.affected import Comparison

MARKER = "<!-- handbook:affected-pages -->"
"""The hidden marker the pull-request workflow finds its own comment by."""


def affected_text(comparison: Comparison, since: str) -> str:
    """The report as text: each affected page with its owner, then one line per reason.

    Args:
        comparison: The comparison.
        since: The revision as the user wrote it.

    Returns:
        The text.
    """
    lines = [f"note: {n}" for n in comparison.notes]
    if not comparison.changes:
        lines.append(f"Nothing in stack/ that pages refer to changed since {since}.")
        return "\n".join(lines)
    lines.append(f"{len(comparison.changes)} subject(s) of stack/ changed since {since} ({comparison.base[:12]}); "
                 f"{len(comparison.affected)} page(s) refer to them:")
    for item in comparison.affected:
        lines.append("")
        lines.append(f"{item.page.rel}  (owner {item.page.owner or '?'}, last reviewed {item.page.last_reviewed or 'never'})")
        for reason in item.reasons:
            lines.append(f"  {item.page.rel}:{reason.line}: {reason.how} - {reason.change.describe()}")
    unreferenced = sorted(set(comparison.changes) - {r.change.key for i in comparison.affected for r in i.reasons})
    if unreferenced:
        lines.append("")
        lines.append(f"changed, but no page refers to it ({len(unreferenced)}): "
                     + ", ".join(comparison.changes[k].describe().split(" changed:")[0] for k in unreferenced[:20])
                     + (" ..." if len(unreferenced) > 20 else ""))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def affected_markdown(comparison: Comparison, since: str) -> str:
    """The report as Markdown for one pull-request comment (starts with the hidden marker).

    Args:
        comparison: The comparison.
        since: The revision as the user wrote it.

    Returns:
        The Markdown.
    """
    lines = [MARKER, "### Pages to review: what they describe changed", ""]
    lines += [f"> note: {_cell(n)}" for n in comparison.notes]
    if not comparison.affected:
        lines.append(f"No page or runbook refers to anything this change alters in `stack/` (compared with `{comparison.base[:12]}`).")
        return "\n".join(lines)
    lines.append(f"{len(comparison.affected)} page(s) refer to something changed since `{comparison.base[:12]}`. "
                 "Review each, then set its `last_reviewed` to today.")
    lines.append("")
    lines.append("| page | owner | line | reference | change |")
    lines.append("|---|---|---|---|---|")
    for item in comparison.affected:
        for reason in item.reasons:
            lines.append(f"| `{item.page.rel}` | {item.page.owner or '?'} | {reason.line} | {_cell(reason.how)} | {_cell(reason.change.describe())} |")
    return "\n".join(lines)
