"""How long the alert tests take in `make test`: the promtool rule tests and the live-series test.

Usage:
    .venv/bin/python bench/alert_tests.py [--runs 3]

Times whole pytest processes (start-up included) of `tests/test_alert_tests.py` (promtool
check/test rules through the AT check, on the real tree and broken fixtures) and
`tests/test_alert_series.py` (a real stack and Prometheus, every runbook query and alert
selector), separately and together, and prints min / median / max with the machine.
Target: together under 2 minutes. The promtool cache (`.cache/promtool`) is cleared before
each run, so the real tree's promtool run is counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "rule tests (test_alert_tests.py)": ["tests/test_alert_tests.py"],
    "live series (test_alert_series.py)": ["tests/test_alert_series.py"],
}


def timed(paths: list[str]) -> float:
    """Seconds one pytest process takes over `paths`; fails loudly if the tests fail."""
    shutil.rmtree(ROOT / ".cache" / "promtool", ignore_errors=True)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths], cwd=ROOT,
                            capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(paths)} failed:\n{result.stdout[-2000:]}")
    return elapsed


def main() -> None:
    """Run each suite `--runs` times and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per suite (default: 3)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{platform.python_implementation()} {platform.python_version()}")
    rows = []
    together: list[float] = []
    for name, paths in SUITES.items():
        times = [timed(paths) for _ in range(args.runs)]
        rows.append((name, times))
    together = [sum(run) for run in zip(*(times for _, times in rows))]
    rows.append(("both (sum per run)", together))
    print(f"{'suite':40} {'min s':>7} {'median s':>9} {'max s':>7}")
    for name, times in rows:
        print(f"{name:40} {min(times):7.1f} {statistics.median(times):9.1f} {max(times):7.1f}")
    print(f"target: both under 120 s -> {'met' if statistics.median(together) < 120 else 'NOT met'} (median)")


if __name__ == "__main__":
    main()
