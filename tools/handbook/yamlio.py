"""YAML with line numbers: load a document and ask where any key or item came from.

Checks must name the line of the value they complain about, and build errors
must name the line of the syntax error. PyYAML's composer already knows every
node's position; this module keeps it next to the plain data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handbook.errors import HandbookError

PathKey = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded YAML document and the 1-based line of every key path in it.

    Attributes:
        path: The file it was read from.
        data: The plain Python data, as `yaml.safe_load` would give it.
        lines: Key path (e.g. `("services", 0, "ports")`) to the line of its value.
    """

    path: Path
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, *keys: str | int) -> int:
        """The line of the value at `keys`, or of its nearest located parent (1 if none)."""
        probe: PathKey = tuple(keys)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


def _walk(node: yaml.Node, prefix: PathKey, lines: dict[PathKey, int]) -> None:
    lines[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _walk(value_node, (*prefix, key), lines)
            lines[(*prefix, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*prefix, index), lines)


def _error(path: Path, exc: yaml.YAMLError) -> HandbookError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    line = mark.line + 1 if mark is not None else None
    return HandbookError(f"YAML syntax error: {problem}; fix the file and retry", path=path, line=line)


def load_all(path: Path, text: str | None = None) -> Iterator[Located]:
    """Load every document of a (possibly multi-document) YAML file, with line numbers.

    Args:
        path: The file, used for reading (unless `text` is given) and in errors.
        text: The file's text, if already read.

    Yields:
        One `Located` per non-empty document.

    Raises:
        HandbookError: The file is not valid YAML; the error names file and line.
    """
    source = path.read_text(encoding="utf-8") if text is None else text
    try:
        nodes = list(yaml.compose_all(source, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(source))
    except yaml.YAMLError as exc:
        raise _error(path, exc) from None
    documents = [(n, d) for n, d in zip(nodes, datas) if n is not None]
    for node, data in documents:
        lines: dict[PathKey, int] = {}
        _walk(node, (), lines)
        yield Located(path, data, lines)


def load(path: Path, text: str | None = None) -> Located:
    """Load a single-document YAML file with line numbers (an empty file gives `None` data).

    Args:
        path: The file.
        text: The file's text, if already read.

    Returns:
        The document.

    Raises:
        HandbookError: The file is not valid YAML; the error names file and line.
    """
    documents = list(load_all(path, text))
    return documents[0] if documents else Located(path, None, {(): 1})
