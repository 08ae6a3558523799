"""The handbook's working tree: where pages, runbooks and the stack live.

Checks receive a `Project` and read what they need from it; everything is
read lazily and at most once per run, so adding a check does not slow the others.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from handbook.errors import HandbookError

if TYPE_CHECKING:
    from handbook.mdscan import MarkdownPage

MARKDOWN_DIRS = ("docs", "runbooks")

MAX_TEXT_BYTES = 1024 * 1024
"""The largest page the checks read (1 MiB; the biggest real page is under 20 KB): a bigger file is refused, not scanned."""


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
    def _listing(self) -> tuple[list[Path], list[Unreadable]]:
        """The pages under `docs/` and `runbooks/` that read cleanly, and every file that cannot be a page.

        One walk of each folder: a file or folder whose name is not UTF-8 is reported (any file: the site
        publishes them all; a folder is not entered), then each `.md` file that is not a directory is
        read once (the text is cached for the checks).
        """
        pages: list[Path] = []
        unreadable: list[Unreadable] = []
        for name in MARKDOWN_DIRS:
            for folder, dirs, files in os.walk(self.root / name):
                for entry in [*dirs, *files]:
                    if not is_utf8(entry):
                        unreadable.append(Unreadable(printable(self.relative(Path(folder, entry))), 1, 1,
                                                     "name is not UTF-8 (the site cannot publish it): rename it"))
                dirs[:] = sorted(d for d in dirs if is_utf8(d))
                pages.extend(Path(folder, file) for file in files if file.endswith(".md") and is_utf8(file))
        readable = []
        for path in sorted(pages):
            try:
                self.read_text(path)
            except HandbookError as exc:
                unreadable.append(Unreadable(self.relative(path), exc.line or 1, exc.col or 1, exc.message))
            else:
                readable.append(path)
        return readable, sorted(unreadable, key=lambda u: (u.path, u.line))

    @property
    def markdown_files(self) -> list[Path]:
        """Every Markdown page under `docs/` and `runbooks/` that can be read, sorted (see `unreadable`)."""
        return self._listing[0]

    @property
    def unreadable(self) -> list[Unreadable]:
        """Every file under `docs/` and `runbooks/` the checks skip: the runner reports each once."""
        return self._listing[1]

    def pages_in(self, folder: str | Path) -> list[Path]:
        """The readable pages directly in one folder of the tree (not in its subfolders), sorted.

        Args:
            folder: The folder, relative to the root (e.g. `runbooks`, `docs/decisions`).

        Returns:
            Its pages, as absolute paths.
        """
        cache = self.__dict__.setdefault("_pages_in", {})
        if folder not in cache:
            where = str(self.root / folder) + os.sep
            cache[folder] = [path for path in self.markdown_files
                             if str(path).startswith(where) and os.sep not in str(path)[len(where):]]
        return cache[folder]

    def is_page(self, path: Path) -> bool:
        """Whether `path` is a Markdown page of the tree that reads cleanly (so `page()` will not raise).

        Args:
            path: The file (absolute, or relative to the root).
        """
        path = path if path.is_absolute() else self.root / path
        if "_page_set" not in self.__dict__:
            self.__dict__["_page_set"] = set(self.markdown_files)
        return path in self.__dict__["_page_set"]

    def relative(self, path: Path) -> Path:
        """`path` relative to the root when it lies under it, else unchanged (see `relative`)."""
        return relative(path, self.root)

    def page(self, path: Path) -> MarkdownPage:
        """A Markdown file of the project, scanned once per run: every check shares one scan of each page.

        Args:
            path: The file (absolute, or relative to the root).

        Returns:
            The scanned page.

        Raises:
            HandbookError: The file cannot be read as a page (see `read_text`); `markdown_files` lists
                only pages that can.
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
            HandbookError: The file cannot be read (a dangling link, a loop, no permission), is larger
                than `MAX_TEXT_BYTES`, holds a byte that is not UTF-8 or a NUL byte (names the file,
                its relative path, and the line; the run exits 2).
        """
        cache = self.__dict__.setdefault("_text_cache", {})
        if path not in cache:
            cache[path] = self._read(path)
        return cache[path]

    def _read(self, path: Path) -> str:
        """`read_text` without the cache."""
        from chorus.yamllines import SourceError, decode

        if os.path.islink(path):  # a link out of the tree would publish that file (a pull request could add one)
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(self.root.resolve()):
                raise HandbookError(f"symbolic link to a file outside the tree (-> {os.readlink(path)}): the site would "
                                    "publish it; copy what the page needs into the tree instead", path=self.relative(path), line=1)
        try:
            with open(path, "rb") as file:
                raw = file.read(MAX_TEXT_BYTES + 1)
        except OSError as exc:  # named relative to the root, as every problem is
            raise HandbookError(_unreadable_reason(path, exc), path=self.relative(path), line=1) from None
        if len(raw) > MAX_TEXT_BYTES:
            raise HandbookError(f"file is larger than {MAX_TEXT_BYTES // 1024 ** 2} MiB, more than any page or module should hold: "
                                "split it (or remove it if it is not prose)", path=self.relative(path), line=1)
        try:
            text = decode(path, raw)
        except SourceError as exc:
            raise HandbookError(exc.message, path=self.relative(path), line=exc.line, col=exc.column) from None
        nul = text.find("\0")
        if nul >= 0:  # valid UTF-8, but not text: editors, git diff and the site would treat it as binary
            line = text.count("\n", 0, nul) + 1
            raise HandbookError("NUL byte (0x00): the file is not text; remove the byte or save the file as text",
                                path=self.relative(path), line=line, col=nul - (text.rfind("\n", 0, nul) + 1) + 1)
        return text


@dataclass(frozen=True)
class Unreadable:
    """A file under `docs/` or `runbooks/` that no check can read, reported once for the run.

    Attributes:
        path: The file, relative to the root (a name that is not UTF-8 has its bytes escaped).
        line: The 1-based line at fault (1 when the whole file is).
        col: The 1-based column.
        message: What is wrong and what to do.
    """

    path: Path
    line: int
    col: int
    message: str


def relative(path: Path, root: Path) -> Path:
    """`path` relative to `root` when it lies under it, else unchanged.

    A path under the root as written stays as written (a link in the tree is named by its own
    path, not its target's); otherwise symbolic links are resolved on both sides first.

    Args:
        path: A problem's path (absolute or already relative).
        root: The project root.

    Returns:
        The repo-relative path, so problems from every check sort together.
    """
    if not path.is_absolute():
        return path
    try:
        return path.relative_to(root)
    except ValueError:
        pass
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return path


def is_utf8(name: str) -> bool:
    """Whether a file name read from the system is valid UTF-8 (Python keeps bad bytes as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: Path) -> Path:
    """`path` with bytes that are not UTF-8 written as `\\xNN`, so it can be printed and read."""
    return Path(os.fsencode(path).decode("utf-8", "backslashreplace"))


def _unreadable_reason(path: Path, exc: OSError) -> str:
    """What is wrong with a file that cannot be opened, and what to do, on one line."""
    if path.is_symlink():
        target = os.readlink(path)
        if exc.errno == errno.ELOOP:
            return f"symbolic link loops back on itself (-> {target}): point it at a real file or remove it"
        return f"symbolic link to a missing file (-> {target}): point it at a real file or remove it"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied): make it readable (chmod a+r) or remove it"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a page: rename it without .md"
    return f"cannot be read ({exc.strerror or type(exc).__name__}): fix or remove it"
