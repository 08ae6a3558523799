"""Split a Markdown file into its YAML front matter and its body.

Front matter is the block between a first line of `---` and the next line of
`---`, as MkDocs reads it (a leading byte-order mark is ignored). The block is
read by the project's one bounded YAML loader (`chorus.yamllines`: duplicate keys,
invalid dates, aliases and depth refused as one line). Line numbers are kept so
errors point at the file's own lines, not at lines inside the block. This is the
one front-matter parser; `handbook.mdscan` uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chorus.yamllines import BOM, SourceError, load_yaml

FENCE = "---"


@dataclass
class FrontMatter:
    """The parsed front matter of one Markdown file.

    Attributes:
        data: The mapping in the block; empty when the file has none.
        body: The Markdown after the block.
        body_line: The 1-based line of the file on which `body` starts.
        present: Whether the file has a front matter block at all.
        error: `(line, col, code, message)` when the block could not be read.
        positions: Key path to the `(line, col)` of its key (or item) in the file.
        end_line: The line of the closing `---` (0 when there is no block).
    """

    data: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_line: int = 1
    present: bool = False
    error: tuple[int, int, str, str] | None = None
    positions: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)
    end_line: int = 0


def parse(text: str) -> FrontMatter:
    """Parse the front matter of a Markdown document without raising.

    Args:
        text: The whole file.

    Returns:
        The parsed front matter; problems are recorded in `FrontMatter.error`
        with codes `FM001` (YAML error), `FM002` (block not closed) or
        `FM003` (block is not a mapping).
    """
    text = text.removeprefix(BOM)
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != FENCE:
        return FrontMatter(body=text)
    end = _closing_fence(lines)
    if end is None:
        return FrontMatter(
            body=text,
            present=True,
            error=(1, 1, "FM002", "front matter opened with '---' but never closed: add a closing '---' line"),
        )
    block = "".join(lines[1:end])
    body = "".join(lines[end + 1 :])
    result = FrontMatter(body=body, body_line=end + 2, present=True, end_line=end + 1)
    try:
        doc = load_yaml("front matter", text=block, line_offset=1)
    except SourceError as exc:
        key = f"{exc.key}: " if exc.key else ""
        result.error = (exc.line or 2, exc.column or 1, "FM001", f"front matter is not valid YAML: {key}{exc.message}")
        return result
    if doc.data is None:
        return result
    if not isinstance(doc.data, dict):
        result.error = (2, 1, "FM003", f"front matter must be a mapping of keys to values, not a {type(doc.data).__name__}")
        return result
    result.data = doc.data
    result.positions = {keys: (line, doc.columns.get(keys, 1)) for keys, line in doc.lines.items()}
    return result


def block_text(text: str) -> str:
    """The lines of a file's front matter block as written, without parsing them (`""` without a closed block).

    For a file whose block cannot be parsed, or whose bytes are not all text: what it names can
    still be looked for in its words.
    """
    lines = text.removeprefix(BOM).splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != FENCE:
        return ""
    end = _closing_fence(lines)
    return "".join(lines[1:end]) if end is not None else ""


def _closing_fence(lines: list[str]) -> int | None:
    """The index of the line that closes the front matter opened by `lines[0]`, or `None`."""
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") == FENCE:
            return index
    return None
