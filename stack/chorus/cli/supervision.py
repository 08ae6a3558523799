"""`chorusctl up`: run the whole stack in the foreground and supervise it (`chorus.supervisor`)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from chorus.cli.common import EXIT_OK, EXIT_USAGE, Commands, CommandError, SharedOptions, config_of, gateway_url
from chorus.cli.monitoring import monitor_settings
from chorus.config import default_config_path


def add_up(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl up`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    up = commands.add_parser(
        "up", parents=[shared.watch], help="run the gateway, the fan-out nodes and the packager in the foreground, restarting any that dies",
        description="Start the gateway, fanout.nodes origin fan-out nodes, fanout.edges edge nodes and the HLS "
        "packager on this machine from the configuration, each as its own process in its own process group, "
        "with their logs in this terminal, and supervise them. `ready` is printed once every process it started "
        "answers its readiness check with the instance id up gave it (never for another stack on the same "
        "ports); a failure during start-up stops everything (exit 1). A service that dies afterwards is "
        "reported ('chorus up: NAME died (pid P, killed by SIGKILL) after T s; restarting in D s'), the others "
        "keep running, and it is started again after supervisor.restart_delay_s, doubled while it keeps dying "
        "within supervisor.stable_after_s, up to supervisor.restart_delay_max_s ('NAME restarted', then "
        "'NAME ready again'). Ctrl-C or SIGTERM stops every process group (SIGTERM, then SIGKILL after "
        "supervisor.stop_timeout_s) and exits 0.",
        epilog="Exit codes: 0 stopped on Ctrl-C or SIGTERM; 1 a service failed to start, or the gateway died more "
        "than supervisor.gateway_max_restarts times in a row (without it nothing can be joined); 2 bad usage or "
        "configuration. Example: chorusctl up --nodes 1 --edges 2 --state-file /tmp/chorus-up.json",
    )
    up.add_argument("--nodes", type=int, default=None, metavar="N", help="how many origin fan-out nodes (default: fanout.nodes)")
    up.add_argument("--edges", type=int, default=None, metavar="N",
                    help="how many edge nodes, which take the listeners and subscribe to origins (default: fanout.edges)")
    up.add_argument("--no-packager", action="store_true", help="do not run the HLS packager")
    up.add_argument("--monitor", action="store_true",
                    help="also run Prometheus and Alertmanager over the stack (see `chorusctl monitor --help`); "
                    "the --prometheus-port, --alertmanager-port, --time-scale and --rules options apply to it")
    up.add_argument("--state-file", type=Path, default=None, metavar="PATH",
                    help="keep a JSON document of every service here (name, pid, state, url, restarts, last_exit), "
                    "rewritten on every change, for scripts and drills (default: none)")
    up.set_defaults(handler=up_command)


def up_command(args: argparse.Namespace) -> int:
    """Run `chorusctl up`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.supervisor import run_up

    config = config_of(args)
    if args.nodes is not None and not 1 <= args.nodes <= 64:
        raise CommandError("--nodes must be between 1 and 64", EXIT_USAGE)
    if args.edges is not None and not 0 <= args.edges <= 256:
        raise CommandError("--edges must be between 0 and 256", EXIT_USAGE)
    settings = monitor_settings(args) if args.monitor else None
    return run_up(config, args.config or default_config_path(), args.nodes, args.edges, not args.no_packager,
                  args.state_file, settings)


def add_restart(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl restart`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    restart = commands.add_parser(
        "restart", parents=[shared.client], help="ask a running `chorusctl up` to restart services of its stack, one after the other",
        description="Ask the `chorusctl up` running on this machine (as this user) for the gateway to restart the "
        "named services one after the other: each is stopped (SIGTERM, then SIGKILL after "
        "supervisor.stop_timeout_s), started again with the configuration file as it is now, and waited for "
        "until it answers its readiness check, before the next. Progress is printed as it happens and in the "
        "`chorusctl up` terminal. A fan-out node's listeners are cut when it stops: drain it first "
        "(`chorusctl drain NODE --wait`). The gateway keeps spaces in memory: restarting it ends them. "
        "`all` restarts every service (gateway, origins, edges, packager); with --rotate-key they all start "
        "with the signing key set in this shell (gateway.token.key_env), and this run's operator token is "
        "written again with it. Only a local `up` is controlled; production services restart through the "
        "deployment (see the runbooks).",
        epilog="Exit codes: 0 every service restarted and ready; 1 no `up` runs for this gateway, or a service did "
        "not become ready (the ones after it were left as they were); 2 bad usage. Example: "
        "chorusctl drain fanout-1 --wait && chorusctl restart fanout-1 && chorusctl drain fanout-1 --undo",
    )
    restart.add_argument("services", nargs="+", metavar="SERVICE",
                         help="gateway, fanout-N, edge-N, packager (as `chorusctl status` and `up` name them), or all")
    restart.add_argument("--rotate-key", action="store_true",
                         help="with `all`: start every service with the new signing key this shell sets "
                         "(gateway.token.key_env), instead of the run's")
    restart.add_argument("--timeout", type=float, default=300.0, metavar="S",
                         help="give up waiting for `up` after this long (default: 300)")
    restart.set_defaults(handler=restart_command)


def restart_command(args: argparse.Namespace) -> int:
    """Run `chorusctl restart`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.tokens import SigningKeyError, resolve_signing_key
    from chorus.upcontrol import ControlError, RestartRequest, request_restart

    config = config_of(args)
    key = None
    if args.rotate_key:
        if args.services != ["all"]:
            raise CommandError("--rotate-key restarts every service together: name `all` (the gateway and the nodes "
                               "must hold the same key)", EXIT_USAGE)
        variable = config.gateway.token.key_env
        if not os.environ.get(variable):
            raise CommandError(f"--rotate-key takes the new key from {variable}: set it first "
                               f"(e.g. export {variable}=\"$(openssl rand -hex 32)\")", EXIT_USAGE)
        try:
            resolve_signing_key(config.gateway.token, dict(os.environ))
        except SigningKeyError as exc:
            raise CommandError(f"the new key in {variable} is unusable: {exc}", EXIT_USAGE) from None
        key = os.environ[variable]
    try:
        request = RestartRequest.parse(json.dumps({"restart": args.services, "key": key}).encode())
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    url = gateway_url(args)
    try:
        for line in request_restart(url, request, args.timeout):
            print(line, flush=True)
    except ControlError as exc:
        raise CommandError(str(exc)) from None
    return EXIT_OK
