"""How fast is `handbook check`? On the real tree, and with 250 / 500 / 1,000 synthetic runbooks.

Usage:
    .venv/bin/python bench/check.py [--sizes 250 500 1000] [--runs 5]

The synthetic runbooks are copies of the real runbooks' bodies (so they carry the
real mix of live values, `chorusctl` / `kubectl` / `curl` commands, PromQL and
links) turned into task runbooks (no alerts, so the alert mapping stays
one-to-one), written into a temporary copy of the tree. Each measurement is a
whole `handbook check` process, start-up included, as CI and editors run it.
Each tree is measured twice per round, side by side: with the default workers (one per core,
at most 4; `handbook.checkpool`) and with `--jobs 1` (every check in order, in one process).
A first, uncounted run fills the caches a fresh tree builds once (promtool, rendered diagrams).
Prints two tables, with the machine they ran on. Targets (issue 16): at most 0.5 s on the real
tree (median of 5), at most 3 s at 1,000 runbooks, growing linearly.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDBOOK = Path(sys.executable).parent / "handbook"
COPIED = ("mkdocs.yml", "docs", "runbooks", "stack", "diagrams", "tools", ".github")

FALLBACK_BODY = """
## What is happening

A synthetic runbook about {@service.fanout.workload} on port {@service.fanout.port.ws}.

## Impact

Listeners of one node.

## Diagnose

```bash
kubectl -n chorus get pods
```

## Mitigate

Scale out.

## Verify

The alert clears.

## Escalate

Page {@team.media.oncall}.
"""


def machine() -> str:
    """One line describing the machine: CPU model, cores, Python, OS."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def time_check(root: Path, *extra: str) -> tuple[float, int, str]:
    """Run `handbook check` once in `root` (with `extra` arguments): seconds, exit code, its summary line."""
    start = time.perf_counter()
    result = subprocess.run([str(HANDBOOK), "--root", str(root), "check", *extra], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    lines = (result.stdout + "\n" + result.stderr).splitlines()
    summary = next((line for line in reversed(lines) if line.startswith(("All clear", "Found", "handbook: error"))), "")
    return elapsed, result.returncode, summary


def bodies(root: Path) -> list[tuple[str, str, str]]:
    """`(services line, owner line [and drill block], body)` of every real runbook, or one fallback."""
    found = []
    for path in sorted((root / "runbooks").glob("*.md")):
        if path.name == "index.md":
            continue
        text = path.read_text(encoding="utf-8")
        match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
        if not match:
            continue
        front, body = match.groups()
        services = re.search(r"^services:.*$", front, re.M)
        owner = re.search(r"^owner:.*$", front, re.M)
        drill = re.search(r"^drill:.*\n(?:[ ].*\n)*", front + "\n", re.M)
        if services and owner:
            # a drill that changes the configuration comes along: the body's samples show its settings (OUT002)
            kept = f"{owner[0]}\n{drill[0].rstrip()}" if drill and "config:" in drill[0] else owner[0]
            found.append((services[0], kept, body))
    return found or [("services: [fanout]", "owner: media", FALLBACK_BODY)]


def synthesize(tree: Path, count: int) -> None:
    """Write `count` synthetic task runbooks into `tree/runbooks/`, and CODEOWNERS for them (as a real tree keeps it)."""
    sources = bodies(ROOT)
    for index in range(count):
        services, owner, body = sources[index % len(sources)]
        front = (
            f'---\ntitle: "Synthetic runbook s{index:04d}"\nalerts: []\n{services}\nseverity: info\n{owner}\n'
            "last_reviewed: 2026-11-01\nreview_interval: 90d\n---\n"
        )
        (tree / "runbooks" / f"synthetic-{index:04d}.md").write_text(front + body, encoding="utf-8")
    subprocess.run([str(HANDBOOK), "--root", str(tree), "codeowners", "--write"], check=True, capture_output=True)


def copy_tree(destination: Path) -> Path:
    """A copy of the parts of the real tree that `handbook check` reads."""
    tree = destination / "tree"
    tree.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, tree / name)
    return tree


def main() -> int:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000], help="synthetic runbook counts")
    parser.add_argument("--runs", type=int, default=5, help="runs on the real tree (the median is reported)")
    parser.add_argument("--size-runs", type=int, default=3, help="runs per synthetic size (the median is reported)")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print()
    time_check(ROOT)
    real = [(time_check(ROOT), time_check(ROOT, "--jobs", "1")) for _ in range(args.runs)]
    runbook_count = len([p for p in (ROOT / "runbooks").glob("*.md") if p.name != "index.md"])
    print(f"handbook check on the real tree ({runbook_count} runbooks), {args.runs} rounds of both:")
    print("| workers | median s | min s | max s | exit | result |")
    print("|---|---:|---:|---:|---:|---|")
    for label, index in (("default", 0), ("--jobs 1", 1)):
        times = sorted(pair[index][0] for pair in real)
        first = real[0][index]
        print(f"| {label} | {statistics.median(times):.2f} | {times[0]:.2f} | {times[-1]:.2f} | {first[1]} | {first[2]} |")
    ratio = statistics.median(a[0] / b[0] for a, b in real)
    print(f"default / --jobs 1, median of the paired ratios: {ratio:.2f}")
    print()

    print(f"handbook check with synthetic runbooks (median of {args.size_runs} rounds each, after one uncounted run):")
    print("| runbooks | default s | --jobs 1 s | ms per runbook (default) | exit | result |")
    print("|---:|---:|---:|---:|---:|---|")
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="handbook-bench-") as tmp:
            tree = copy_tree(Path(tmp))
            synthesize(tree, size)
            time_check(tree)
            runs = [(time_check(tree), time_check(tree, "--jobs", "1")) for _ in range(args.size_runs)]
            median = statistics.median(a[0] for a, _ in runs)
            in_order = statistics.median(b[0] for _, b in runs)
            rows.append((size, median))
            print(f"| {size} | {median:.2f} | {in_order:.2f} | {1000 * median / size:.2f} | {runs[0][0][1]} | {runs[0][0][2]} |")
    if len(rows) >= 2:
        (small, t_small), (large, t_large) = rows[0], rows[-1]
        print()
        print(f"growth: {large / small:.1f}x the runbooks took {t_large / t_small:.2f}x the time "
              f"(marginal cost {1000 * (t_large - t_small) / (large - small):.2f} ms per runbook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
