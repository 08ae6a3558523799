"""`chorusctl config check` and `config show`: the configuration the services load."""

from __future__ import annotations

import argparse

import yaml

from chorus.catalog import CatalogError, compared_services, load_catalog, port_disagreements
from chorus.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    CommandError,
    Parser,
    SharedOptions,
    config_of,
    display_path,
    emit,
)
from chorus.config import default_config_path, load_config
from chorus.tokens import SigningKeyError, SigningKeyMissing, resolve_signing_key


def add_config(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl config` and its actions.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    config = commands.add_parser("config", help="check or show the configuration",
                                 description="Validate or print the configuration the services load.")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", parser_class=Parser)
    config_commands.required = True
    check = config_commands.add_parser(
        "check", parents=[shared.output], help="validate the configuration and its agreement with the catalog",
        description="Validate the configuration (with environment overrides), check its ports agree with "
        "stack/catalog.yaml, and check the token signing key the services will load (found, not set, or "
        "unusable and why). A bad file prints one line: path:line: key: message.",
        epilog="Exit codes: 0 valid (a signing key that is not set is reported, not an error: `chorusctl up` "
        "generates one per run), 1 ports disagree with the catalog, 2 invalid configuration or a signing key "
        "the services would refuse to start with (shorter than gateway.token.min_key_bytes, or an unreadable "
        "gateway.token.key_file).",
    )
    check.set_defaults(handler=config_check_command)
    show_config = config_commands.add_parser(
        "show", parents=[shared.output], help="print the effective configuration (file + environment overrides)",
        description="Print every key's effective value: the file, defaults for keys it omits, and environment overrides.",
    )
    show_config.set_defaults(handler=config_show_command)


def config_check_command(args: argparse.Namespace) -> int:
    """Run `chorusctl config check`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    path = display_path(args.config or default_config_path())
    config = load_config(path)
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    disagreements = port_disagreements(catalog, config)
    key_problem: str | None = None
    try:
        resolve_signing_key(config.gateway.token)
        key = f"found ({config.gateway.token.key_env} or key_file)"
    except SigningKeyMissing:
        key = f"not set ({config.gateway.token.key_env}); `chorusctl up` generates one per run"
    except SigningKeyError as exc:  # set, but the services would refuse it: too short, unreadable file
        key_problem = str(exc)
        key = f"unusable: {key_problem}; the services refuse to start with it"
    result = {
        "config": str(path),
        "valid": True,
        "catalog_agrees": not disagreements,
        "compared": compared_services(catalog, config),
        "disagreements": [str(d) for d in disagreements],
        "signing_key": key,
        "signing_key_usable": key_problem is None,
    }
    lines = [f"{path}: valid"]
    lines += [f"{path}: {d}" for d in disagreements] or [f"ports agree with the catalog ({', '.join(result['compared'])})"]
    lines.append(f"signing key: {key}")
    emit(args, result, "\n".join(lines))
    if key_problem is not None:
        return EXIT_USAGE
    return EXIT_FAILED if disagreements else EXIT_OK


def config_show_command(args: argparse.Namespace) -> int:
    """Run `chorusctl config show`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    data = config_of(args).model_dump(mode="json")
    emit(args, data, yaml.safe_dump(data, sort_keys=False).rstrip())
    return EXIT_OK
