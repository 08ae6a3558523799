"""The stack's programs as documents: the gateway's OpenAPI and the command-line parsers.

Built by importing the stack's own code (`chorus.gateway.app`, `chorus.cli`), and cached
under the stack's fingerprint, so an unchanged stack is not imported on every run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from handbook.errors import HandbookError
from handbook.sources.base import chorus_call, chorus_module
from handbook.sources.cache import cached_from_stack
from handbook.sources.config import config_model

def openapi(root: Path) -> dict[str, Any]:
    """The gateway's OpenAPI document, as its app serves it at `/openapi.json` (built once per process).

    Args:
        root: The project root; the app is built from its `stack/config/chorus.yaml`.

    Returns:
        The OpenAPI document.
    """
    return cached_from_stack(root, "openapi", lambda: _build_openapi(root))


def _build_openapi(root: Path) -> dict[str, Any]:
    """The gateway's OpenAPI document, as its app serves it at `/openapi.json`.

    Args:
        root: The project root; the app is built from its `stack/config/chorus.yaml`.

    Returns:
        The OpenAPI document.

    Raises:
        HandbookError: The configuration cannot be read or the app cannot be built.
    """
    app_module = chorus_module("chorus.gateway.app")
    app = chorus_call("chorus.gateway.app.create_app()", app_module.create_app, config_model(root))
    return chorus_call("the gateway's .openapi()", app.openapi)


CLI_PROGRAMS = ("chorusctl", "handbook")
"""The command-line tools the handbook documents, in the order the CLI reference shows them."""


def cli_parser(program: str) -> argparse.ArgumentParser:
    """The argument parser of one documented command-line tool.

    Args:
        program: `chorusctl` (from `chorus.cli.build_parser()`) or `handbook`
            (from `handbook.cli.build_parser()`).

    Returns:
        The parser with all its subcommands.

    Raises:
        HandbookError: The parser cannot be built, or `program` is not documented.
    """
    if program == "handbook":
        from handbook.cli import build_parser

        return build_parser()
    if program == "chorusctl":
        module = chorus_module("chorus.cli")
        return chorus_call("chorus.cli.build_parser()", module.build_parser)
    raise HandbookError(f"no parser is known for {program!r}: expected one of {', '.join(CLI_PROGRAMS)}")


def cli_commands(root: Path, program: str = "chorusctl") -> list[tuple[str, ...]]:
    """Every subcommand path of a documented CLI, e.g. `("spaces", "create")` (cached with the stack).

    Args:
        root: The project root.
        program: The program (`chorusctl`).

    Returns:
        The word tuples, parents before children.
    """
    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> list[list[str]]:
        found: list[list[str]] = []
        for action in parser._actions:  # argparse has no public walk of subcommands
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    found.append([*prefix, word])
                    found.extend(walk(sub, (*prefix, word)))
        return found

    return [tuple(words) for words in cached_from_stack(root, f"commands-{program}", lambda: walk(cli_parser(program), ()))]
