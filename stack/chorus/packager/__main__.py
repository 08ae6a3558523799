"""`python -m chorus.packager`: run the HLS packager until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
from pathlib import Path

from chorus.logs import configure_logging
from chorus.packager.server import PackagerServer
from chorus.packager.service import Packager
from chorus.service import load_or_exit, serve_http_service, service_parser


def build_parser() -> argparse.ArgumentParser:
    """The packager's arguments.

    Returns:
        The parser.
    """
    parser = service_parser("packager", "Run the Chorus HLS packager.", gateway_option=True)
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
    config, key = load_or_exit(args.config, "packager", args.host)
    logger = configure_logging(config.logging, "packager")
    packager = Packager(config, args.gateway or config.gateway_url, args.output_dir, args.space, logger=logger, key=key)
    return serve_http_service(PackagerServer(packager, host=args.host, port=args.port), logger)


if __name__ == "__main__":
    raise SystemExit(main())
