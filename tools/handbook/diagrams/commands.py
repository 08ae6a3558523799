"""The `handbook diagrams` subcommands: `render` and `diff`.

`build_diagrams_parser` adds them to the `handbook` parser; the handlers return
the exit code documented in each command's `--help`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from handbook.project import Project

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_ERROR = 2
EXIT_NO_CHANGES = 3
DEFAULT_DIFF_OUT = Path("build/diagram-diff")

RENDER_EPILOG = (
    "Exit codes: 0 every diagram rendered, 1 a diagram source failed (printed as path:line: message), "
    "2 the tool could not run."
)
DIFF_EPILOG = (
    "Exit codes: 0 diagrams changed and the review was written; 1 written, but a diagram could not be "
    "rendered on one side; 2 the tool could not run (not a git repository, bad revision, unusable --out); "
    "3 no diagram changed (summary.md says so). Example: handbook diagrams diff origin/main HEAD --out build/review"
)


def _project(args: argparse.Namespace) -> Project:
    return Project(args.root.resolve()) if args.root else Project.find()


def cmd_render(args: argparse.Namespace) -> int:
    """Render every diagram (from the cache when unchanged); optionally copy the PNGs to `--out`."""
    from handbook.diagrams.render import render_all

    project = _project(args)
    run = render_all(project.root)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for result in run.results:
        if result.error is not None:
            print(result.error)
            continue
        assert result.image is not None
        shown = result.image
        if args.out:
            shown = args.out / f"{result.name}.png"
            shutil.copyfile(result.image, shown)
        print(f"{result.source}: {'cached' if result.cached else 'rendered'} -> {shown}")
    if run.notice:
        print(run.notice, file=sys.stderr)
    print(run.summary(), file=sys.stderr)
    return EXIT_PROBLEMS if run.failed else EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """Compare the diagrams of two revisions and write the review folder."""
    from handbook.diagrams import gitrev
    from handbook.diagrams.report import write_report
    from handbook.diagrams.review import run_review

    if args.root:
        root = args.root.resolve()
    else:
        try:
            root = Project.find().root
        except FileNotFoundError:  # not a handbook checkout: compare diagrams/ at the repository root
            root = gitrev.toplevel(Path.cwd())
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    review = run_review(root, args.base, args.head, out)
    summary, index = write_report(review)
    if not review.changed:
        print(f"handbook: no diagram changed between {review.base.short} and {review.head.short}", file=sys.stderr)
        return EXIT_NO_CHANGES
    for item in review.changed:
        print(f"{item.source}: {item.status}, {len(item.changes)} change(s)")
        for side, error in item.errors:
            print(f"  {side}: {error}")
    print(f"wrote {summary} and {index}", file=sys.stderr)
    return EXIT_PROBLEMS if review.failed else EXIT_OK


def build_diagrams_parser(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `handbook diagrams render|diff` to the `handbook` subcommands.

    Args:
        commands: The `handbook` parser's subparsers action.
        parser_class: The parser class to use (exits 2 on usage errors).
    """
    diagrams = commands.add_parser(
        "diagrams",
        help="render the diagrams, or show what a change does to them",
        description="Diagrams as code in diagrams/: render them, or compare two revisions for review.",
    )
    sub = diagrams.add_subparsers(dest="diagrams_command", metavar="SUBCOMMAND", parser_class=parser_class)
    sub.required = True
    render = sub.add_parser(
        "render",
        help="render every diagram (cached) and print where each image is",
        description="Render every diagram source in diagrams/ into the cache (.cache/diagrams/), "
        "rendering only those whose source, catalog, manifests or tooling changed.",
        epilog=RENDER_EPILOG,
    )
    render.add_argument("--out", type=Path, help="also copy each image to OUT/NAME.png")
    render.set_defaults(handler=cmd_render)
    diff = sub.add_parser(
        "diff",
        help="compare the diagrams of two git revisions: changes, before/after images, overlay",
        description="For each diagram whose source or inputs (stack/catalog.yaml, stack/deploy/kubernetes/) "
        "changed between BASE and HEAD: render both sides in temporary git worktrees, list the nodes and "
        "edges added, removed and relabelled, and write NAME/before.png, NAME/after.png, NAME/overlay.png "
        "(both graphs on one layout: added green, removed red dashed, relabelled amber, unchanged grey), "
        "summary.md (short, for a pull-request comment) and index.html (everything, self-contained).",
        epilog=DIFF_EPILOG,
    )
    diff.add_argument("base", metavar="BASE", help="the old revision, e.g. origin/main")
    diff.add_argument("head", metavar="HEAD", nargs="?", default="HEAD", help="the new revision (default: HEAD)")
    diff.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DIFF_OUT,
        help=f"output folder, emptied first if it holds an earlier diff (default: {DEFAULT_DIFF_OUT})",
    )
    diff.set_defaults(handler=cmd_diff)
