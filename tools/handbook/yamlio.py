"""YAML with line numbers for the handbook: the stack's one bounded loader, with handbook errors.

The loading itself is `chorus.yamllines` (libyaml, duplicate keys refused, aliases
and depth bounded, BOM tolerated, undecodable bytes named by line): the services,
the catalog, the manifests, the alert rules and every front matter go through it.
This module only adapts its result and its errors to the handbook's types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chorus.yamllines import LocatedDocument, SourceError, load_yaml, load_yaml_all

from handbook.errors import HandbookError

PathKey = tuple[str | int, ...]


class Located(LocatedDocument):
    """A loaded YAML document and the 1-based line of every key path in it.

    Attributes:
        path: The file it was read from.
        data: The plain Python data, as `yaml.safe_load` would give it.
        lines: Key path (e.g. `("services", 0, "ports")`) to the line of its key.
    """

    def line_of(self, *keys: Any) -> int:
        """The line of the value at `keys`, or of its nearest located parent (1 if none)."""
        return super().line_of(tuple(keys))

    @classmethod
    def of(cls, doc: LocatedDocument) -> "Located":
        """Wrap a `chorus.yamllines.LocatedDocument`."""
        return cls(doc.path, doc.data, doc.lines, doc.columns)


def error(exc: SourceError) -> HandbookError:
    """A loader refusal as a handbook error naming file and line.

    Args:
        exc: The refusal.

    Returns:
        The error to raise.
    """
    message = f"{exc.key}: {exc.message}" if exc.key else exc.message
    return HandbookError(message, path=exc.path, line=exc.line)


def load_all(path: Path, text: str | None = None) -> Iterator[Located]:
    """Load every document of a (possibly multi-document) YAML file, with line numbers.

    Args:
        path: The file, used for reading (unless `text` is given) and in errors.
        text: The file's text, if already read.

    Yields:
        One `Located` per non-empty document.

    Raises:
        HandbookError: The file is not valid YAML or exceeds the loader's bounds; names file and line.
    """
    try:
        documents = list(load_yaml_all(path, text))
    except SourceError as exc:
        raise error(exc) from None
    for doc in documents:
        yield Located.of(doc)


def load(path: Path, text: str | None = None) -> Located:
    """Load a single-document YAML file with line numbers (an empty file gives `None` data).

    Args:
        path: The file.
        text: The file's text, if already read.

    Returns:
        The document.

    Raises:
        HandbookError: The file is not valid YAML or exceeds the loader's bounds; names file and line.
    """
    try:
        return Located.of(load_yaml(path, text))
    except SourceError as exc:
        raise error(exc) from None
