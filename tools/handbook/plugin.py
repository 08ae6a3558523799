"""The `handbook` MkDocs plugin: brings runbooks and the stack into the site build.

Runbooks live in the top-level `runbooks/` folder (one file per runbook, next to
the code they answer for) and are published under `/runbooks/`. The reference
section and the component pages are generated from the sources of truth on every
build (`handbook.reference`); they are never committed. During `mkdocs serve` the
plugin also watches `runbooks/`, `stack/` and `diagrams/`, so an edit to any
source of truth rebuilds the pages bound to it. A source of truth that cannot be
read fails the build with one line naming its file and line.

Diagrams: every source in `diagrams/` is rendered at build time (from the cache
in `.cache/diagrams/` when nothing it depends on changed) and published as
`diagrams/<name>.png`, so a page embeds one with
`![Containers](../diagrams/containers.png)` and a strict build fails on a link to
a diagram that does not exist. Each such image gets its display size (half its
2x pixels), `class="handbook-diagram"` and `data-diagram="<name>"`. A source that fails is logged as
`path:line: message` (which fails a strict build) and shown as an image saying so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

from handbook import facts as facts_mod
from handbook import anchors, glossary, livevalues, markers, reference, runbook_index, search, sources
from handbook.diagrams import embed
from handbook.diagrams.cache import CACHE_DIR
from handbook.diagrams.legibility import CSS_PX_PER_PT, display_size, png_size
from handbook.diagrams.render import failure_image, render_all
from handbook.drill import page as drill_page
from handbook.errors import HandbookError
from handbook.knowledge import pages as knowledge_pages
from handbook.project import Project
from handbook.runbook import SCHEMA_MARKER, runbooks, schema_table

WATCHED = ("runbooks", "stack", "diagrams", "includes")
DIAGRAMS_URI = anchors.DIAGRAMS_URI
IFRAME_WORKER_SHIM = "javascripts/vendor/iframe-worker-shim-1.0.4.js"
"""The search worker's stand-in under `file://` (Material's `offline` plugin adds it), shipped with the site."""
SOURCE_BLOCK = '<details class="mkdocstrings-source">'
"""How mkdocstrings opens an object's source code on an API page."""
ONLINE_ONLY_FEATURES = ("navigation.instant",)
"""Theme features that fetch pages with XHR, which a browser refuses under `file://`."""

log = logging.getLogger("mkdocs.plugins.handbook")


class HandbookPlugin(BasePlugin):
    """MkDocs plugin wiring the handbook's non-`docs/` sources and generated pages into the site."""

    serving = False

    def _root(self, config: MkDocsConfig) -> Path:
        return Path(config.config_file_path).resolve().parent

    def on_startup(self, *, command: str, dirty: bool) -> None:
        """Remember whether this process serves the site (and so rebuilds in place)."""
        self.serving = command == "serve"

    @event_priority(-50)  # after Material's `offline` plugin has set up the offline edition
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """Keep the offline edition offline: the `file://` search shim ships with the site, no CDN.

        Material's `offline` plugin turns directory URLs off and adds a polyfill script that
        lets the search worker run from disk, loaded from a CDN. The handbook ships that
        script (`docs/javascripts/vendor/`) and points the page at it, and turns instant
        navigation off, which cannot fetch pages from disk.
        """
        polyfills = config.extra.get("polyfills") or []
        if any("iframe-worker" in str(url) for url in polyfills):
            config.extra["polyfills"] = [IFRAME_WORKER_SHIM if "iframe-worker" in str(url) else url for url in polyfills]
            features = config.theme.get("features") or []
            config.theme["features"] = [f for f in features if f not in ONLINE_ONLY_FEATURES]
        return config

    def on_pre_build(self, *, config: MkDocsConfig) -> None:
        """When serving, forget the imported stack code so a rebuild reads the edited code."""
        if self.serving:
            sources.purge_chorus_modules()

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        """Add every `runbooks/*.md` file under `runbooks/`, and every generated page.

        Raises:
            PluginError: A source of truth cannot be read; the message is one line naming file and line.
        """
        root = self._root(config)
        for path in sorted((root / "runbooks").glob("*.md")):
            rel = f"runbooks/{path.name}"
            if files.get_file_from_path(rel) is None:
                files.append(
                    File(rel, src_dir=str(root), dest_dir=config.site_dir, use_directory_urls=config.use_directory_urls)
                )
        try:
            generated = reference.generate(root, Path(config.docs_dir))
        except HandbookError as exc:
            raise PluginError(f"handbook: {exc}") from None
        for uri, content in generated.items():
            existing = files.get_file_from_path(uri)
            if existing is not None:
                files.remove(existing)
            # A nav file only feeds literate-nav; it is not a page of the site.
            inclusion = InclusionLevel.EXCLUDED if uri.endswith("/SUMMARY.md") else InclusionLevel.UNDEFINED
            files.append(File.generated(config, uri, content=content, inclusion=inclusion))
        self._add_diagrams(files, config)
        self._add_knowledge(files, config)
        return files

    def _add_knowledge(self, files: Files, config: MkDocsConfig) -> None:
        """Add the generated review-status and knowledge-risk pages, and the risk chart."""
        try:
            generated = knowledge_pages.generate(self._project(config))
        except HandbookError as exc:
            raise PluginError(f"handbook: {exc}") from None
        for uri, content in generated.items():
            existing = files.get_file_from_path(uri)
            if existing is not None:
                files.remove(existing)
            files.append(File.generated(config, uri, content=content))

    def _add_diagrams(self, files: Files, config: MkDocsConfig) -> None:
        """Render the diagrams (cached) and publish each as `diagrams/<name>.png`."""
        root = self._root(config)
        try:
            run = render_all(root)
        except HandbookError as exc:
            log.error("diagrams not rendered: %s", exc)
            return
        self._diagram_sizes = {}
        for result in run.results:
            image = result.image
            dpi = result.graph.dpi if result.graph is not None else 96.0
            if result.error is not None:
                log.error("%s", result.error)
                image = failure_image(result.error, root / CACHE_DIR / "failed")
                dpi = 96.0
            assert image is not None
            try:
                label_px = result.graph.font_pt * CSS_PX_PER_PT if result.graph is not None and result.error is None else 0.0
                self._diagram_sizes[result.name] = (*display_size(png_size(image), dpi), round(label_px, 2))
            except (OSError, ValueError):
                pass  # no Graphviz for the failure notice: an empty image, shown without a size
            uri = f"{DIAGRAMS_URI}/{result.name}.png"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(image)))
        if run.notice:
            log.info("handbook: %s", run.notice)
        if run.results:
            log.info("handbook: %s", run.summary())

    _diagram_sizes: dict[str, tuple[int, int, float]] = {}

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Size and tag diagram images, and keep API pages' source code out of the search index.

        Every diagram image gets its display size, a class and its name (`handbook.diagrams.embed`).
        Source listings were most of the search index and match every identifier a reader types;
        they stay on the page, folded, while each object's signature and docstring are indexed.
        """
        html = embed.size_diagram_images(html, self._diagram_sizes)
        return html.replace(SOURCE_BLOCK, SOURCE_BLOCK.replace(">", ' data-search-exclude="source">'))

    def on_serve(self, server: Any, /, *, config: MkDocsConfig, builder: Any) -> Any:
        """Rebuild when runbooks, the stack or diagram sources change during `mkdocs serve`."""
        root = self._root(config)
        for name in WATCHED:
            if (root / name).is_dir():
                server.watch(str(root / name))
        return server

    # --- live values and the runbooks index ---------------------------------------------------------

    _facts: facts_mod.Facts | None = None
    _knowledge_project: Project | None = None

    def _project(self, config: MkDocsConfig) -> Project:
        """The project of this build, shared by the knowledge pages and the review footers."""
        if self._knowledge_project is None:
            project = Project(self._root(config))
            project.__dict__["_facts"] = self._facts_for(config)  # read the stack once per build
            self._knowledge_project = project
        return self._knowledge_project

    def _facts_for(self, config: MkDocsConfig) -> facts_mod.Facts:
        """The facts of the tree, built once per build."""
        if self._facts is None:
            try:
                self._facts = facts_mod.build(self._root(config))
            except HandbookError as exc:
                raise PluginError(f"handbook: {exc}") from None
        return self._facts

    def on_page_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Render live values and expand markers (`_render_markdown`), then show a runbook's drill."""
        rendered = self._render_markdown(markdown, page=page, config=config, files=files)
        uri = page.file.src_uri
        if uri.startswith("runbooks/") and page.file.abs_src_path and not uri.endswith("index.md"):
            source = Path(page.file.abs_src_path).read_text(encoding="utf-8")
            rendered = drill_page.annotate(rendered, source, Path(uri).stem, self._root(config))
        return rendered

    def _render_markdown(self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Render live values `{@NAME}`, expand the page's markers, append the glossary's tooltips, rank the page.

        The page gets its search weight from `handbook.search` unless its front matter sets one.

        An unknown or malformed live value is logged as a warning naming
        `path:line:col` and the closest valid name, which fails `mkdocs build --strict`.
        """
        uri = page.file.src_uri
        search.apply(uri, page.meta)
        root = self._root(config)

        def linkable(docs_path: str) -> bool:
            """Whether a docs-relative page is part of this build."""
            return files.get_file_from_path(docs_path) is not None

        if runbook_index.MARKER in markdown:
            project = Project(root)
            facts = self._facts_for(config)
            alerts = {n.split(".", 1)[1]: "" for n in facts.by_name if n.count(".") == 1 and n.startswith("alert.")}
            for name in alerts:
                team = facts.get(f"alert.{name}.label.team")
                alerts[name] = str(team.value) if team else ""
            markdown = runbook_index.expand(markdown, runbooks(project), alerts, uri, linkable)
        if SCHEMA_MARKER in markdown:
            markdown = markdown.replace(SCHEMA_MARKER, schema_table())
        markdown = self._render_live_values(markdown, page, config, files, root, linkable)
        if not self._quotes_code(page):
            # After live values, so their errors keep the file's line numbers.
            try:
                markdown = markers.expand(markdown, markers.PageContext(
                    root, uri, page.file.content_string, self._facts_for(config),
                    {f.src_uri for f in files if f.src_uri.startswith("reference/api/")}))
            except HandbookError as exc:
                raise PluginError(f"handbook: {exc}") from None
        # Last, so live values and markers report the file's own line numbers.
        return self._with_review(self._with_glossary(markdown, root), page, config)

    def _render_live_values(self, markdown: str, page: Page, config: MkDocsConfig, files: Files, root: Path,
                            linkable: Any) -> str:
        """Render live values `{@NAME}`; log each one that cannot be rendered (fails a strict build)."""
        uri = page.file.src_uri
        if "{@" not in markdown or self._quotes_code(page):
            return markdown
        source = page.file.content_string
        first_line = source[: len(source) - len(markdown)].count("\n") + 1 if source.endswith(markdown) else 1
        rendered, errors = livevalues.render(markdown, self._facts_for(config), uri, linkable, first_line)
        where = page.file.abs_src_path or uri
        try:
            where = str(Path(where).resolve().relative_to(root))
        except ValueError:
            pass
        for error in errors:
            log.warning(f"{where}:{error.line}:{error.col}: {error.code} {error.message}")
        return rendered

    def _with_review(self, markdown: str, page: Page, config: MkDocsConfig) -> str:
        """Show owner, last review and next review due on a hand-written page, and a banner when it is due."""
        try:
            generated = page.file.generated_by is not None
            return knowledge_pages.with_review(markdown, page.file.src_uri, self._project(config), generated)
        except HandbookError as exc:
            raise PluginError(f"handbook: {exc}") from None

    _abbreviations: str | None = None

    def _with_glossary(self, markdown: str, root: Path) -> str:
        """Append the glossary's abbreviations, so every term on the page gets its tooltip.

        Raises:
            PluginError: The glossary file is not valid YAML (one line naming file and line).
        """
        if self._abbreviations is None:
            try:
                terms, _ = glossary.load(root)
            except HandbookError as exc:
                raise PluginError(f"handbook: {exc}") from None
            self._abbreviations = glossary.abbreviations(terms)
        return f"{markdown}\n\n{self._abbreviations}\n" if self._abbreviations else markdown

    @staticmethod
    def _quotes_code(page: Page) -> bool:
        """Whether a page is generated from code (the reference), whose text may show `{@...}` literally.

        Live values are for hand-written prose; component pages are generated but carry a
        hand-written narrative, so they are rendered.
        """
        return page.file.generated_by is not None and not page.file.src_uri.startswith("components/")

    @event_priority(-50)  # after Material's search wrote its index (0), before `offline` inlines it (-100)
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        """Keep the component boost on the index entries that name a component (`handbook.search`), then
        forget the facts and the glossary, so the next build (in `mkdocs serve`) reads the sources afresh."""
        search.narrow_index(Path(config.site_dir))
        self._facts = None
        self._knowledge_project = None
        self._abbreviations = None

    def on_build_error(self, *, error: Exception) -> None:
        """Forget the facts and the glossary after a failed build too."""
        self._facts = None
        self._knowledge_project = None
        self._abbreviations = None
