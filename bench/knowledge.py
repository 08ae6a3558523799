"""How fast are `handbook affected` and `handbook risk`? On this repository, and on synthetic histories.

Usage:
    .venv/bin/python bench/knowledge.py [--sizes 2500:250 5000:500] [--runs 3]

The synthetic history is built with `git fast-import` in a temporary folder: a first commit
holding this tree's `mkdocs.yml`, `docs/`, `runbooks/`, `diagrams/` and `stack/` (so both commands
read real sources), then COMMITS commits by six back-dated authors, each rewriting a line of one of
FILES synthetic modules spread over the catalog's services (`stack/chorus/<service>/synth_*.py`);
every 500th commit also changes a configuration value, so `affected` has pages to find.

Each measurement is a whole `handbook` process, start-up included: cold (cache emptied) and warm
(cache of the same HEAD). `affected` compares with the commit 100 commits back. Prints a table with
the machine it ran on; growth is linear when the time per commit stays flat between sizes.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDBOOK = Path(sys.executable).parent / "handbook"
COPIED = ("mkdocs.yml", "docs", "runbooks", "diagrams", "stack")
AUTHORS = [("Ada Byron", "ada"), ("Grace Hopper", "grace"), ("Alan Turing", "alan"),
           ("Edsger Dijkstra", "edsger"), ("Barbara Liskov", "barbara"), ("Ken Thompson", "ken")]
SERVICES = ("gateway", "fanout", "packager")
START = 1_700_000_000  # back-dated: the history spans the two years before this


def _tracked(root: Path) -> list[Path]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", *COPIED], capture_output=True, text=True, check=True).stdout
    return [root / line for line in out.splitlines() if (root / line).is_file()]


def _blob(data: bytes) -> bytes:
    return b"data %d\n" % len(data) + data + b"\n"


def build_history(dest: Path, commits: int, files: int, seed: int = 7) -> None:
    """Create a repository at `dest` with `commits` commits over `files` synthetic modules."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    stream = bytearray()
    when = START - commits * 3600
    stream += b"commit refs/heads/main\nmark :1\ncommitter Seed <seed@example.com> %d +0000\n" % when
    stream += _blob(b"import the handbook tree")
    for path in _tracked(ROOT):
        stream += b"M 100644 inline " + path.relative_to(ROOT).as_posix().encode() + b"\n" + _blob(path.read_bytes())
    modules = [f"stack/chorus/{SERVICES[i % len(SERVICES)]}/synth_{i:04d}.py" for i in range(files)]
    contents = {m: [f"VALUE_{n} = {n}\n" for n in range(30)] for m in modules}
    config = (ROOT / "stack/config/chorus.yaml").read_text()
    for number in range(commits):
        name, handle = AUTHORS[min(int(rng.expovariate(0.8)), len(AUTHORS) - 1)]
        when += 3600
        stream += b"commit refs/heads/main\n"
        stream += f"author {name} <{handle}@example.com> {when} +0000\ncommitter {name} <{handle}@example.com> {when} +0000\n".encode()
        stream += _blob(f"change {number}".encode())
        module = modules[number % files] if number < files else rng.choice(modules)
        lines = contents[module]
        lines[rng.randrange(len(lines))] = f"VALUE_{number} = {rng.randrange(10**6)}  # by {handle}\n"
        stream += b"M 100644 inline " + module.encode() + b"\n" + _blob("".join(lines).encode())
        if number and number % 500 == 0:
            config = re.sub(r"(?m)^(  join_burst: )\d+$", lambda m: f"{m[1]}{400 + number // 500}", config, count=1)
            stream += b"M 100644 inline stack/config/chorus.yaml\n" + _blob(config.encode())
    subprocess.run(["git", "-C", str(dest), "fast-import", "--quiet"], input=bytes(stream), check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-f", "main"], check=True)


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, children included) of one `handbook` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([str(HANDBOOK), "--root", str(cwd), *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode == 2:
        raise SystemExit(f"handbook {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(root: Path, runs: int, since: str) -> dict[str, str]:
    """Cold and warm medians of `affected` and `risk` in `root`, as `wall s (cpu s)` cells."""
    result = {}
    for label, args in (("affected", ["affected", "--since", since]), ("risk", ["risk"])):
        cold, warm = [], []
        for _ in range(runs):
            shutil.rmtree(root / ".cache" / "knowledge", ignore_errors=True)
            cold.append(timed(args, root))
            warm.append(timed(args, root))
        for kind, runs_ in (("cold", cold), ("warm", warm)):
            wall = statistics.median(r[0] for r in runs_)
            cpu = statistics.median(r[1] for r in runs_)
            result[f"{label} {kind}"] = f"{wall:.2f} ({cpu:.2f})"
            result[f"{label} {kind} cpu"] = cpu  # type: ignore[assignment]
    return result


def main() -> int:
    """Build the histories, time the commands, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["2500:250", "5000:500"], help="COMMITS:FILES pairs")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median shown)")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f} at start (shared machine: figures are under contention)")
    print()
    print("Cells: median wall-clock seconds (median CPU seconds, user + system, child processes included).")
    print()
    print("| tree | commits | files | affected cold | affected warm | risk cold | risk warm | risk cold CPU ms per commit |")
    print("|---|---|---|---|---|---|---|---|")
    here = measure(ROOT, args.runs, "HEAD~20")
    count = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--count", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"| this repository | {count} | {len(_tracked(ROOT))} | {here['affected cold']} | {here['affected warm']} | "
          f"{here['risk cold']} | {here['risk warm']} | - |", flush=True)
    with tempfile.TemporaryDirectory(prefix="handbook-bench-") as tmp:
        for size in args.sizes:
            commits, files = (int(x) for x in size.split(":"))
            repo = Path(tmp) / f"synthetic-{commits}"
            started = time.perf_counter()
            build_history(repo, commits, files)
            built = time.perf_counter() - started
            timing = measure(repo, args.runs, "HEAD~100")
            per_commit = 1000 * float(timing["risk cold cpu"]) / commits
            print(f"| synthetic (built in {built:.1f} s) | {commits} | {files} + tree | {timing['affected cold']} | "
                  f"{timing['affected warm']} | {timing['risk cold']} | {timing['risk warm']} | {per_commit:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
