"""The `chorusctl` parser, assembled from the command modules, and its entry point."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from chorus import __version__
from chorus.cli import configuration, load, media, monitoring, operations, spaces, supervision
from chorus.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, Parser, SharedOptions
from chorus.client import GatewayError
from chorus.config import ENV_PREFIX, ConfigError
from chorus.text import printable

COMMANDS = (
    supervision.add_up,
    supervision.add_restart,
    monitoring.add_monitor,
    monitoring.add_alerts,
    monitoring.add_query,
    operations.add_status,
    spaces.add_spaces,
    operations.add_drain,
    configuration.add_config,
    media.add_speak,
    media.add_listen,
    media.add_presence,
    load.add_capacity,
    load.add_loadgen,
    operations.add_token,
    media.add_tone,
)
"""Every command's parser factory, in the order `chorusctl --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """Build the `chorusctl` parser (the handbook's CLI reference is generated from it).

    Returns:
        The parser with every command; each command's parser sets `handler`, the function that runs it.
    """
    parser = Parser(
        prog="chorusctl",
        description="Run Chorus, the live-audio spaces stack, on this machine and drive it: start the "
        "services, create spaces, speak and listen with real audio, drain fan-out nodes, check the "
        "configuration.",
        epilog="Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad configuration (`status` also "
        "3: degraded, see its help). "
        f"Any configuration key can be overridden from the environment, e.g. {ENV_PREFIX}FANOUT__LISTENER_CAP=10.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="the configuration file (default: $CHORUS_CONFIG, else stack/config/chorus.yaml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    shared = SharedOptions.build()
    for add in COMMANDS:
        add(commands, shared)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `chorusctl`: parse the arguments, run the command, turn its errors into one line and an exit code.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: the command's, 2 for a bad configuration, 1 for a failed operation, 130 on Ctrl-C,
        141 when the reader closed the pipe.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except GatewayError as exc:
        print(f"error: {printable(str(exc))}{_gateway_hint(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader closed the pipe (`chorusctl ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        # chorus.audio (numpy, PyAV) is imported only by the commands that use it: if it was never
        # imported, the exception cannot be one of its errors.
        audio = sys.modules.get("chorus.audio")
        if audio is None or not isinstance(exc, audio.AudioError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _gateway_hint(exc: GatewayError) -> str:
    """What to do about a refusal the user can fix: a missing operator credential or host secret."""
    if exc.status == 401:
        return ("; set the stack's signing key (gateway.token.key_env or key_file) or run against this "
                "machine's `chorusctl up`, which writes an operator token for chorusctl")
    if exc.status == 403 and "host secret" in exc.detail:
        return "; only the shell user who created the space with `chorusctl spaces create` holds its host secret"
    return ""
