"""One build's view of the sources of truth: each read at most once, on first use.

Several pages use the same source (the component pages use the config keys, the
metrics and the alerts); the snapshot loads each once per build. Tests build a
snapshot whose loaders read small fixtures instead of the real stack.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from handbook import sources

Loader = Callable[[], Any]


class Snapshot:
    """The sources of truth of one project, loaded lazily and cached for one build.

    Attributes:
        root: The project root.
    """

    def __init__(self, root: Path, **loaders: Loader) -> None:
        """Prepare the loaders; nothing is read yet.

        Args:
            root: The project root.
            **loaders: Replacements for the default loaders, by source name
                (`catalog`, `config`, `metrics`, `alerts`, `manifests`, `openapi`, `cli`).
        """
        self.root = root
        self._loaders: dict[str, Loader] = {
            "catalog": lambda: sources.catalog(root).data or {},
            "config": lambda: sources.config_keys(root),
            "metrics": lambda: sources.metrics(),
            "alerts": lambda: sources.alert_rules(root),
            "manifests": lambda: sources.manifests(root),
            "openapi": lambda: sources.openapi(root),
            "cli": lambda: {p: _parser_or_error(p) for p in sources.CLI_PROGRAMS},
        }
        unknown = set(loaders) - set(self._loaders)
        if unknown:
            raise TypeError(f"unknown sources: {', '.join(sorted(unknown))}")
        self._loaders.update(loaders)
        self._results: dict[str, tuple[bool, Any]] = {}

    def get(self, name: str) -> Any:
        """The loaded source `name`, reading it on first use.

        Args:
            name: One of the source names given to the constructor.

        Returns:
            What the loader returned.

        Raises:
            SourceUnavailable: The source does not exist in this tree yet (raised again on every use).
            HandbookError: The source exists but cannot be read.
        """
        if name not in self._results:
            try:
                self._results[name] = (True, self._loaders[name]())
            except sources.SourceUnavailable as exc:
                self._results[name] = (False, exc)
        ok, result = self._results[name]
        if not ok:
            raise result
        return result

    def get_or_none(self, name: str) -> Any:
        """Like `get`, but `None` when the source does not exist yet (a broken source still raises)."""
        try:
            return self.get(name)
        except sources.SourceUnavailable:
            return None

    @property
    def services(self) -> list[dict[str, Any]]:
        """The catalog's services, in catalog order."""
        return list(self.get("catalog").get("services") or [])

    @property
    def teams(self) -> dict[str, dict[str, Any]]:
        """The catalog's teams by name."""
        return {str(t.get("name")): t for t in self.get("catalog").get("teams") or []}


def _parser_or_error(program: str) -> Any:
    """A program's parser, or the `SourceUnavailable` saying why there is none (kept, not raised)."""
    try:
        return sources.cli_parser(program)
    except sources.SourceUnavailable as exc:
        return exc
