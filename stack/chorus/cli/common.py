"""What every `chorusctl` command shares: exit codes, errors, options, output and the gateway client.

A command module adds its parsers with the parent parsers of `SharedOptions` and
raises `CommandError` to fail; `chorus.cli.main` turns errors into one line and
an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import httpx

from chorus.client import GatewayClient
from chorus.config import ChorusConfig, load_config
from chorus.credentials import HostSecrets, operator_token_for
from chorus.ids import is_space_id
from chorus.text import printable
from chorus.tokens import SigningKeyError

EXIT_OK = 0
"""The command did what was asked."""
EXIT_FAILED = 1
"""The operation failed: a service unreachable or refusing, nothing received."""
EXIT_USAGE = 2
"""Bad usage or bad configuration."""
EXIT_DEGRADED = 3
"""`chorusctl status`: the stack serves, but a node is stale or not ready."""

Handler = Callable[[argparse.Namespace], int]
"""A command: parsed arguments in, exit code out (set as the parser's `handler` default)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with code 2 and a hint."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print usage and the error, then exit 2.

        Args:
            message: What argparse found wrong.
        """
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class CommandError(Exception):
    """A command failed; the message is printed as `error: ...` and the exit code is `code`.

    Attributes:
        code: The exit code.
    """

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        """Keep the message and the exit code.

        Args:
            message: One line saying what failed and what to do.
            code: The exit code (default: `EXIT_FAILED`).
        """
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SharedOptions:
    """Options shared by several commands, as argparse parent parsers.

    Attributes:
        client: For commands that talk to the gateway: `--gateway URL` and `--json`.
        output: For commands that only print: `--json`.
        watch: The monitor's options (Prometheus + Alertmanager beside the stack), shared by
            `up --monitor` and `monitor`.
    """

    client: argparse.ArgumentParser
    output: argparse.ArgumentParser
    watch: argparse.ArgumentParser

    @classmethod
    def build(cls) -> SharedOptions:
        """Build the parent parsers once, for every command that takes them.

        Returns:
            The shared options.
        """
        client = argparse.ArgumentParser(add_help=False)
        client.add_argument("--gateway", metavar="URL", default=None,
                            help="the gateway's URL (default: http://gateway.host:gateway.port from the configuration)")
        output = argparse.ArgumentParser(add_help=False)
        for shared in (client, output):
            shared.add_argument("--json", action="store_true", help="print one JSON document instead of text")

        watch = argparse.ArgumentParser(add_help=False)
        watch.add_argument("--prometheus-port", type=int, default=0, metavar="PORT",
                           help="Prometheus's port on 127.0.0.1 (default: a free one, printed)")
        watch.add_argument("--alertmanager-port", type=int, default=0, metavar="PORT",
                           help="Alertmanager's port on 127.0.0.1 (default: a free one, printed)")
        watch.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                           help="run the alert rules F times faster: every for: and rate window, and the scrape and "
                           "evaluation intervals, divided by F (default: 1, production's timing)")
        watch.add_argument("--rules", type=Path, default=None, metavar="FILE",
                           help="the alerting rules to load (default: stack/deploy/prometheus/alerts.yaml)")
        return cls(client=client, output=output, watch=watch)


Commands: TypeAlias = "argparse._SubParsersAction[Parser]"
"""The subcommand collection a command module adds its parsers to (`add_subparsers()`'s result)."""


# --------------------------------------------------------------------------- argument types


def space_id(text: str) -> str:
    """An argparse type for a space id (`chorus.ids`: letters, digits, `-` and `_`, as the gateway issues them).

    Args:
        text: The argument as typed.

    Returns:
        The text, unchanged.

    Raises:
        argparse.ArgumentTypeError: The text cannot be a space id (e.g. it holds a newline or `..`).
    """
    if not is_space_id(text):
        raise argparse.ArgumentTypeError(f"{printable(repr(text[:80]))} is not a space id (e.g. sp-1a2b3c4d)")
    return text


def display_path(path: Path | str) -> str:
    """A path as a reader would type it: relative to the current folder when it is inside it.

    Args:
        path: Any path.

    Returns:
        The path relative to the current folder, else as given.
    """
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- configuration and gateway


def config_of(args: argparse.Namespace) -> ChorusConfig:
    """The configuration named by `--config`.

    Args:
        args: The parsed arguments.

    Returns:
        The loaded configuration (environment overrides applied).

    Raises:
        ConfigError: The file is missing or invalid.
    """
    return load_config(args.config)


def gateway_url(args: argparse.Namespace) -> str:
    """`--gateway`, else the configuration's gateway URL.

    Args:
        args: The parsed arguments.

    Returns:
        The gateway's base URL.
    """
    return args.gateway or config_of(args).gateway_url


def operator_token(args: argparse.Namespace) -> str | None:
    """The operator token for the gateway, or `None` (the operations calls then get a 401 with a hint).

    Args:
        args: The parsed arguments.

    Returns:
        A signed operator token, or `None` when no usable credential is at hand.
    """
    try:
        return operator_token_for(config_of(args).gateway.token, gateway_url(args))
    except SigningKeyError:
        return None


def with_gateway(args: argparse.Namespace, action: Callable[[GatewayClient], Awaitable[Any]]) -> Any:
    """Run `action` with a gateway client carrying the user's credentials, and return its result.

    The client carries an operator token (if one is at hand) and the host secret of `args.space`
    (if this user created it); a space it creates has its host secret kept for later commands.

    Args:
        args: The parsed arguments (`--gateway`, `--config`, and `space` when the command names one).
        action: What to do with the client.

    Returns:
        What `action` returned.
    """
    url = gateway_url(args)
    secrets = HostSecrets(url)

    async def run() -> Any:
        async with GatewayClient(url, operator_token=operator_token(args)) as gateway:
            space = getattr(args, "space", None)
            known = secrets.get(space) if isinstance(space, str) else None
            if known:
                gateway.host_secrets[space] = known
            try:
                return await action(gateway)
            finally:
                for created, secret in gateway.host_secrets.items():
                    if created != space:
                        secrets.save(created, secret)

    return asyncio.run(run())


def http_ready(url: str) -> bool:
    """Whether a service's `/readyz` answers 200.

    Args:
        url: The service's base URL.

    Returns:
        `True` when it answered 200 within 2 s.
    """
    try:
        return httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


# --------------------------------------------------------------------------- output


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print one JSON document with `--json`, else the text for people.

    JSON escapes control characters itself; the text has each line's control characters escaped
    (untrusted fields are escaped where they are formatted too).

    Args:
        args: The parsed arguments (`json` when the command takes `--json`).
        data: What `--json` prints.
        text: What people read.
    """
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(printable(line) for line in text.split("\n")))


def table(rows: list[list[str]]) -> str:
    """Render rows as aligned columns.

    Args:
        rows: The rows; the first is the header.

    Returns:
        The lines, trailing spaces stripped.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
