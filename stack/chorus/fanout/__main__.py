"""`python -m chorus.fanout`: run one fan-out node until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from chorus.fanout.link import GatewayLink
from chorus.fanout.node import ROLES, FanoutNode
from chorus.logs import configure_logging
from chorus.service import EXIT_FAILED, EXIT_OK, StartupError, load_or_exit, run_until_signal, service_parser


def build_parser() -> argparse.ArgumentParser:
    """The fan-out node's arguments.

    Returns:
        The parser.
    """
    parser = service_parser("fanout", "Run one Chorus fan-out node.", host_help="address to bind and advertise",
                            gateway_option=True)
    parser.add_argument("--node-id", default="fanout-1", help="the node's id, named in join tokens (default: fanout-1)")
    parser.add_argument("--role", choices=ROLES, default="origin", help="the node's role (default: origin)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a node.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 after a clean stop, 1 if it could not start, 2 on bad configuration.
    """
    args = build_parser().parse_args(argv)
    config, key = load_or_exit(args.config, "fanout", args.host)
    logger = configure_logging(config.logging, "fanout", args.node_id)
    node = FanoutNode(config, args.node_id, key, host=args.host, port=args.port, role=args.role, logger=logger)
    link = GatewayLink(node, args.gateway or config.gateway_url, key)
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        await node.start()
        tasks.append(asyncio.create_task(link.run()))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await node.stop()

    try:
        asyncio.run(run_until_signal(start, stop))
    except StartupError as exc:
        print(f"error: fanout {args.node_id}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
