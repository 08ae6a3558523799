"""`handbook drill`: rehearse runbooks against a live Chorus and a real Prometheus.

Exit codes follow the checks: 0 every drill passed (or is declared not drillable),
1 a drill failed, 2 a drill could not run (bad arguments, a broken declaration,
missing Prometheus), 130 interrupted (Ctrl-C; everything started is stopped first).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from handbook.drill import DEFAULT_SPEED
from handbook.project import Project

if TYPE_CHECKING:  # the runner starts stacks and monitors: imported only when a drill runs
    from handbook.drill.runner import Drill, DrillResult

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_drill_parser(commands: argparse._SubParsersAction, parser_class: type) -> None:
    """Add `handbook drill` to the `handbook` command's subcommands."""
    drill = commands.add_parser(
        "drill",
        help="rehearse runbooks on a local Chorus with Prometheus: the alert must fire, the steps work, the alert clear",
        description=(
            "For each runbook (default: every runbook that declares a drill): start Chorus, Prometheus and "
            "Alertmanager on free loopback ports in a temporary folder, induce the runbook's condition, wait "
            "until its alert fires, run the steps marked `<!-- drill: step -->` in Diagnose, Mitigate and "
            "Verify and check their output, then wait for the alert to resolve with audio still reaching a "
            "listener. Prints progress, then a table. Rule windows and `for:` run --speed times faster."
        ),
        epilog="Exit codes: 0 every drill passed, 1 a drill failed, 2 a drill could not run, 130 interrupted "
        "(everything it started is stopped first). "
        "Example: handbook drill fanout-node-down --allow-destructive",
    )
    drill.add_argument("runbooks", nargs="*", metavar="RUNBOOK", help="runbook names or files (default: all with a drill)")
    drill.add_argument("--allow-destructive", action="store_true",
                       help="run steps marked destructive (restart, drain, kill...); without it they are skipped")
    drill.add_argument("--speed", type=float, default=DEFAULT_SPEED, metavar="N",
                       help=f"divide rule windows and for: by N (default {DEFAULT_SPEED:g})")
    drill.add_argument("--jobs", type=int, default=1, metavar="N", help="run N drills at once, each on its own ports")
    drill.add_argument("--rewrite", action="store_true",
                       help="rewrite the sample output of drilled console steps with what the live system printed")
    drill.add_argument("--keep", action="store_true", help="keep each drill's temporary folder (logs) even when it passed")
    drill.add_argument("--list", action="store_true", help="list the runbooks and their drill declarations, then exit")
    drill.set_defaults(handler=run_command)


def _select(project: Project, names: list[str]) -> list[Path]:
    """The runbooks to drill: those named, or every runbook that declares a drill.

    Raises:
        ValueError: A named runbook does not exist.
        HandbookError: A named runbook cannot be read (one line at its path and line).
    """
    from handbook.drill.spec import read_plan
    from handbook.runbook import RUNBOOKS_DIR, is_runbook

    if not names:
        for bad in (bad for bad in project.unreadable if bad.path.parts[0] == RUNBOOKS_DIR):
            print(f"handbook drill: warning: {bad.path}:{bad.line}:{bad.col}: {bad.message}; not drilled", file=sys.stderr)
        return [path for path in project.pages_in(RUNBOOKS_DIR)
                if is_runbook(path.relative_to(project.root)) and read_plan(project.page(path)).spec]
    chosen = []
    for name in names:
        path = Path(name)
        candidate = path if path.suffix == ".md" and path.exists() else project.root / RUNBOOKS_DIR / f"{path.stem}.md"
        if not candidate.is_file():
            raise ValueError(f"no runbook {name!r} in {RUNBOOKS_DIR}/")
        project.read_text(candidate)  # a runbook that is not text is refused here, on one line
        chosen.append(candidate.resolve())
    return chosen


def table(results: list[DrillResult]) -> str:
    """The end-of-run table: one block per drill, one row per step."""
    lines = []
    for result in results:
        lines.append(f"{result.runbook}: {result.status.upper()} in {result.seconds:.0f} s"
                     + (f" - {result.reason}" if result.reason else ""))
        if not result.rows:
            continue
        width = max(len(r.name) for r in result.rows)
        lines.append(f"  {'step':<{width}}  {'result':<6}  {'s':>6}  expected -> got")
        for row in result.rows:
            lines.append(f"  {row.name:<{width}}  {row.status:<6}  {row.seconds:6.1f}  {row.expected} -> {row.got}")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """Run `handbook drill`.

    The drill machinery (stacks, monitors, a thread pool) is imported here, not at the top,
    so that building the `handbook` parser for other commands stays cheap.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from handbook.drill import results as results_mod
    from handbook.drill.rewrite import apply_rewrites
    from handbook.drill.runner import Drill, DrillOptions
    from handbook.drill.spec import read_plan

    project = Project(args.root.resolve()) if args.root else Project.find()
    paths = _select(project, args.runbooks)
    if args.list:
        for path in paths:
            plan = read_plan(project.page(path))
            what = "not drillable: " + plan.spec.not_drillable if plan.spec and plan.spec.not_drillable else (
                f"{len(plan.runnable())} steps" if plan.spec else "no drill")
            print(f"{path.stem:<24} {what}")
        return EXIT_OK
    if not paths:
        print("handbook drill: no runbook declares a drill", file=sys.stderr)
        return EXIT_ERROR
    lock = threading.Lock()

    def say(name: str) -> object:
        def progress(line: str) -> None:
            with lock:
                print(f"[{name}] {line.strip()}", flush=True)
        return progress

    drills = [Drill(project.root, path, DrillOptions(args.allow_destructive, args.speed, args.keep,
                                                     say(path.stem)))  # type: ignore[arg-type]
              for path in paths]

    def one(drill: Drill) -> DrillResult:
        say(drill.path.stem)(f"drilling runbooks/{drill.path.name}")  # type: ignore[operator]
        return drill.run()

    pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
    try:
        futures = [pool.submit(one, drill) for drill in drills]
        results = [future.result() for future in futures]
    except KeyboardInterrupt:
        print("handbook drill: interrupted - stopping every stack and monitor it started", file=sys.stderr, flush=True)
        for drill in drills:
            drill.teardown()
        pool.shutdown(wait=False, cancel_futures=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # the workers are stopped with their stacks; do not wait for them
    pool.shutdown()
    stored = results_mod.record(project.root, results)
    if args.rewrite:
        for path, result in zip(paths, results):
            if result.status == "pass" and apply_rewrites(path, result.rewrites):
                print(f"rewrote sample output in runbooks/{path.name} from the live system: review the diff")
    print()
    print(table(results))
    print(f"results: {stored.relative_to(project.root)}")
    statuses = {r.status for r in results}
    if "error" in statuses:
        return EXIT_ERROR
    return EXIT_FAILED if "fail" in statuses else EXIT_OK
