"""One build's view of the sources of truth: each read at most once, on first use.

Several pages use the same source (the component pages use the config keys, the
metrics and the alerts); the snapshot loads each once per build. Tests build a
snapshot whose loaders read small fixtures instead of the real stack.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handbook import sources

if TYPE_CHECKING:
    from chorus.catalog import Service, Team

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
            "catalog": lambda: sources.catalog_model(root),
            "config": lambda: sources.config_keys(root),
            "metrics": lambda: sources.metrics(),
            "alerts": lambda: sources.alert_rules(root),
            "manifests": lambda: sources.manifests(root),
            "openapi": lambda: sources.openapi(root),
            "cli": lambda: {p: sources.cli_parser(p) for p in sources.CLI_PROGRAMS},
        }
        unknown = set(loaders) - set(self._loaders)
        if unknown:
            raise TypeError(f"unknown sources: {', '.join(sorted(unknown))}")
        self._loaders.update(loaders)
        self._results: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The loaded source `name`, reading it on first use.

        Args:
            name: One of the source names given to the constructor.

        Returns:
            What the loader returned.

        Raises:
            HandbookError: The source cannot be read (names file and line).
        """
        if name not in self._results:
            self._results[name] = self._loaders[name]()
        return self._results[name]

    def get_if_present(self, name: str) -> Any:
        """Like `get`, but `None` when the tree has no file for that source (a broken file still raises)."""
        try:
            return self.get(name)
        except sources.SourceMissing:
            return None

    @property
    def services(self) -> list[Service]:
        """The catalog's services, in catalog order."""
        return list(self.get("catalog").services)

    @property
    def teams(self) -> dict[str, Team]:
        """The catalog's teams by name."""
        return {team.name: team for team in self.get("catalog").teams}
