"""Live values: `{@NAME}` in a page renders as today's value of a fact, linked to its entry.

The syntax is `{@` + a fact name + `}`, e.g. `{@config.fanout.listener_cap}`.
It was chosen because it collides with nothing a runbook already contains:

- alert templates and Jinja open with `{{`, `{%` or `{#`, never `{@`;
- PromQL opens label matchers with `{` followed by a label name or `}`, and `@`
  is not a label character (its `@` modifier never follows `{`); ranges are `[5m]`;
- shell expands `${X}` and `$(...)` (a `$` before the brace, which the pattern
  refuses), `{a,b}` needs a comma, a group `{ cmd; }` a space, tests are `[[ ]]`;
- Markdown links are `[text](url)`; attr_list is `{#id}`, `{.class}`, `{: ...}`
  or `{key=value}` - `@` starts none of them.

In prose it becomes a link to the fact's reference entry; inside code (fenced
blocks and inline code spans) it becomes the bare value, so commands stay
copy-pasteable. `\\{@...}` is an escape that renders `{@...}` literally.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from handbook.facts import Fact, Facts
from handbook.mdscan import MarkdownPage

REFERENCE = re.compile(r"(?<![$\\])\{@(?P<body>[^{}\n]*)\}")
ESCAPED = re.compile(r"\\(?=\{@)")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Reference:
    """One `{@NAME}` occurrence in a file.

    Attributes:
        name: The fact name inside the braces (stripped).
        line: 1-based line in the file.
        col: 1-based column of the `{`.
        start: Offset of the `{` in its line.
        end: Offset just after the `}` in its line.
        in_code: Whether it sits in a fenced block or an inline code span.
    """

    name: str
    line: int
    col: int
    start: int
    end: int
    in_code: bool

    @property
    def well_formed(self) -> bool:
        """Whether the name is a dotted identifier (letters, digits, `_ . -`)."""
        return bool(NAME.match(self.name))


@dataclass(frozen=True)
class RenderError:
    """A live value that cannot be rendered.

    Attributes:
        line: 1-based line.
        col: 1-based column.
        code: `RF001` (unknown fact) or `RF002` (malformed reference).
        message: What is wrong and the closest valid name.
    """

    line: int
    col: int
    code: str
    message: str


def references(page: MarkdownPage, first_line: int = 1) -> Iterator[Reference]:
    """Every live value reference in a scanned page.

    Args:
        page: The scanned page.
        first_line: The file line of the page text's first line (for a body without its front matter).

    Yields:
        The references, in file order.
    """
    if "{@" not in page.text:
        return
    offset = first_line - 1
    rows: list[tuple[int, str, bool, object]] = [(pl.line, pl.text, False, pl) for pl in page.prose if "{@" in pl.text]
    rows += [(cl.line, cl.text, True, cl) for block in page.code_blocks for cl in block.lines if "{@" in cl.text]
    for line, text, in_block, row in sorted(rows, key=lambda r: r[0]):
        if "{@" not in text:
            continue
        shift = getattr(row, "col", 1) - 1
        for match in REFERENCE.finditer(text):
            in_code = in_block or row.in_code_span(match.start())  # type: ignore[attr-defined]
            yield Reference(match["body"].strip(), line + offset, match.start() + shift + 1, match.start(), match.end(), in_code)


def check_reference(ref: Reference, facts: Facts) -> RenderError | None:
    """Why a reference cannot be rendered, or `None` when it resolves.

    Args:
        ref: The reference.
        facts: The tree's facts.

    Returns:
        The error, with the closest valid name suggested.
    """
    if not ref.well_formed:
        return RenderError(ref.line, ref.col, "RF002", f"malformed live value {{@{ref.name}}}: write {{@kind.name}}, e.g. {{@config.fanout.listener_cap}}")
    if facts.get(ref.name) is None:
        return RenderError(ref.line, ref.col, "RF001", f"unknown live value {{@{ref.name}}}: {facts.why_missing(ref.name)}")
    return None


def code_span(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    body = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{'`' * (longest + 1)}{pad}{body}{pad}{'`' * (longest + 1)}"


def link_markdown(fact: Fact, page_uri: str, linkable: Callable[[str], bool]) -> str:
    """A fact as prose: its value, in code when it is a name, linked to its entry when that exists.

    Args:
        fact: The fact.
        page_uri: The docs-relative path of the page it appears on, e.g. `runbooks/x.md`.
        linkable: Whether a docs-relative page path is part of the site.

    Returns:
        Markdown.
    """
    shown = code_span(fact.text) if fact.literal else fact.text.replace("|", "\\|")
    if not fact.anchor or not linkable(fact.anchor.split("#", 1)[0]):
        return shown
    target = posixpath.relpath(fact.anchor.split("#", 1)[0], posixpath.dirname(page_uri) or ".")
    fragment = "#" + fact.anchor.split("#", 1)[1] if "#" in fact.anchor else ""
    return f'[{shown}]({target}{fragment} "{fact.name}")'


def render(text: str, facts: Facts, page_uri: str, linkable: Callable[[str], bool], first_line: int = 1) -> tuple[str, list[RenderError]]:
    """Replace every live value in a page body with today's value.

    Args:
        text: The Markdown body (front matter already removed).
        facts: The tree's facts.
        page_uri: The docs-relative path of the page, for relative links.
        linkable: Whether a docs-relative page path is part of the site.
        first_line: The file line of the body's first line, for error positions.

    Returns:
        The rendered Markdown, and every reference that could not be rendered
        (left as written).
    """
    if "{@" not in text:
        return text, []
    page = MarkdownPage(text, front_matter=False)
    lines = text.split("\n")
    errors: list[RenderError] = []
    by_line: dict[int, list[Reference]] = {}
    for ref in references(page, first_line):
        by_line.setdefault(ref.line - first_line, []).append(ref)
    for index, refs in by_line.items():
        line = lines[index]
        for ref in sorted(refs, key=lambda r: r.start, reverse=True):
            error = check_reference(ref, facts)
            if error is not None:
                errors.append(error)
                continue
            fact = facts.get(ref.name)
            assert fact is not None
            shown = fact.text if ref.in_code else link_markdown(fact, page_uri, linkable)
            start, end = _locate(line, ref)
            line = line[:start] + shown + line[end:]
        lines[index] = line
    rendered = "\n".join(lines)
    return ESCAPED.sub("", rendered), sorted(errors, key=lambda e: (e.line, e.col))


def _locate(line: str, ref: Reference) -> tuple[int, int]:
    """The span of a reference in its raw line (its column already counts any fence indentation)."""
    start = ref.col - 1
    return start, start + (ref.end - ref.start)
