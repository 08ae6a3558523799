"""The handbook's working tree: where pages, runbooks and the stack live.

Checks receive a `Project` and read what they need from it; everything is
read lazily and at most once per run, so adding a check does not slow the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handbook.mdscan import MarkdownPage

MARKDOWN_DIRS = ("docs", "runbooks")


@dataclass
class Project:
    """A handbook checkout rooted at `root`.

    Attributes:
        root: The folder holding `mkdocs.yml`, `docs/`, `runbooks/` and `stack/`.
    """

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Project":
        """Find the project that contains `start` (default: the current folder).

        Args:
            start: A folder inside the project.

        Returns:
            The project whose root is the nearest parent holding `mkdocs.yml`.

        Raises:
            FileNotFoundError: No parent folder holds `mkdocs.yml`.
        """
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "mkdocs.yml").is_file():
                return cls(folder)
        raise FileNotFoundError(f"no mkdocs.yml in {here} or any parent: run inside the handbook or pass --root")

    @cached_property
    def markdown_files(self) -> list[Path]:
        """Every Markdown file under `docs/` and `runbooks/`, sorted."""
        files: list[Path] = []
        for name in MARKDOWN_DIRS:
            folder = self.root / name
            if folder.is_dir():
                files.extend(sorted(folder.rglob("*.md")))
        return files

    def page(self, path: Path) -> MarkdownPage:
        """A Markdown file of the project, scanned once per run: every check shares one scan of each page.

        Args:
            path: The file (absolute, or relative to the root).

        Returns:
            The scanned page.

        Raises:
            HandbookError: A byte is not UTF-8 (names the file and line; the run exits 2).
        """
        from handbook.mdscan import MarkdownPage

        path = path if path.is_absolute() else self.root / path
        cache = self.__dict__.setdefault("_page_cache", {})
        if path not in cache:
            cache[path] = MarkdownPage(self.read_text(path))
        return cache[path]

    def read_text(self, path: Path) -> str:
        """Read a project file as UTF-8 text, a leading BOM dropped (cached for the run).

        Args:
            path: The file to read.

        Returns:
            Its text.

        Raises:
            HandbookError: A byte is not UTF-8 (names the file and line; the run exits 2).
        """
        cache = self.__dict__.setdefault("_text_cache", {})
        if path not in cache:
            from chorus.yamllines import SourceError, decode

            from handbook.errors import HandbookError

            try:
                cache[path] = decode(path, path.read_bytes())
            except SourceError as exc:  # named relative to the root, as every problem is
                try:
                    rel = path.relative_to(self.root) if path.is_absolute() else path
                except ValueError:
                    rel = path
                raise HandbookError(exc.message, path=rel, line=exc.line) from None
        return cache[path]
