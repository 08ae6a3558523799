"""The one shape every check reports in: a problem at a file, line and column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of a check, printed compiler style as `path:line:col: CODE message`.

    Attributes:
        path: The file the problem is in, absolute or relative to the project root.
        line: 1-based line number.
        col: 1-based column number.
        code: The stable rule code, e.g. `FM001`.
        message: What is wrong and, where it helps, what to do about it.
    """

    path: Path
    line: int
    col: int
    code: str
    message: str

    def format(self, root: Path | None = None) -> str:
        """Render the problem as one `path:line:col: CODE message` line.

        Args:
            root: When given, paths under it are shown relative to it.

        Returns:
            The formatted line, ready to print.
        """
        path = self.path
        if root is not None:
            try:
                path = path.resolve().relative_to(root.resolve())
            except ValueError:
                pass
        return f"{path}:{self.line}:{self.col}: {self.code} {self.message}"
