"""`chorusctl up`: run the whole stack in the foreground and supervise it (`chorus.supervisor`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from chorus.cli.common import EXIT_USAGE, Commands, CommandError, SharedOptions, config_of
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
