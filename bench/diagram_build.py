"""Cold and warm `mkdocs build` times with the diagram render cache, median of N runs.

Copies the site's sources (mkdocs.yml, docs/, runbooks/, diagrams/, stack/) into a
temporary folder so the working tree's cache is left alone, then times:

- cold: `mkdocs build --strict` with an empty `.cache/diagrams/` (every diagram rendered);
- warm: the same build again with nothing changed (nothing rendered);
- render cold / warm: `render_all` alone, without MkDocs (sources in the bubblewrap sandbox);
- render cold, unsandboxed: the same cold render with sources run directly (clean environment
  and limits only), as before the sandbox: the difference is the sandbox's cost.

Usage: `.venv/bin/python bench/diagram_build.py [RUNS] [--render-only]` (default 3 runs;
`--render-only` skips the MkDocs builds). Prints a Markdown table.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("mkdocs.yml", "docs", "runbooks", "diagrams", "stack")
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


def copy_tree(target: Path) -> Path:
    """Copy the site's sources into `target` and return it."""
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy(source, target / name)
    return target


def timed_build(tree: Path) -> tuple[float, str]:
    """Run one strict build; its wall time and the plugin's diagram log line."""
    start = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(tree / "site")],
        cwd=tree,
        env=ENV,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"build failed:\n{result.stderr}")
    line = next((ln.split("handbook: ", 1)[1] for ln in result.stderr.splitlines() if "handbook: diagrams" in ln), "")
    return elapsed, line


def timed_render(tree: Path, sandboxed: bool = True) -> float:
    """Time `render_all` alone, in the sandbox or (as before it existed) without."""
    from handbook.diagrams import render
    from handbook.diagrams.isolation import Isolation, isolation

    confinement = isolation() if sandboxed else Isolation(sandboxed=False, reason="bench", allowed_unsandboxed=True)
    if sandboxed and not confinement.sandboxed:
        raise SystemExit(f"no sandbox on this machine: {confinement.reason}")
    original = render.isolation
    render.isolation = lambda: confinement
    try:
        start = time.perf_counter()
        run = render.render_all(tree)
        elapsed = time.perf_counter() - start
    finally:
        render.isolation = original
    if run.failed:
        raise SystemExit(f"render failed: {run.failed[0].error}")
    return elapsed


def main() -> None:
    """Run the benchmark and print the table."""
    args = [a for a in sys.argv[1:] if a != "--render-only"]
    render_only = "--render-only" in sys.argv[1:]
    runs = int(args[0]) if args else 3
    rows: dict[str, list[float]] = {
        "build cold": [],
        "build warm": [],
        "render cold": [],
        "render warm": [],
        "render cold, unsandboxed": [],
    }
    logs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-diagrams-") as folder:
        tree = copy_tree(Path(folder))
        cache = tree / ".cache" / "diagrams"
        for _ in range(runs):
            if not render_only:
                shutil.rmtree(cache, ignore_errors=True)
                seconds, logs["build cold"] = timed_build(tree)
                rows["build cold"].append(seconds)
                seconds, logs["build warm"] = timed_build(tree)
                rows["build warm"].append(seconds)
            shutil.rmtree(cache, ignore_errors=True)
            rows["render cold"].append(timed_render(tree))
            rows["render warm"].append(timed_render(tree))
            shutil.rmtree(cache, ignore_errors=True)
            rows["render cold, unsandboxed"].append(timed_render(tree, sandboxed=False))
        diagrams = len(list((tree / "diagrams").glob("[!_]*.py")))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}; "
          f"{diagrams} diagrams; median of {runs} runs\n")
    print("| what | median s | min s | max s | plugin log |")
    print("|---|---:|---:|---:|---|")
    for name, values in rows.items():
        if not values:
            continue
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} | {logs.get(name, '')} |")


if __name__ == "__main__":
    main()
