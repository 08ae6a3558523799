"""A line-accurate scan of a Markdown page: front matter, headings, code blocks, prose and links.

Checks must point at the exact line and column of what they complain about, so
this scanner keeps the file's own coordinates for everything it finds. It knows
just enough Markdown for that: fenced code blocks (at any indentation, so
fences inside lists and admonitions count), ATX headings, inline code spans and
inline links. Everything outside a fenced block is prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, NamedTuple


FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<text>.*?)[ \t]*#*[ \t]*$")
EXPLICIT_ID = re.compile(r"\{[^{}]*#(?P<id>[\w.\-:]+)[^{}]*\}\s*$")
CODE_SPAN = re.compile(r"(?P<ticks>`+)(?P<code>.+?)(?<!`)(?P=ticks)(?!`)")
LINK_TARGET = r"\((?P<target><[^<>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"\n]*\")?\)"
"""A link's `(target "title")` as CommonMark reads it: a target has no space (unless in `<...>`), no `<`
inside `<...>`, and only balanced parentheses (one level, `Foo_(bar)`), so each scan stops at the next
space, bracket or parenthesis and a long line is read in linear time."""
INLINE_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\[\]\n]*)\]" + LINK_TARGET)


@dataclass(frozen=True)
class Heading:
    """An ATX heading.

    Attributes:
        level: 1 to 6.
        text: The heading text, without `#`s and without a trailing `{#id}`.
        line: 1-based line in the file.
        col: 1-based column of the text.
        anchor: The id MkDocs gives it: the explicit `{#id}` or the slug of the text.
    """

    level: int
    text: str
    line: int
    col: int
    anchor: str


class CodeLine(NamedTuple):
    """One line inside a fenced code block (a named tuple: pages have thousands, made in one pass).

    Attributes:
        line: 1-based line in the file.
        col: 1-based column where `text` starts (after the fence's indentation).
        text: The line's content.
    """

    line: int
    col: int
    text: str


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block.

    Attributes:
        lang: The first word of the info string, lower-case (`bash`, `console`, `promql`...), or `""`.
        line: 1-based line of the opening fence.
        lines: The content lines.
    """

    lang: str
    line: int
    lines: tuple[CodeLine, ...]

    @property
    def text(self) -> str:
        """The block's content as one string."""
        return "\n".join(cl.text for cl in self.lines)


class ProseLine(NamedTuple):
    """A line outside code blocks and front matter (a named tuple, like `CodeLine`).

    Attributes:
        line: 1-based line in the file.
        text: The whole line.
    """

    line: int
    text: str

    def in_code_span(self, offset: int) -> bool:
        """Whether the character at `offset` lies inside an inline code span."""
        if "`" not in self.text:
            return False
        return any(start <= offset < end for start, end in _code_spans(self.text))


@lru_cache(maxsize=4096)
def _code_spans(text: str) -> tuple[tuple[int, int], ...]:
    """`(start, end)` offsets of the inline code spans of one line of text."""
    return tuple((m.start(), m.end()) for m in CODE_SPAN.finditer(text))


@lru_cache(maxsize=64)
def _fence_closer(char: str, length: int) -> re.Pattern[str]:
    """The line that closes a fence of `length` `char`s: at least as many, nothing else."""
    return re.compile(rf"^[ \t]*{re.escape(char)}{{{length},}}[ \t]*$")


@dataclass(frozen=True)
class Link:
    """An inline Markdown link or image.

    Attributes:
        target: The link target as written (angle brackets removed).
        line: 1-based line.
        col: 1-based column of the target.
        image: Whether it is an image (`![...](...)`).
    """

    target: str
    line: int
    col: int
    image: bool


@dataclass
class FrontMatterBlock:
    """The YAML header of a page with the file position of every key.

    Attributes:
        data: The mapping (empty when absent or unreadable).
        positions: Key path to `(line, col)` of the key (or item) in the file.
        end_line: The line of the closing `---` (0 when there is no block).
        error: `(line, col, message)` when the block could not be read.
        error_code: The front matter rule the error breaks (`FM001` to `FM003`), or `""`.
    """

    data: dict[str, Any] = field(default_factory=dict)
    positions: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)
    end_line: int = 0
    error: tuple[int, int, str] | None = None
    error_code: str = ""

    def position(self, *keys: str | int) -> tuple[int, int]:
        """`(line, col)` of the value at `keys`, or of its nearest known parent."""
        probe = tuple(keys)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))


@lru_cache(maxsize=4096)
def slugify(text: str) -> str:
    """The anchor Python-Markdown's `toc` extension gives a heading (its default slugify).

    Args:
        text: The heading text as written (Markdown markup is stripped first).

    Returns:
        The id, e.g. `What is happening` -> `what-is-happening`.
    """
    from markdown.extensions.toc import slugify as toc_slugify

    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = INLINE_LINK.sub(lambda m: m["text"], text)
    text = re.sub(r"<[^<>]+>|\*", "", text)
    return toc_slugify(text, "-")


def _front_matter(text: str) -> FrontMatterBlock:
    """The page's header, read by the one front-matter parser (`handbook.frontmatter.parse`)."""
    from handbook.frontmatter import parse

    parsed = parse(text)
    block = FrontMatterBlock(data=parsed.data, positions=parsed.positions, end_line=parsed.end_line)
    if parsed.error is not None:
        line, col, block.error_code, message = parsed.error
        block.error = (line, col, message)
        block.end_line = parsed.body_line - 1 if parsed.body_line > 1 else 0
    return block


class MarkdownPage:
    """One Markdown file, scanned once; parts are computed on first use.

    Args:
        text: The file's text.
        front_matter: Whether the text may start with a front matter block (False for a body
            whose front matter MkDocs already removed).
    """

    def __init__(self, text: str, front_matter: bool = True) -> None:
        text = text.removeprefix("\ufeff")
        self.text = text
        self._raw_lines = text.splitlines(keepends=True)
        self._has_front_matter = front_matter

    @cached_property
    def front_matter(self) -> FrontMatterBlock:
        """The YAML header, with key positions."""
        return _front_matter(self.text) if self._has_front_matter else FrontMatterBlock()

    @cached_property
    def _scan(self) -> tuple[list[Heading], list[CodeBlock], list[ProseLine]]:
        headings: list[Heading] = []
        blocks: list[CodeBlock] = []
        prose: list[ProseLine] = []
        start = self.front_matter.end_line
        lines = [line.rstrip("\r\n") for line in self._raw_lines]
        index = start
        while index < len(lines):
            line = lines[index]
            # Most lines are neither fences nor headings: test the first characters before a regex.
            opened = FENCE_OPEN.match(line) if line.lstrip(" \t")[:3] in ("```", "~~~") else None
            if opened:
                fence, indent = opened["fence"], opened["indent"]
                closer = _fence_closer(fence[0], len(fence))
                content: list[CodeLine] = []
                cursor = index + 1
                while cursor < len(lines) and not closer.match(lines[cursor]):
                    raw = lines[cursor]
                    strip = len(raw) - len(raw.lstrip(" \t"))
                    cut = min(strip, len(indent))
                    content.append(CodeLine(cursor + 1, cut + 1, raw[cut:]))
                    cursor += 1
                info = opened["info"].strip().lstrip("{").strip()
                lang = info.split()[0].lstrip(".").lower() if info else ""
                blocks.append(CodeBlock(lang, index + 1, tuple(content)))
                index = cursor + 1
                continue
            heading = HEADING.match(line) if line[:1] == "#" else None
            if heading:
                text = heading["text"]
                explicit = EXPLICIT_ID.search(text)
                clean = EXPLICIT_ID.sub("", text).strip() if explicit else text
                anchor = explicit["id"] if explicit else slugify(clean)
                headings.append(Heading(len(heading["hashes"]), clean, index + 1, heading.start("text") + 1, anchor))
            prose.append(ProseLine(index + 1, line))
            index += 1
        return headings, blocks, prose

    @property
    def headings(self) -> list[Heading]:
        """Every ATX heading outside code blocks, in order."""
        return self._scan[0]

    @property
    def code_blocks(self) -> list[CodeBlock]:
        """Every fenced code block, in order."""
        return self._scan[1]

    @property
    def prose(self) -> list[ProseLine]:
        """Every line outside front matter and fenced code blocks."""
        return self._scan[2]

    @cached_property
    def paragraphs(self) -> list[list[ProseLine]]:
        """The prose grouped into paragraphs: runs of consecutive non-blank prose lines."""
        found: list[list[ProseLine]] = []
        current: list[ProseLine] = []
        last = -1
        for line in self.prose:
            blank = not line.text.strip()
            if blank or line.line != last + 1:
                if current:
                    found.append(current)
                current = []
            if not blank:
                current.append(line)
            last = line.line
        if current:
            found.append(current)
        return found

    @cached_property
    def links(self) -> list[Link]:
        """Every inline link and image in prose (not inside inline code)."""
        found: list[Link] = []
        for pl in self.prose:
            if "](" not in pl.text:
                continue
            for match in INLINE_LINK.finditer(pl.text):
                if pl.in_code_span(match.start()):
                    continue
                target = match["target"].strip("<>")
                found.append(Link(target, pl.line, match.start("target") + 1, bool(match["bang"])))
        return found

    @cached_property
    def anchors(self) -> set[str]:
        """Every anchor a link may target on this page: heading ids, deduplicated as `toc` does, and explicit ids."""
        seen: dict[str, int] = {}
        ids: set[str] = set()
        for heading in self.headings:
            anchor = heading.anchor
            if anchor in seen:
                seen[anchor] += 1
                anchor = f"{anchor}_{seen[heading.anchor]}"
            else:
                seen[anchor] = 0
            ids.add(anchor)
        for pl in self.prose:
            for match in re.finditer(r"\{[^{}\n]*#([\w.\-:]+)[^{}\n]*\}|\bid=\"([^\"]+)\"", pl.text):
                ids.add(match.group(1) or match.group(2))
        return ids
