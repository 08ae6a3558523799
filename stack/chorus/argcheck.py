"""Does a command line parse? The one place that asks an argparse parser without printing or exiting.

`chorusctl` commands appear in runbooks (checked by the handbook's CMD001) and in
the fan-out pods' preStop hooks and container arguments (checked by DP009 and
DP013); all of them ask `parse_problem`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator


class _ParseError(Exception):
    """argparse rejected the command line."""


class _Exit(Exception):
    """argparse asked to exit (e.g. after `--help`)."""


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every subcommand parser under it."""
    yield parser
    for action in parser._actions:  # argparse has no public walk of subcommands
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def quiet(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make a parser (and its subparsers) raise instead of printing and exiting.

    Args:
        parser: A freshly built parser (it is changed in place).

    Returns:
        The same parser.
    """

    def error(message: str) -> None:
        """Raise instead of printing usage and exiting."""
        raise _ParseError(message)

    def leave(status: int = 0, message: str | None = None) -> None:
        """Raise instead of exiting (after --help or --version)."""
        raise _Exit(status)

    for each in _parsers(parser):
        each.error = error  # type: ignore[method-assign, assignment]
        each.exit = leave  # type: ignore[method-assign, assignment]
    return parser


def parse_problem(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """Why `args` do not parse, or `None` when they do (nothing is printed, nothing exits).

    Args:
        parser: Any parser; it is made `quiet` first (in place).
        args: The words after the program name.

    Returns:
        argparse's message, or `None` (also after `--help`).
    """
    quiet(parser)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            parser.parse_args(args)
    except _ParseError as exc:
        return str(exc)
    except _Exit:
        return None
    return None
