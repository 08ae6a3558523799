"""How long the site takes to build, and how much of it the reference generators take.

Usage: .venv/bin/python bench/build_time.py [--runs N] [--root DIR]

Prints a table: the median wall time of `mkdocs build --strict` (a fresh process
each run, as `make build` does), and the median time of `handbook.reference.generate`
alone (every generated page's Markdown, sources read afresh each time), plus the
page counts. `--root` measures another checkout (e.g. main) with this checkout's venv.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def build_seconds(root: Path, runs: int) -> list[float]:
    """Wall time of each `mkdocs build --strict` run of the site at `root`."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as site:
            start = time.perf_counter()
            subprocess.run(
                [str(BIN / "mkdocs"), "build", "--strict", "--quiet", "--site-dir", site],
                cwd=root,
                env=env,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
    return times


def generate_seconds(root: Path, runs: int) -> tuple[list[float], int]:
    """Time of `handbook.reference.generate` in a fresh process per run (imports of the stack included)."""
    code = (
        "import time, sys; from pathlib import Path; start = time.perf_counter(); "
        "from handbook import reference; pages = reference.generate(Path(sys.argv[1])); "
        "print(time.perf_counter() - start, len(pages))"
    )
    times, count = [], 0
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code, str(root)], check=True, capture_output=True, text=True).stdout
        seconds, count_text = out.split()
        times.append(float(seconds))
        count = int(count_text)
    return times, count


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median reported)")
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to build (default: this one)")
    args = parser.parse_args()
    builds = build_seconds(args.root, args.runs)
    rows = [("mkdocs build --strict", statistics.median(builds), builds)]
    try:
        gens, pages = generate_seconds(args.root, args.runs)
        rows.append((f"reference.generate ({pages} pages)", statistics.median(gens), gens))
    except subprocess.CalledProcessError:
        pages = 0  # a checkout without the generators (e.g. before they existed)
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()} · load {os.getloadavg()[0]:.2f}")
    print(f"root: {args.root}")
    print(f"| {'what':<38} | {'median s':>8} | runs |")
    print(f"|{'-' * 40}|{'-' * 10}|------|")
    for what, median, samples in rows:
        print(f"| {what:<38} | {median:>8.2f} | {', '.join(f'{s:.2f}' for s in samples)} |")


if __name__ == "__main__":
    main()
