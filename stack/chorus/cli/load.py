"""`chorusctl capacity` and `loadgen`: plan an audience, and load a local stack with one."""

from __future__ import annotations

import argparse
import asyncio
import sys

from chorus.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    CommandError,
    SharedOptions,
    config_of,
    emit,
    gateway_url,
    operator_token,
    space_id,
)
from chorus.loadgen import (
    CLOSE_TIMEOUT_S,
    HARD_MAX_CLIENTS,
    HARD_MAX_SECONDS,
    MAX_JOINS_IN_FLIGHT,
    OFFERED_SHARE_REQUIRED,
    SCENARIOS,
)


def add_capacity(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl capacity`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    capacity = commands.add_parser(
        "capacity", parents=[shared.output], help="how many fan-out nodes and edges a space of N listeners needs",
        description="Plan one space's audience from the configuration's caps: fanout.listener_cap and "
        "fanout.headroom give the listeners one node takes; packager.hls_share sends part of the audience to "
        "HLS through a CDN; the rest needs one origin and, past one node, edges (each subscribes to the origin "
        "once). Also checks the gateway's session cap and shows how long admitting the room takes. Every step "
        "of the arithmetic is printed.",
        epilog="Exit code 1 if the configured caps cannot carry the audience (the output says which setting to "
        "change). Example: chorusctl capacity --listeners 700000",
    )
    capacity.add_argument("--listeners", type=int, required=True, metavar="N", help="the audience of the space")
    capacity.add_argument("--hls-share", type=float, default=None, metavar="F",
                          help="share of the audience on HLS, 0..1 (default: packager.hls_share)")
    capacity.set_defaults(handler=capacity_command)


def add_loadgen(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl loadgen`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    loadgen = commands.add_parser(
        "loadgen", parents=[shared.client], help="load a local Chorus with crowds of listeners (bounded, loopback only)",
        description="Run a load scenario against the gateway and print a summary (attempted, admitted, shed, "
        "p50/p99 join latency, frames received, drops). join-storm: joins at --rate (default 10x "
        "gateway.join_rate_per_s), sheds are not retried, admitted listeners listen to the end. listeners: "
        "listeners join at --rate, waiting out Retry-After. reconnect-storm: listeners join, then every "
        "connection drops at once and all rejoin with jittered exponential backoff. slow-listeners: a share of "
        "the listeners stop reading; the fan-out must drop them and keep the others fed. Without --space a "
        "space is created with a speaker sending a test signal, and ended after the run. Joins go out on "
        f"schedule through at most {MAX_JOINS_IN_FLIGHT} connections in flight; a join due while all are busy "
        "waits and goes out late. Progress goes to stderr once a second, with the rate offered so far. Ctrl-C "
        "ends the run early and prints the summary of what happened; a second Ctrl-C aborts.",
        epilog=f"Bounded: at most {HARD_MAX_CLIENTS} clients and {HARD_MAX_SECONDS:.0f} s, plus at most "
        f"{CLOSE_TIMEOUT_S:.0f} s to close; targets loopback "
        "addresses only. The summary accounts for every join (admitted, shed, refused, timed out, connection "
        "error, unanswered at the end), shows the rate offered beside the rate asked, and says INCOMPLETE when "
        "the run did not measure what was asked: a client never sent its join, a join got no answer, the run "
        f"offered less than {OFFERED_SHARE_REQUIRED:.0%} of --rate (it says how far it fell short), or Ctrl-C "
        "ended it. Exit code 1 if the run was incomplete, an admitted listener "
        "lost its audio (dropped or starved, slow listeners excepted) or a shed join had no Retry-After. Example: chorusctl loadgen join-storm "
        "--clients 500 --duration 10",
    )
    loadgen.add_argument("scenario", choices=SCENARIOS, metavar="SCENARIO", help=f"one of: {', '.join(SCENARIOS)}")
    loadgen.add_argument("--clients", type=int, default=200, metavar="N", help="listeners to simulate (default: 200)")
    loadgen.add_argument("--rate", type=float, default=None, metavar="R",
                         help="joins started per second (default: 10x gateway.join_rate_per_s for join-storm, "
                         "gateway.join_rate_per_s otherwise)")
    loadgen.add_argument("--duration", type=float, default=10.0, metavar="S", help="how long the run lasts (default: 10)")
    loadgen.add_argument("--space", default=None, type=space_id, metavar="ID", help="load this space (default: create one with a speaker)")
    loadgen.add_argument("--slow-share", type=float, default=0.5, metavar="F",
                         help="slow-listeners: share of listeners that stop reading (default: 0.5)")
    loadgen.add_argument("--slow-rejoin", action="store_true",
                         help="slow-listeners: a dropped slow listener rejoins and stalls again, as a phone on a bad "
                         "network does, so the node keeps dropping for the whole run (default: it leaves)")
    loadgen.add_argument("--misroute-share", type=float, default=0.0, metavar="F",
                         help="share of listeners behind a load balancer in front of the nodes: each connects to "
                         "any node the gateway lists, at random, so the others refuse its token (wrong_node) and it "
                         "joins again; lists the nodes with the operator credential (default: 0)")
    loadgen.set_defaults(handler=loadgen_command)


def capacity_command(args: argparse.Namespace) -> int:
    """Run `chorusctl capacity`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.capacity import plan_capacity, render_plan

    try:
        plan = plan_capacity(config_of(args), args.listeners, args.hls_share)
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    emit(args, plan.to_json(), render_plan(plan))
    return EXIT_OK if plan.fits else EXIT_FAILED


def loadgen_command(args: argparse.Namespace) -> int:
    """Run `chorusctl loadgen`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    from chorus.loadgen import LoadgenError, LoadPlan, LoadRun

    config = config_of(args)
    configured = config.gateway.join_rate_per_s
    rate = args.rate if args.rate is not None else (10 * configured if args.scenario == "join-storm" else configured)
    plan = LoadPlan(args.scenario, args.clients, rate, args.duration, args.space, args.slow_share, args.slow_rejoin,
                    args.misroute_share)
    try:
        run = LoadRun(plan, config, gateway_url(args),
                      operator_token=operator_token(args) if args.misroute_share else None)
    except LoadgenError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    print(f"loadgen {plan.scenario}: {plan.clients} clients at {plan.rate_per_s:g} joins/s for {plan.duration_s:g} s "
          f"against {run.gateway_url} (gateway.join_rate_per_s is {configured:g})", file=sys.stderr, flush=True)
    try:
        result = asyncio.run(run.run())
    except LoadgenError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    emit(args, result.to_json(), result.table())
    if not result.complete:
        print(f"error: loadgen {plan.scenario} did not complete: {'; '.join(result.incomplete_reasons)}",
              file=sys.stderr)
    healthy = result.drops == 0 and result.starved == 0 and result.shed_without_retry_after == 0 and result.complete
    return EXIT_OK if healthy else EXIT_FAILED
