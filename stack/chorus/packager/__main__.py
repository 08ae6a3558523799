"""`python -m chorus.packager`: run the HLS packager until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from chorus.logs import configure_logging, log_event
from chorus.packager.server import PackagerServer
from chorus.packager.service import Packager
from chorus.service import EXIT_FAILED, EXIT_OK, load_or_exit, port_free_or_explain


def build_parser() -> argparse.ArgumentParser:
    """The packager's arguments.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(prog="python -m chorus.packager", description="Run the Chorus HLS packager.")
    parser.add_argument("--config", type=Path, default=None, help="configuration file (default: stack/config/chorus.yaml)")
    parser.add_argument("--host", default=None, help="address to bind (default: packager.host)")
    parser.add_argument("--port", type=int, default=None, help="port to bind (default: packager.port)")
    parser.add_argument("--gateway", default=None, help="the gateway's URL (default: from gateway.host and gateway.port)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where to write HLS files (default: packager.output_dir, else a temporary directory)")
    parser.add_argument("--space", action="append", default=None, metavar="ID",
                        help="package only this space (repeatable; default: every live space)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the packager.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 after a clean stop, 1 if it could not start, 2 on bad configuration.
    """
    args = build_parser().parse_args(argv)
    config, key = load_or_exit(args.config)
    logger = configure_logging(config.logging, "packager")
    packager = Packager(config, args.gateway or config.gateway_url, args.output_dir, args.space, logger=logger, key=key)
    server = PackagerServer(packager, host=args.host, port=args.port)
    if not port_free_or_explain("packager", server.host, server.port):
        return EXIT_FAILED
    log_event(logger, "packager_listening", url=server.url)
    asyncio.run(server.serve())
    log_event(logger, "packager_stopped")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
