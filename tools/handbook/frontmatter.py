"""Split a Markdown file into its YAML front matter and its body.

Front matter is the block between a first line of `---` and the next line of
`---`, as MkDocs reads it. Line numbers are kept so errors point at the file's
own lines, not at lines inside the block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

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
    """

    data: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_line: int = 1
    present: bool = False
    error: tuple[int, int, str, str] | None = None


def parse(text: str) -> FrontMatter:
    """Parse the front matter of a Markdown document without raising.

    Args:
        text: The whole file.

    Returns:
        The parsed front matter; problems are recorded in `FrontMatter.error`
        with codes `FM001` (YAML error), `FM002` (block not closed) or
        `FM003` (block is not a mapping).
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != FENCE:
        return FrontMatter(body=text)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n") == FENCE:
            end = index
            break
    else:
        return FrontMatter(
            body=text,
            present=True,
            error=(1, 1, "FM002", "front matter opened with '---' but never closed: add a closing '---' line"),
        )
    block = "".join(lines[1:end])
    body = "".join(lines[end + 1 :])
    result = FrontMatter(body=body, body_line=end + 2, present=True)
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = (mark.line + 2) if mark is not None else 2
        col = (mark.column + 1) if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        result.error = (line, col, "FM001", f"front matter is not valid YAML: {problem}")
        return result
    if data is None:
        return result
    if not isinstance(data, dict):
        result.error = (2, 1, "FM003", f"front matter must be a mapping of keys to values, not a {type(data).__name__}")
        return result
    result.data = data
    return result
