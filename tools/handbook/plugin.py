"""The `handbook` MkDocs plugin: brings runbooks and the stack into the site build.

Runbooks live in the top-level `runbooks/` folder (one file per runbook, next to
the code they answer for) and are published under `/runbooks/`. During
`mkdocs serve` the plugin also watches `runbooks/`, `stack/` and `diagrams/`, so
an edit to any source of truth rebuilds the pages bound to it.

Diagrams: every source in `diagrams/` is rendered at build time (from the cache
in `.cache/diagrams/` when nothing it depends on changed) and published as
`diagrams/<name>.png`, so a page embeds one with
`![Containers](../diagrams/containers.png)` and a strict build fails on a link to
a diagram that does not exist. A source that fails is logged as
`path:line: message` (which fails a strict build) and shown as an image saying so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files

from handbook.diagrams.cache import CACHE_DIR
from handbook.diagrams.render import failure_image, render_all
from handbook.errors import HandbookError

WATCHED = ("runbooks", "stack", "diagrams")
DIAGRAMS_URI = "diagrams"

log = logging.getLogger("mkdocs.plugins.handbook")


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
        self._add_diagrams(files, config)
        return files

    def _add_diagrams(self, files: Files, config: MkDocsConfig) -> None:
        """Render the diagrams (cached) and publish each as `diagrams/<name>.png`."""
        root = self._root(config)
        try:
            run = render_all(root)
        except HandbookError as exc:
            log.error("diagrams not rendered: %s", exc)
            return
        for result in run.results:
            image = result.image
            if result.error is not None:
                log.error("%s", result.error)
                image = failure_image(result.error, root / CACHE_DIR / "failed")
            assert image is not None
            uri = f"{DIAGRAMS_URI}/{result.name}.png"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(image)))
        if run.results:
            log.info("handbook: %s", run.summary())

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        """Rebuild when runbooks, the stack or diagram sources change during `mkdocs serve`."""
        root = self._root(config)
        for name in WATCHED:
            if (root / name).is_dir():
                server.watch(str(root / name))
        return server
