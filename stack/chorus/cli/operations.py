"""`chorusctl status`, `drain` and `token`: what an operator runs against a live stack."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from chorus.cli.common import (
    EXIT_DEGRADED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    CommandError,
    SharedOptions,
    config_of,
    emit,
    gateway_url,
    http_ready,
    table,
    with_gateway,
)
from chorus.client import GatewayClient
from chorus.credentials import operator_token_for
from chorus.tokens import SigningKeyError


UNDO_SETTLE_S = 10.0
"""How long `chorusctl drain --undo` waits for the node to report that it accepts again."""

def add_status(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl status`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    status = commands.add_parser(
        "status", parents=[shared.client], help="show each service's health, the nodes, listeners and spaces",
        description="Ask the gateway for spaces, sessions and nodes, and each service for its readiness. Sessions "
        "are counted as the nodes report them connected (a slow node's sessions come back at its next report); "
        "joins admitted whose client has not reached its node yet are shown as 'N joining'. A node "
        "that stopped reporting is listed as stale until the gateway forgets it, gateway.node_expiry_s after it "
        "went stale.",
        epilog="Exit codes: 0 healthy (the gateway is ready and every node is ready, or draining on purpose); "
        "1 down (the gateway is unreachable or not ready, or no origin node is ready, so no space can be "
        "placed); 2 bad usage or bad configuration; 3 degraded (it serves, but a node is stale or not ready: "
        "look at the STATE and READY columns).",
    )
    status.set_defaults(handler=status_command)


def add_drain(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl drain`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    drain = commands.add_parser(
        "drain", parents=[shared.client], help="drain a fan-out node: no one new, everyone reconnects elsewhere",
        description="Tell the gateway to drain NODE: the gateway places no one new on it, and the node tells "
        "its speakers and listeners to reconnect through the gateway, which places them on other nodes.",
        epilog="Example: chorusctl drain fanout-1 --wait; undo with chorusctl drain fanout-1 --undo",
    )
    drain.add_argument("node", metavar="NODE", help="the node id, e.g. fanout-1 (see chorusctl status)")
    drain.add_argument("--undo", action="store_true", help="resume the node instead: accept clients again")
    drain.add_argument("--wait", action="store_true", help="wait until the node has no listeners left")
    drain.add_argument("--timeout", type=float, default=60.0, metavar="S", help="longest wait with --wait (default: 60)")
    drain.set_defaults(handler=drain_command)


def add_token(commands: Commands, shared: SharedOptions) -> None:
    """Add `chorusctl token`.

    Args:
        commands: The subcommands of `chorusctl`.
        shared: The shared parent parsers.
    """
    token = commands.add_parser(
        "token", parents=[shared.client], help="print an operator token, e.g. for `curl -H \"Authorization: Bearer ...\"`",
        description="Print an operator token for the operations endpoints (detailed status, drain, resume; the "
        "fan-out nodes' and the packager's /status): signed with the signing key when it is set "
        "(gateway.token.key_env or key_file), else the token a local `chorusctl up` wrote for its run.",
        epilog='Example: curl -s -H "Authorization: Bearer $(chorusctl token)" http://127.0.0.1:8091/status',
    )
    token.set_defaults(handler=token_command)


def status_command(args: argparse.Namespace) -> int:
    """Run `chorusctl status`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    url = gateway_url(args)
    status = with_gateway(args, lambda gateway: gateway.status())
    gateway_ready = http_ready(url)
    for node in status["nodes"]:
        node["ready"] = http_ready(node["url"].replace("ws://", "http://", 1)) if node["state"] != "stale" else False
    status["gateway"] = {"url": url, "ready": gateway_ready}
    code = status_exit_code(gateway_ready, status["nodes"])
    status["health"] = {EXIT_OK: "healthy", EXIT_FAILED: "down", EXIT_DEGRADED: "degraded"}[code]
    sessions = status["sessions"]
    lines = [
        f"gateway  {url}  {'ready' if gateway_ready else 'NOT READY'}  up {status['uptime_s']:.0f} s",
        f"spaces   {status['spaces']} live",
        f"sessions {sessions['host']} host, {sessions['speaker']} speaker, {sessions['listener']} listener "
        + (f"connected, {status['joining']} joining " if status.get("joining") else "")
        + f"(cap {status['max_sessions']}); admission bucket {status['admission_tokens']:.0f} tokens",
        "",
    ]
    if status["nodes"]:
        rows = [["NODE", "ROLE", "STATE", "READY", "LISTENERS", "EDGES", "CAP", "HEADROOM", "SPACES", "URL"]]
        for n in status["nodes"]:
            rows.append([n["id"], n["role"], n["state"], "yes" if n["ready"] else "no", str(n["listeners"]),
                         str(n.get("edges", 0)), str(n["listener_cap"]), str(n["headroom"]), str(n["spaces"]), n["url"]])
        lines.append(table(rows))
    else:
        lines.append("no fan-out nodes registered - start them with `chorusctl up`")
    emit(args, status, "\n".join(lines))
    return code


def status_exit_code(gateway_ready: bool, nodes: list[dict[str, Any]]) -> int:
    """`chorusctl status`'s exit code for what it saw.

    Args:
        gateway_ready: Whether the gateway's `/readyz` answered 200.
        nodes: The gateway's nodes, each with `role`, `state` and the `ready` the command probed.

    Returns:
        `EXIT_FAILED` (down: gateway not ready, or no origin node ready to take a space), `EXIT_DEGRADED`
        (a node is stale or not ready, and it is not draining), else `EXIT_OK`.
    """
    if not gateway_ready or not any(n["role"] == "origin" and n["ready"] and n["state"] in ("accepting", "full")
                                   for n in nodes):
        return EXIT_FAILED
    if any(not n["ready"] and n["state"] != "draining" for n in nodes):
        return EXIT_DEGRADED
    return EXIT_OK


def drain_command(args: argparse.Namespace) -> int:
    """Run `chorusctl drain`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """

    async def drain(gateway: GatewayClient) -> dict[str, Any]:
        node = await (gateway.resume(args.node) if args.undo else gateway.drain(args.node))
        if args.undo:
            # The gateway answers at once; the node leaves drain mode at its next report. Say what it then reports.
            deadline = time.monotonic() + min(args.timeout, UNDO_SETTLE_S)
            while node["state"] == "draining" and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                node = await gateway.node(args.node)
        elif args.wait:
            deadline = time.monotonic() + args.timeout
            while node["listeners"] > 0 or node["speakers"] > 0 or node["state"] != "draining":
                if time.monotonic() > deadline:
                    raise CommandError(f"{args.node} still has {node['listeners']} listeners after {args.timeout:.0f} s")
                await asyncio.sleep(0.5)
                node = await gateway.node(args.node)
        return node

    node = with_gateway(args, drain)
    if args.undo:
        text = f"{node['id']} resumed: it accepts clients again (state {node['state']})"
        if node["state"] == "draining":
            text = (f"{node['id']} resume requested, but it still reports draining after {UNDO_SETTLE_S:.0f} s: "
                    "follow with `chorusctl status`")
    elif args.wait:
        text = f"{node['id']} drained: no listeners left"
    else:
        text = (f"{node['id']} draining: no new clients; its {node['listeners']} listeners are being told to "
                f"reconnect (follow with `chorusctl status`)")
    emit(args, node, text)
    return EXIT_OK


def token_command(args: argparse.Namespace) -> int:
    """Run `chorusctl token`.

    Args:
        args: The parsed arguments.

    Returns:
        The exit code.
    """
    try:
        token = operator_token_for(config_of(args).gateway.token, gateway_url(args))
    except SigningKeyError as exc:
        raise CommandError(f"signing key unusable: {exc}", EXIT_USAGE) from None
    if token is None:
        raise CommandError("no operator credential: set the stack's signing key (gateway.token.key_env or key_file), "
                           "or start the stack on this machine with `chorusctl up`, which writes one for chorusctl")
    emit(args, {"token": token}, token)
    return EXIT_OK
