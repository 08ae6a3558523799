"""Small Markdown builders shared by the reference generators.

Generated pages are Markdown that MkDocs renders like any hand-written page, so
links between them are checked by `mkdocs build --strict` like any other link.
"""

from __future__ import annotations

import enum
import json
import posixpath
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml


def code(text: object) -> str:
    """An inline code span that survives backticks in `text`.

    Args:
        text: What to show literally.

    Returns:
        The Markdown code span.
    """
    body = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or longest else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def text(value: object) -> str:
    """Plain text safe inside a table cell or a heading: no raw HTML, line breaks, bare pipes or braces.

    Braces are escaped so that text such as `{@NAME}` is neither read as an attribute
    list (which would swallow a heading's anchor) nor as a live value.

    Args:
        value: The text, e.g. a description from a schema.

    Returns:
        The escaped text.
    """
    escaped = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace("{", "&#123;").replace("}", "&#125;")
    return " ".join(escaped.split()).replace("|", "\\|")


def value(data: Any) -> str:
    """A value as a reader would write it in YAML: `true`, `null`, `5`, `[a, b]`.

    Args:
        data: A value from a schema default or a configuration file.

    Returns:
        The value as text (not yet a code span).
    """
    if isinstance(data, enum.Enum):
        data = data.value
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, str):
        return data if data else '""'
    if isinstance(data, (int, float)):
        return str(data)
    try:
        return json.dumps(data, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(data)


def heading(level: int, title: str, anchor: str) -> str:
    """A heading with an explicit, stable anchor (the one `handbook.anchors` defines).

    Args:
        level: 1 to 6.
        title: The heading text (Markdown).
        anchor: The fragment after `#`, without the `#`.

    Returns:
        The heading line.
    """
    return f"{'#' * level} {title} {{ #{anchor} }}"


def fragment(target: str) -> str:
    """The part after `#` of an anchor path such as `reference/config.md#fanout.listener_cap`."""
    return target.partition("#")[2]


def link(from_page: str, target: str) -> str:
    """A relative link from one docs page to another page or anchor.

    Args:
        from_page: The docs-relative path of the page that holds the link, e.g. `components/fanout.md`.
        target: A docs-relative target from `handbook.anchors`, e.g. `reference/config.md#fanout.listener_cap`.

    Returns:
        The relative URL MkDocs resolves and validates, e.g. `../reference/config.md#fanout.listener_cap`,
        or just `#fanout.listener_cap` on the same page.
    """
    path, _, anchor = target.partition("#")
    if path == from_page:
        return f"#{anchor}"
    rel = posixpath.relpath(path, posixpath.dirname(from_page) or ".")
    return f"{rel}#{anchor}" if anchor else rel


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; cells must already be escaped (see `text` and `code`).

    Args:
        header: The column titles.
        rows: The rows, one string per cell.

    Returns:
        The table, or `""` when there are no rows.
    """
    body = [f"| {' | '.join(row)} |" for row in rows]
    if not body:
        return ""
    return "\n".join([f"| {' | '.join(header)} |", f"|{'---|' * len(header)}", *body])


def note(kind: str, title: str, body: str) -> str:
    """An admonition block (`note`, `warning`...).

    Args:
        kind: The admonition type.
        title: Its title.
        body: Its Markdown body (one paragraph).

    Returns:
        The block.
    """
    return f'!!! {kind} "{title}"\n\n    {body}\n'


def page(title: str, intro: str, *blocks: str, front_matter: dict[str, Any] | None = None) -> str:
    """Assemble a generated page: front matter, a title, an introduction and its blocks.

    Args:
        title: The page title (also its `# ` heading).
        intro: The first paragraph: what the page is generated from.
        *blocks: The rest of the page; empty blocks are skipped.
        front_matter: Extra front matter keys (`generated: true` and the title are always set).

    Returns:
        The whole page.
    """
    meta = {"title": title, "generated": True, **(front_matter or {})}
    head = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n"
    parts = [f"# {title}", intro, *(b.strip("\n") for b in blocks if b and b.strip())]
    return head + "\n\n".join(parts) + "\n"
