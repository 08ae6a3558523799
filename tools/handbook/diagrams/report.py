"""Write a diagram review for people: `summary.md` for a pull-request comment, `index.html` for everything.

`summary.md` stays short: per changed diagram, its changes as a list (at most
`MAX_ITEMS`, then a count) and links to its images. `index.html` is one
self-contained file (images inlined as data URIs, no scripts, no external
requests) showing every change list, overlay, and before/after pair.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from handbook.diagrams.overlay import COLOURS
from handbook.diagrams.review import DiagramReview, Review

MAX_ITEMS = 12
STATUS_WORDS = {
    "added": "new diagram",
    "removed": "diagram deleted",
    "changed": "changed",
    "failed": "could not be rendered",
}


def _title(review: Review) -> str:
    return f"Diagram changes: {review.base.short} → {review.head.short}"


def _links(item: DiagramReview) -> str:
    return " · ".join(f"[{role}]({path.as_posix()})" for role, path in item.images.items())


def summary_markdown(review: Review) -> str:
    """The review as short Markdown, fit for a pull-request comment.

    Args:
        review: The review.

    Returns:
        The Markdown text.
    """
    lines = [f"### {_title(review)}", ""]
    if not review.changed:
        if review.unchanged:
            names = ", ".join(f"`{d.name}`" for d in review.unchanged)
            lines.append(f"No diagram draws anything different ({names} re-rendered: same nodes and edges).")
        else:
            lines.append("No diagram changed: no diagram source, catalog or manifest differs.")
        return "\n".join(lines) + "\n"
    for item in review.changed:
        lines.append(f"**{item.name}** (`{item.source.as_posix()}`) — {STATUS_WORDS[item.status]}")
        lines.append("")
        for side, error in item.errors:
            lines.append(f"- {side}: `{error}`")
        if item.status in ("added", "removed"):
            rendered = item.after or item.before
            graph = rendered.graph if rendered is not None else None
            if graph is not None:
                lines.append(f"- {len(graph.nodes)} nodes, {len(graph.edges)} edges (listed in index.html)")
            if item.images:
                lines += ["", f"Images: {_links(item)}"]
            lines.append("")
            continue
        for change in item.changes[:MAX_ITEMS]:
            lines.append(f"- {change.describe()}")
        if len(item.changes) > MAX_ITEMS:
            lines.append(f"- … and {len(item.changes) - MAX_ITEMS} more (see index.html)")
        if item.images:
            lines += ["", f"Images: {_links(item)}"]
        lines.append("")
    if review.unchanged:
        names = ", ".join(f"`{d.name}`" for d in review.unchanged)
        lines.append(f"Re-rendered with no change in what they draw: {names}.")
        lines.append("")
    lines.append("Overlay colours: green added, red dashed removed, amber relabelled, grey unchanged.")
    return "\n".join(lines) + "\n"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figure(out: Path, item: DiagramReview, role: str) -> str:
    path = item.images.get(role)
    if path is None:
        return f'<figure class="missing"><figcaption>{role}: none</figcaption></figure>'
    return (
        f'<figure><a href="{html.escape(path.as_posix())}"><img alt="{html.escape(item.name)} {role}" '
        f'src="{_data_uri(out / path)}"></a><figcaption>{role}</figcaption></figure>'
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#212121}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2.5rem;border-top:1px solid #e0e0e0;padding-top:1rem}
code{background:#f5f5f5;padding:0 .2em;border-radius:3px}
ul.changes li{margin:.15rem 0}.added{color:%(added)s}.removed{color:%(removed)s}.relabelled,.moved{color:%(relabelled)s}
figure{margin:0}img{max-width:100%%;border:1px solid #e0e0e0;background:#fff}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem;margin-top:1rem}figcaption{color:#757575;font-size:.9rem}
.legend span{display:inline-block;margin-right:1rem}.error{color:%(removed)s}
""" % {"added": COLOURS["added"].line, "removed": COLOURS["removed"].line, "relabelled": COLOURS["relabelled"].line}


def index_html(review: Review) -> str:
    """The whole review as one self-contained HTML page (images inlined, no scripts).

    Args:
        review: The review, with its images already written.

    Returns:
        The HTML text.
    """
    out = review.out
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{html.escape(_title(review))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(_title(review))}</h1>",
        '<p class=legend><span class=added>■ added</span><span class=removed>■ removed (dashed)</span>'
        '<span class=relabelled>■ relabelled</span><span style="color:#9e9e9e">■ unchanged</span></p>',
    ]
    if not review.changed:
        parts.append("<p>No diagram draws anything different between these revisions.</p>")
    for item in review.changed:
        parts.append(
            f'<h2 id="{html.escape(item.name)}">{html.escape(item.name)} '
            f"<small>(<code>{html.escape(item.source.as_posix())}</code>, {STATUS_WORDS[item.status]})</small></h2>"
        )
        items = [f'<li class=error>{side}: <code>{html.escape(str(error))}</code></li>' for side, error in item.errors]
        items += [f'<li class="{c.kind}">{html.escape(c.describe())}</li>' for c in item.changes]
        parts.append(f'<ul class=changes>{"".join(items)}</ul>')
        if "overlay" in item.images:
            parts.append(_figure(out, item, "overlay"))
        parts.append(f'<div class=pair>{_figure(out, item, "before")}{_figure(out, item, "after")}</div>')
    if review.unchanged:
        names = ", ".join(f"<code>{html.escape(d.name)}</code>" for d in review.unchanged)
        parts.append(f"<p>Re-rendered with no change in what they draw: {names}.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(review: Review) -> tuple[Path, Path]:
    """Write `summary.md` and `index.html` into the review's output folder.

    Returns:
        The two files.
    """
    summary = review.out / "summary.md"
    index = review.out / "index.html"
    summary.write_text(summary_markdown(review), encoding="utf-8")
    index.write_text(index_html(review), encoding="utf-8")
    return summary, index
