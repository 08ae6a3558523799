"""YAML with line numbers, bounded, and the one-line error every bad source file gets.

This is the one YAML loader of the project: the services load `chorus.yaml`
and the catalog with it, and the handbook loads the manifests, the alert rules
and every page's front matter with it. It composes with libyaml when available
(PyYAML's `CSafeLoader`, which still gives every node its mark), builds plain
data and a map from each key path to its line and column in one pass, and
refuses what would otherwise crash, hang or silently mislead:

- undecodable bytes (not UTF-8) - named by line;
- a leading byte-order mark is tolerated;
- duplicate keys in a mapping (the last would silently win);
- nesting deeper than `MAX_DEPTH`;
- more than `MAX_NODES` values once aliases are expanded (an "alias bomb" of a
  few hundred bytes would otherwise take minutes and gigabytes).

Every refusal is a `SourceError` naming the file and line, raised in well under a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences accepted (real files nest fewer than 15 levels)."""

MAX_NODES = 100_000
"""Most values a document may hold once aliases are expanded (real files hold a few thousand)."""

BOM = "\ufeff"

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (about ten times faster), else the pure one."""

_C_DEPTH_LIMIT = 1_000
"""libyaml composes recursively in C: text that could nest deeper than this has its depth measured
from the parser's events first (flat, no recursion), so it is refused before composing could
overflow the C stack."""


def _could_nest_deeper_than(text: str, limit: int) -> bool:
    """A cheap upper bound on nesting: flow brackets anywhere, plus the deepest indentation or dash run."""
    flow = text.count("[") + text.count("{")
    if flow > limit:
        return True
    block = max((len(line) - len(line.lstrip(" -")) for line in text.splitlines()), default=0)
    return flow + block > limit


class SourceError(Exception):
    """A source file (configuration, catalog, manifest, front matter) that a person must fix.

    Rendered on one line as `path:line: key: message`, so an editor can jump to it.

    Attributes:
        path: The file at fault.
        line: The 1-based line at fault, or `None` if unknown.
        key: The dotted key at fault (e.g. `fanout.listener_cap`), or `""`.
        message: What is wrong and what to do.
        column: The 1-based column at fault, or `None`.
    """

    def __init__(self, message: str, path: Path | str, line: int | None = None, key: str = "", column: int | None = None) -> None:
        super().__init__(message)
        self.path = Path(path)
        self.line = line
        self.key = key
        self.message = message
        self.column = column

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


@dataclass
class LocatedDocument:
    """A YAML document as plain data, with the line of every key path.

    Attributes:
        path: The file it was read from.
        data: The plain data (`dict`, `list`, scalars), as `yaml.safe_load` gives it.
        lines: Key path (e.g. `("fanout", "listener_cap")`) to the 1-based line of its key
            (of the item, in a sequence).
        columns: Key path to the 1-based column of its key (of the item, in a sequence).
    """

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    columns: dict[KeyPath, int] = field(default_factory=dict)

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

    def position(self, keys: KeyPath) -> tuple[int, int]:
        """The `(line, column)` of `keys`, or of its nearest located parent.

        Args:
            keys: A key path.

        Returns:
            1-based line and column.
        """
        probe = tuple(keys)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return self.lines.get(probe, 1), self.columns.get(probe, 1)


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


def decode(path: Path | str, raw: bytes) -> str:
    """Decode a source file as UTF-8, dropping a leading byte-order mark.

    Args:
        path: The file, named in errors.
        raw: Its bytes.

    Returns:
        The text.

    Raises:
        SourceError: A byte is not UTF-8 (names the line and column of the first one).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise SourceError(
            f"byte 0x{raw[exc.start]:02X} is not UTF-8: save the file as UTF-8", path, line, column=column
        ) from None
    return text.removeprefix(BOM)


def read_source(path: Path | str) -> str:
    """Read a source file as UTF-8 text (BOM tolerated).

    Args:
        path: The file.

    Returns:
        Its text.

    Raises:
        SourceError: The file is missing, unreadable, or not UTF-8.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceError("file not found; pass an existing file", path) from None
    except OSError as exc:
        raise SourceError(f"cannot read the file ({exc.__class__.__name__}: {exc.strerror or exc})", path) from None
    return decode(path, raw)


class _Builder:
    """Turns one composed node tree into plain data, recording positions and enforcing the bounds."""

    def __init__(self, path: Path, line_offset: int) -> None:
        self.path = path
        self.offset = line_offset
        self.nodes = 0
        self.lines: dict[KeyPath, int] = {}
        self.columns: dict[KeyPath, int] = {}
        self.constructor = yaml.constructor.SafeConstructor()

    def _mark(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1 + self.offset, node.start_mark.column + 1

    def _refuse(self, message: str, node: yaml.Node, keys: KeyPath) -> SourceError:
        line, column = self._mark(node)
        key = dotted(keys)
        return SourceError(message, self.path, line, key if len(key) <= 80 else "..." + key[-77:], column=column)

    def build(self, node: yaml.Node, keys: KeyPath = ()) -> Any:
        """Plain data for `node` at key path `keys`."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._refuse(f"more than {MAX_NODES:,} values (aliases expanded): aliases are limited; "
                               "write the values out or shrink the file", node, keys)
        if len(keys) > MAX_DEPTH:
            raise self._refuse(f"nested more than {MAX_DEPTH} levels deep; flatten the structure", node, keys)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # `<<:` merge keys, as safe_load does
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self._refuse("a mapping key must be a plain value, not a list or mapping", key_node, keys)
                key = self.constructor.construct_object(key_node)
                if key in mapping:
                    raise self._refuse("duplicate key; keep one of them",
                                       key_node, (*keys, key))
                self.lines[(*keys, key)], self.columns[(*keys, key)] = self._mark(key_node)
                mapping[key] = self.build(value_node, (*keys, key))
            return mapping
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*keys, index)], self.columns[(*keys, index)] = self._mark(item)
                items.append(self.build(item, (*keys, index)))
            return items
        try:
            return self.constructor.construct_object(node)
        except (ValueError, OverflowError) as exc:  # e.g. a date such as 2026-02-30
            raise self._refuse(f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}: {exc}", node, keys) from None


def syntax_error(path: Path, exc: yaml.YAMLError, line_offset: int = 0, text: str = "") -> SourceError:
    """A YAML parser's error as one line at the line and column of its mark (PyYAML's own text spans several).

    Args:
        path: The file, named in the error.
        exc: The parser's error.
        line_offset: Lines before the parsed text in its file (front matter starts after `---`).
        text: The parsed text, so an unexpected end is not placed past the last line.

    Returns:
        The error to raise.
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    last = (text.rstrip("\n").count("\n") + 1) if text else None  # libyaml marks an unexpected end one line past it
    line = min(mark.line + 1, last or mark.line + 1) + line_offset if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return SourceError(f"YAML syntax error: {problem}; fix the syntax and retry", path, line, column=column)


def _expanded_size(node: yaml.Node, path: Path, line_offset: int) -> int:
    """How many values `node` holds once aliases are expanded, refusing depth and size before building.

    Shared (aliased) nodes are sized once and remembered, so an alias bomb is measured in
    microseconds instead of being expanded.
    """
    sizes: dict[int, int] = {}

    def size(current: yaml.Node, depth: int) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        if depth > MAX_DEPTH:
            raise SourceError(f"nested more than {MAX_DEPTH} levels deep; flatten the structure", path,
                              current.start_mark.line + 1 + line_offset, column=current.start_mark.column + 1)
        total = 1
        if isinstance(current, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in current.value)
        elif isinstance(current, yaml.SequenceNode):
            total += sum(size(item, depth + 1) for item in current.value)
        if total > MAX_NODES:
            raise SourceError(f"more than {MAX_NODES:,} values once aliases are expanded (an alias bomb?): "
                              "write the values out or shrink the file", path,
                              current.start_mark.line + 1 + line_offset, column=current.start_mark.column + 1)
        sizes[id(current)] = total
        return total

    return size(node, 0)


def _document(path: Path, node: yaml.Node | None, line_offset: int) -> LocatedDocument:
    """One composed document as a `LocatedDocument`."""
    if node is None:
        return LocatedDocument(path, None, {(): 1 + line_offset}, {(): 1})
    _expanded_size(node, path, line_offset)
    builder = _Builder(path, line_offset)
    builder.lines[()], builder.columns[()] = builder._mark(node)
    try:
        data = builder.build(node)
    except yaml.YAMLError as exc:
        raise syntax_error(path, exc, line_offset) from None
    except RecursionError:
        raise SourceError(f"nested more than {MAX_DEPTH} levels deep; flatten the structure", path,
                          node.start_mark.line + 1 + line_offset) from None
    return LocatedDocument(path, data, builder.lines, builder.columns)


def _refuse_deep_events(path: Path, text: str, line_offset: int) -> None:
    """Walk the parser's events (no composing, no recursion) and refuse nesting beyond `MAX_DEPTH`."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH + 1:
                    mark = event.start_mark
                    line, column = (mark.line, mark.column) if mark is not None else (0, 0)
                    raise SourceError(f"nested more than {MAX_DEPTH} levels deep; flatten the structure", path,
                                      line + 1 + line_offset, column=column + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise syntax_error(path, exc, line_offset, text) from None


def load_yaml_all(path: Path | str, text: str | None = None, line_offset: int = 0) -> Iterator[LocatedDocument]:
    """Load every document of a (possibly multi-document) YAML file, with line numbers.

    Args:
        path: The file; read unless `text` is given, and named in errors.
        text: The file's text, if already read (a leading BOM is dropped).
        line_offset: Lines before the YAML in its file (front matter starts after `---`).

    Yields:
        One `LocatedDocument` per non-empty document.

    Raises:
        SourceError: The file is missing, not UTF-8, not valid YAML, repeats a key, or exceeds the bounds.
    """
    path = Path(path)
    text = read_source(path) if text is None else text.removeprefix(BOM)
    if _could_nest_deeper_than(text, _C_DEPTH_LIMIT):
        _refuse_deep_events(path, text, line_offset)
    loader = _Loader(text)
    try:
        while loader.check_node():
            try:
                node = loader.get_node()
            except RecursionError:
                raise SourceError(f"nested more than {MAX_DEPTH} levels deep; flatten the structure", path) from None
            if node is not None:
                yield _document(path, node, line_offset)
    except yaml.YAMLError as exc:
        raise syntax_error(path, exc, line_offset, text) from None
    finally:
        loader.dispose()


def load_yaml(path: Path | str, text: str | None = None, line_offset: int = 0) -> LocatedDocument:
    """Load a single-document YAML file with the line of every key.

    Args:
        path: The file; read unless `text` is given, and named in errors.
        text: The file's text, if already read.
        line_offset: Lines before the YAML in its file.

    Returns:
        The document; an empty file gives `data=None`.

    Raises:
        SourceError: The file is missing, unreadable, not valid YAML, repeats a key, or exceeds the bounds.
    """
    path = Path(path)
    text = read_source(path) if text is None else text.removeprefix(BOM)
    documents = list(load_yaml_all(path, text, line_offset))
    if len(documents) > 1:
        raise SourceError("expected one YAML document, found several ('---' separators)", path,
                          documents[1].lines.get((), 1))
    return documents[0] if documents else LocatedDocument(path, None, {(): 1 + line_offset}, {(): 1})
