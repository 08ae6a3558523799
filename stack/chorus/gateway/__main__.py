"""`python -m chorus.gateway`: run the gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse

from chorus.gateway.server import GatewayServer
from chorus.logs import configure_logging
from chorus.service import load_or_exit, serve_http_service, service_parser


def build_parser() -> argparse.ArgumentParser:
    """The gateway's arguments.

    Returns:
        The parser.
    """
    return service_parser("gateway", "Run the Chorus gateway.")


def main(argv: list[str] | None = None) -> int:
    """Run the gateway.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 after a clean stop, 1 if it could not start, 2 on bad configuration.
    """
    args = build_parser().parse_args(argv)
    config, key = load_or_exit(args.config, "gateway", args.host)
    logger = configure_logging(config.logging, "gateway")
    return serve_http_service(GatewayServer(config, key, host=args.host, port=args.port), logger)


if __name__ == "__main__":
    raise SystemExit(main())
