"""YAML with line numbers, and the one-line error every bad source file gets.

Chorus refuses to start on a bad configuration, and the refusal must point at
the line to fix. PyYAML's composer knows where every node came from; this module
builds the plain data and a map from each key path to its line in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


class SourceError(Exception):
    """A source file (configuration, catalog) that a person must fix.

    Rendered on one line as `path:line: key: message`, so an editor can jump to it.

    Attributes:
        path: The file at fault.
        line: The 1-based line at fault, or `None` if unknown.
        key: The dotted key at fault (e.g. `fanout.listener_cap`), or `""`.
        message: What is wrong and what to do.
    """

    def __init__(self, message: str, path: Path | str, line: int | None = None, key: str = "") -> None:
        super().__init__(message)
        self.path = Path(path)
        self.line = line
        self.key = key
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


@dataclass
class LocatedDocument:
    """A YAML document as plain data, with the line of every key path.

    Attributes:
        path: The file it was read from.
        data: The plain data (`dict`, `list`, scalars), as `yaml.safe_load` gives it.
        lines: Key path (e.g. `("fanout", "listener_cap")`) to the 1-based line of its key.
    """

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, keys: KeyPath) -> int:
        """Return the line of `keys`, or of its nearest parent that has one (1 if none).

        Args:
            keys: A key path such as `("gateway", "port")`.

        Returns:
            The 1-based line.
        """
        probe = tuple(keys)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


def dotted(keys: KeyPath) -> str:
    """Render a key path as a dotted key: `("services", 0, "ports")` -> `services[0].ports`.

    Args:
        keys: The key path.

    Returns:
        The dotted key.
    """
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def _construct(
    loader: yaml.SafeLoader, node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int], path: Path
) -> Any:
    """Turn a composed node into plain data, recording lines and refusing duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if key in mapping:
                raise SourceError("duplicate key; keep one of them", path, key_line, dotted((*prefix, key)))
            lines[(*prefix, key)] = key_line
            mapping[key] = _construct(loader, value_node, (*prefix, key), lines, path)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + 1
            items.append(_construct(loader, item, (*prefix, index), lines, path))
        return items
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path | str, text: str | None = None) -> LocatedDocument:
    """Load a single-document YAML file with the line of every key.

    Args:
        path: The file; read unless `text` is given, and named in errors.
        text: The file's text, if already read.

    Returns:
        The document; an empty file gives `data=None`.

    Raises:
        SourceError: The file is missing, unreadable, not valid YAML, or repeats a key.
    """
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SourceError("file not found; pass an existing file", path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"cannot read the file ({exc.__class__.__name__}: {exc})", path) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        raise SourceError(f"YAML syntax error: {problem}; fix the syntax and retry", path, line) from None
    lines: dict[KeyPath, int] = {(): 1}
    if node is None:
        return LocatedDocument(path, None, lines)
    lines[()] = node.start_mark.line + 1
    loader = yaml.SafeLoader("")
    try:
        data = _construct(loader, node, (), lines, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SourceError(f"YAML error: {getattr(exc, 'problem', exc)}", path, line) from None
    finally:
        loader.dispose()
    return LocatedDocument(path, data, lines)
