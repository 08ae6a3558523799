"""The knowledge subcommands of `handbook`: `stale`, `affected`, `codeowners`, `risk`.

`build_knowledge_parsers` adds them to the `handbook` parser; each handler returns the exit code
its `--help` documents.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from handbook.project import Project

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_ERROR = 2


def _project(args: argparse.Namespace) -> Project:
    """The project to report on; each page it cannot read is named on stderr (the report leaves it out)."""
    project = Project(args.root.resolve()) if args.root else Project.find()
    for bad in project.unreadable:
        print(f"handbook: warning: {bad.path}:{bad.line}:{bad.col}: {bad.message}; left out of this report", file=sys.stderr)
    return project


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _days(text: str) -> int:
    value = text.strip().removesuffix("d")
    if not value.isdigit() or not 1 <= int(value) <= 36500:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 to 36500 (e.g. 180 or 180d)")
    return int(value)


def cmd_stale(args: argparse.Namespace) -> int:
    """Run `handbook stale`."""
    from handbook.knowledge.affected import due_by_change
    from handbook.knowledge.stale import render_text, stale_by_owner, statuses

    project = _project(args)
    as_of = args.as_of or dt.date.today()
    by_change = due_by_change(project)
    groups = stale_by_owner(statuses(project, as_of, by_change))
    print(render_text(groups, as_of, by_change.note))
    return EXIT_FOUND if groups else EXIT_OK


def cmd_affected(args: argparse.Namespace) -> int:
    """Run `handbook affected --since REV`."""
    from handbook.knowledge.report import affected_markdown, affected_text
    from handbook.knowledge.affected import affected_since

    project = _project(args)
    started = time.monotonic()
    comparison = affected_since(project, args.since)
    text = affected_markdown(comparison, args.since) if args.format == "markdown" else affected_text(comparison, args.since)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    print(f"compared {args.since} ({comparison.base[:12]}) with the working tree in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return EXIT_FOUND if comparison.affected else EXIT_OK


def cmd_codeowners(args: argparse.Namespace) -> int:
    """Run `handbook codeowners [--write]`."""
    from handbook.knowledge.codeowners import CODEOWNERS, generate
    from handbook.knowledge.history import Repo

    project = _project(args)
    text, missing = generate(project, Repo(project.root).prefix)
    for item in missing:
        print(f"handbook: warning: {item.why}: its files are left out", file=sys.stderr)
    if not args.write:
        print(text, end="")
        return EXIT_OK
    path = project.root / CODEOWNERS
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        print(f"{CODEOWNERS} is up to date", file=sys.stderr)
        return EXIT_OK
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {CODEOWNERS}: commit it with the change that moved ownership", file=sys.stderr)
    return EXIT_OK


def cmd_risk(args: argparse.Namespace) -> int:
    """Run `handbook risk`."""
    from handbook.knowledge import risk
    from handbook.knowledge.chart import risk_chart

    project = _project(args)
    report = risk.build(project, window_days=args.window, since=args.since, without=args.without,
                        progress=lambda message: print(f"handbook: {message}", file=sys.stderr, flush=True))
    print(risk.render_text(report))
    if args.svg:
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_text(risk_chart(report), encoding="utf-8")
        print(f"chart written to {args.svg}", file=sys.stderr)
    return EXIT_OK


def build_knowledge_parsers(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `stale`, `affected`, `codeowners` and `risk` to the `handbook` subcommands.

    Args:
        commands: The subparsers action of the `handbook` parser.
        parser_class: The parser class (exits with code 2 on usage errors).
    """
    stale = commands.add_parser(
        "stale",
        help="list pages due for review, by owner, soonest first",
        description=(
            "List every page in docs/ and runbooks/ that is due for review: its review interval has passed "
            "since last_reviewed, or something it describes in stack/ changed after last_reviewed (the "
            "reference and the change are shown). Grouped by owner, soonest due first."
        ),
        epilog="Exit codes: 0 nothing due, 1 pages due, 2 the tool could not run. Example: handbook stale --as-of 2027-03-01",
    )
    stale.add_argument("--as-of", type=_date, metavar="DATE", help="judge the calendar on this date (YYYY-MM-DD; default today)")
    stale.set_defaults(handler=cmd_stale)

    affected = commands.add_parser(
        "affected",
        help="list pages that refer to something changed in stack/ since a revision",
        description=(
            "Compare the stack at REV with the working tree - config keys, alerts, metrics, manifest objects, "
            "chorusctl commands, modules, catalog entries - and list every page and runbook that refers to "
            "something that changed, with the reference (file line) and the change."
        ),
        epilog="Exit codes: 0 no page affected, 1 pages affected, 2 the tool could not run (no history, bad revision). "
        "Example: handbook affected --since origin/main --format markdown --out build/affected.md",
    )
    affected.add_argument("--since", required=True, metavar="REV", help="the revision to compare with (branch, tag, commit)")
    affected.add_argument("--format", choices=("text", "markdown"), default="text", help="text (default) or markdown (for a pull-request comment)")
    affected.add_argument("--out", type=Path, metavar="FILE", help="write the report to FILE instead of printing it")
    affected.set_defaults(handler=cmd_affected)

    owners = commands.add_parser(
        "codeowners",
        help="print or write .github/CODEOWNERS from the catalog and the pages' owners",
        description=(
            "Generate CODEOWNERS: each service's code to its team, each page to its owner, with the GitHub "
            "handles of the team and its people from stack/catalog.yaml. Prints it; --write writes "
            ".github/CODEOWNERS. `handbook check` (CO001) fails when the committed file is out of date."
        ),
        epilog="Exit codes: 0 done, 2 the tool could not run. Example: handbook codeowners --write",
    )
    owners.add_argument("--write", action="store_true", help="write .github/CODEOWNERS instead of printing it")
    owners.set_defaults(handler=cmd_codeowners)

    risk = commands.add_parser(
        "risk",
        help="knowledge-risk report per service: bus factor, knowledge islands, coverage",
        description=(
            "For every service: owning team and people, distinct authors of its code and pages over a window, "
            "bus factor and truck factor (git blame), knowledge islands (files >= 95%% one author), runbook "
            "coverage of its alerts, drills, diagrams, review freshness and decision records, with a risk score "
            "and its reasons, worst first. --without NAME shows what would be left if NAME left."
        ),
        epilog="Exit codes: 0 report printed, 2 the tool could not run. Example: handbook risk --without \"Priya Raman\"",
    )
    risk.add_argument("--without", metavar="NAME", help="off-boarding view: leave this author or catalog person out")
    window = risk.add_mutually_exclusive_group()
    window.add_argument("--window", type=_days, default=180, metavar="DAYS", help="authorship window in days back from today (default 180)")
    window.add_argument("--since", type=_date, metavar="DATE", help="authorship window from this date (YYYY-MM-DD)")
    risk.add_argument("--svg", type=Path, metavar="FILE", help="also write the chart as an SVG image")
    risk.set_defaults(handler=cmd_risk)
