"""Errors the handbook reports as one clear line instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class HandbookError(Exception):
    """A problem with the handbook's input that a person must fix.

    Rendered as `path:line: message`, so an editor can jump to it.

    Attributes:
        path: The file at fault, if known.
        line: The 1-based line at fault, if known.
        col: The 1-based column at fault, if known.
        message: What is wrong and what to do.
    """

    def __init__(self, message: str, path: Path | None = None, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.col = col
        self.message = message

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        where += f":{self.col}" if self.line and self.col else ""
        return f"{where}: {self.message}"
