"""`python -m chorus.gateway`: run the gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from chorus.gateway.server import GatewayServer
from chorus.logs import configure_logging, log_event
from chorus.service import EXIT_FAILED, EXIT_OK, load_or_exit, port_free_or_explain


def build_parser() -> argparse.ArgumentParser:
    """The gateway's arguments.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(prog="python -m chorus.gateway", description="Run the Chorus gateway.")
    parser.add_argument("--config", type=Path, default=None, help="configuration file (default: stack/config/chorus.yaml)")
    parser.add_argument("--host", default=None, help="address to bind (default: gateway.host)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default: gateway.port)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the gateway.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 after a clean stop, 1 if it could not start, 2 on bad configuration.
    """
    args = build_parser().parse_args(argv)
    config, key = load_or_exit(args.config)
    logger = configure_logging(config.logging, "gateway")
    server = GatewayServer(config, key, host=args.host, port=args.port)
    if not port_free_or_explain("gateway", server.host, server.port):
        return EXIT_FAILED
    asyncio.run(server.serve(lambda served: log_event(logger, "gateway_listening", url=served.url)))
    log_event(logger, "gateway_stopped")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
