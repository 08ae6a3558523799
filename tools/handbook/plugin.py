"""The `handbook` MkDocs plugin: brings runbooks and the stack into the site build.

Runbooks live in the top-level `runbooks/` folder (one file per runbook, next to
the code they answer for) and are published under `/runbooks/`. During
`mkdocs serve` the plugin also watches `runbooks/`, `stack/` and `diagrams/`, so
an edit to any source of truth rebuilds the pages bound to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files

WATCHED = ("runbooks", "stack", "diagrams")


class HandbookPlugin(BasePlugin):  # type: ignore[type-arg]
    """MkDocs plugin wiring the handbook's non-`docs/` sources into the site."""

    def _root(self, config: MkDocsConfig) -> Path:
        return Path(config.config_file_path).resolve().parent

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        """Add every `runbooks/*.md` file to the site under `runbooks/`."""
        root = self._root(config)
        for path in sorted((root / "runbooks").glob("*.md")):
            rel = f"runbooks/{path.name}"
            if files.get_file_from_path(rel) is None:
                files.append(
                    File(rel, src_dir=str(root), dest_dir=config.site_dir, use_directory_urls=config.use_directory_urls)
                )
        return files

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        """Rebuild when runbooks, the stack or diagram sources change during `mkdocs serve`."""
        root = self._root(config)
        for name in WATCHED:
            if (root / name).is_dir():
                server.watch(str(root / name))
        return server
