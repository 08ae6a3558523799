"""`python -m chorus.deploy`: keep the generated parts of the Kubernetes manifests in line with the configuration.

    python -m chorus.deploy sync           # rewrite configmap.yaml and the pods' config digests
    python -m chorus.deploy sync --check   # only report drift; exit 1 if there is any
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chorus.config import DEFAULT_CONFIG_PATH
from chorus.deploy import CONFIGMAP_FILE, KUBERNETES_DIR
from chorus.deploy.configmap import ConfigMapError, sync


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="python -m chorus.deploy",
        description="Generate the parts of stack/deploy/kubernetes/ that follow stack/config/chorus.yaml.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "sync",
        help="write the ConfigMap carrying chorus.yaml and the pods' config digests",
        description="Write stack/deploy/kubernetes/configmap.yaml from the configuration file, verbatim, and "
        "the configuration's digest into every pod template's chorus.dev/config-sha256 annotation.",
        epilog="Exit codes: 0 in line (or rewritten), 1 drift found with --check, 2 the configuration cannot be carried.",
    )
    run.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything differs")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="configuration file (default: stack/config/chorus.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command.

    Args:
        argv: Arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code.
    """
    args = build_parser().parse_args(argv)
    try:
        drifts = sync(check=args.check, config_path=args.config, kubernetes_dir=KUBERNETES_DIR, configmap_file=CONFIGMAP_FILE)
    except (ConfigMapError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for drift in drifts:
        print(str(drift) if args.check else str(drift).split("; run ")[0] + ": rewritten")
    if not drifts:
        print("in line: the ConfigMap and the config digests match the configuration")
    return 1 if args.check and drifts else 0


if __name__ == "__main__":
    raise SystemExit(main())
