"""The one shape every check reports in: a problem at a file, line and column."""

from __future__ import annotations

from dataclasses import dataclass, field
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
        silenced: When an author silenced this occurrence inline, the reason they gave; the
            runner then prints it as a note instead of counting it as a problem.
    """

    path: Path
    line: int
    col: int
    code: str
    message: str
    silenced: str | None = field(default=None, compare=False)

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
        if self.silenced is not None:
            return f"{path}:{self.line}:{self.col}: note: {self.code} silenced ({self.silenced}): {self.message}"
        return f"{path}:{self.line}:{self.col}: {self.code} {self.message}"
