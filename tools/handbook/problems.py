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
        message = one_line(self.message)
        if self.silenced is not None:
            return f"{path}:{self.line}:{self.col}: note: {self.code} silenced ({one_line(self.silenced)}): {message}"
        return f"{path}:{self.line}:{self.col}: {self.code} {message}"


def one_line(text: str) -> str:
    """`text` on one line: a message quoting a library's multi-line error must not break the one-problem-a-line output.

    Args:
        text: A message.

    Returns:
        Its lines joined by spaces (unchanged when it has one).
    """
    if "\n" not in text and "\r" not in text:
        return text
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
